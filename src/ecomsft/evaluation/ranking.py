"""Ranking metrics, per query and averaged over queries: NDCG@k, MRR, MAP, Precision@k, Recall@k.

How search teams judge a ranker: each query's candidates are ordered by the model's score and
compared with their graded gains. Tied scores count as a random order, never as the order the rows
came in: NDCG@k is scikit-learn's tie-averaged NDCG, MAP is scikit-learn's average precision (tied
scores share one threshold), and Precision@k, Recall@k and MRR are their expected values over the
orders of the tied candidates (written here because scikit-learn has no per-query form of them).

Conventions, counted in the result rather than hidden: a query with a single candidate has no ranking
(skipped); a query whose candidates all have zero gain has no NDCG (skipped for NDCG); a query with
no relevant candidate has no MRR, MAP, Precision@k or Recall@k (skipped for those). When a list is
shorter than k, Precision@k divides by the list's length.
"""

from __future__ import annotations

import warnings
from math import comb

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, ndcg_score


def _tie_groups(scores: np.ndarray) -> list[np.ndarray]:
    """Candidate indices grouped by equal score, best score first."""
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    cuts = np.flatnonzero(np.diff(ranked) != 0) + 1
    return np.split(order, cuts)


def expected_relevant_at_k(relevant: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Expected number of relevant candidates among the top k, ties in random order."""
    found, seen = 0.0, 0
    for group in _tie_groups(scores):
        slots = min(len(group), k - seen)
        if slots <= 0:
            break
        found += relevant[group].sum() * slots / len(group)
        seen += len(group)
    return float(found)


def expected_reciprocal_rank(relevant: np.ndarray, scores: np.ndarray) -> float:
    """Expected 1/rank of the first relevant candidate, ties in random order."""
    before = 0
    for group in _tie_groups(scores):
        size, hits = len(group), int(relevant[group].sum())
        if hits:
            # P(first relevant at position j of the group) = C(size - j, hits - 1) / C(size, hits)
            total = comb(size, hits)
            return float(sum(comb(size - j, hits - 1) / total / (before + j) for j in range(1, size - hits + 2)))
        before += size
    return 0.0


def query_metrics(gains: np.ndarray, relevant: np.ndarray, scores: np.ndarray, ks: list[int]) -> dict[str, float]:
    """The metrics of one query's candidate list (two or more candidates)."""
    gains, scores = np.asarray(gains, dtype=float), np.asarray(scores, dtype=float)
    relevant = np.asarray(relevant, dtype=bool)
    out: dict[str, float] = {}
    if gains.max() > 0:
        for k in ks:
            out[f"ndcg@{k}"] = float(ndcg_score(gains[None, :], scores[None, :], k=k))
    n_relevant = int(relevant.sum())
    if n_relevant:
        out["mrr"] = expected_reciprocal_rank(relevant, scores)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["map"] = float(average_precision_score(relevant, scores)) if n_relevant < len(relevant) else 1.0
        for k in ks:
            hits = expected_relevant_at_k(relevant, scores, k)
            out[f"precision@{k}"] = hits / min(k, len(scores))
            out[f"recall@{k}"] = hits / n_relevant
    return out


def ranking_report(query_ids, gains, relevant, scores, ks: list[int]) -> tuple[dict[str, float], pd.DataFrame]:
    """Metrics averaged over queries, and the per-query table (one row per ranked query)."""
    frame = pd.DataFrame({"query": list(query_ids), "gain": np.asarray(gains, dtype=float),
                          "relevant": np.asarray(relevant, dtype=bool), "score": np.asarray(scores, dtype=float)})
    rows, single = [], 0
    for query, group in frame.groupby("query", sort=False):
        if len(group) < 2:
            single += 1
            continue
        row = query_metrics(group["gain"].to_numpy(), group["relevant"].to_numpy(), group["score"].to_numpy(), ks)
        rows.append({"query": query, "candidates": len(group), **row})
    per_query = pd.DataFrame(rows)
    names = [f"ndcg@{k}" for k in ks] + ["mrr", "map"] + [f"{m}@{k}" for m in ("precision", "recall") for k in ks]
    summary: dict[str, float] = {}
    for name in names:
        values = per_query[name].dropna() if name in per_query else pd.Series(dtype=float)
        summary[name] = float(values.mean()) if len(values) else float("nan")
    summary["ranked_queries"] = len(per_query)
    summary["single_candidate_queries"] = single
    if len(per_query):
        summary["queries_without_gain"] = int(per_query[f"ndcg@{ks[0]}"].isna().sum()) if f"ndcg@{ks[0]}" in per_query else len(per_query)
        summary["queries_without_relevant"] = int(per_query["mrr"].isna().sum()) if "mrr" in per_query else len(per_query)
    return summary, per_query


def retrieval_report(retrieved: list[list], gains: list[dict], ks: list[int]) -> dict[str, float]:
    """Metrics of top-k retrieval from a whole catalogue: Recall@k, NDCG@k (graded gains), MRR@max(k).

    ``retrieved[i]`` is query i's ranked list of product ids, ``gains[i]`` maps its relevant ids to
    their gains (every relevant product, retrieved or not, so that recall and the ideal DCG see them).
    """
    depth = max(ks)
    recall = {k: [] for k in ks}
    ndcg = {k: [] for k in ks}
    rr = []
    for ranked, relevant in zip(retrieved, gains):
        if not relevant:
            continue
        hits = np.array([relevant.get(pid, 0.0) for pid in ranked[:depth]], dtype=float)
        ideal = np.sort(np.array(list(relevant.values()), dtype=float))[::-1]
        discounts = 1.0 / np.log2(np.arange(2, depth + 2))
        first = np.flatnonzero(hits > 0)
        rr.append(1.0 / (first[0] + 1) if len(first) else 0.0)
        for k in ks:
            recall[k].append(float((hits[:k] > 0).sum()) / len(relevant))
            idcg = float((ideal[:k] * discounts[:len(ideal[:k])]).sum())
            ndcg[k].append(float((hits[:k] * discounts[:len(hits[:k])]).sum()) / idcg if idcg > 0 else 0.0)
    out = {f"recall@{k}": float(np.mean(recall[k])) if rr else float("nan") for k in ks}
    out.update({f"ndcg@{k}": float(np.mean(ndcg[k])) if rr else float("nan") for k in ks})
    out[f"mrr@{depth}"] = float(np.mean(rr)) if rr else float("nan")
    out["queries"] = len(rr)
    return out


def pointwise_report(grades: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """RMSE and MAE of predicted grades."""
    error = np.asarray(predicted, dtype=float) - np.asarray(grades, dtype=float)
    return {"rmse": float(np.sqrt(np.mean(error ** 2))), "mae": float(np.mean(np.abs(error)))}
