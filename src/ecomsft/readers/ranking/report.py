"""The report of a relevance or retrieval run: metrics beside the baselines, NDCG@k curves, the
per-query spread and the worst-ranked queries."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ...evaluation.ranking import ranking_report
from ...metrics_file import RunMetrics
from ...models.heads import Grading
from ...report.page import html_table, html_text, metric_bars, png_img


def head(run: Path, metrics: RunMetrics) -> list[str]:
    return _ranking_sections(run, metrics.as_dict())


def details(run: Path, metrics: RunMetrics) -> list[str]:
    return []


def _grading(run: Path):
    model = run / "model"
    if (model / "ecomsft.json").is_file():
        values = json.loads((model / "ecomsft.json").read_text(encoding="utf-8")).get("grading")
    else:
        values = json.loads((model / "config.json").read_text(encoding="utf-8")).get("ecomsft_relevance", {}).get("grading")
    return Grading.from_dict(values) if values else None


def _ranking_sections(run: Path, metrics: dict) -> list[str]:
    """Headline, metrics beside the baselines, NDCG@k curves, per-query spread, worst queries."""
    import matplotlib.pyplot as plt

    task, ks = metrics["task"], metrics["ks"]
    data, model, timings = metrics["data"], metrics["model"], metrics["timings"]
    retrieval = "catalog_products" in metrics["data"]  # tested on retrieval from a catalogue, re-ranking beside it
    parts = ", ".join(f'{name} {data["sizes"][name]} rows / {data["queries"][name]} queries' for name in data["sizes"])
    head = html_text('<div class="headline"><b>{}</b> ({}) with <b>{}</b> ({:.1f}M parameters); {}. Data: {} (split by '
                     'query: no query in two parts). Training: {:.1f} min ({} steps).</div>',
                     task, "bi-encoder" if retrieval else "cross-encoder", model["name"], (model["parameters"] or 0) / 1e6,
                     metrics["grading"], parts, timings["train_seconds"] / 60, metrics["training"]["steps"])
    choice = metrics.get("blend_choice") or {}
    if "metric" in choice:
        head += html_text("<p>Scores (here, <code>rank</code> and <code>serve</code>) are {}: validation {} {:.4f} for the "
                          "cross-encoder alone, {:.4f} blended; <code>--no-blend</code> gives the cross-encoder alone.</p>",
                          "the cross-encoder blended with the zero-shot cosine" if choice["used"] else
                          "the cross-encoder's alone (the blend did not beat it)", choice["metric"], choice["model"],
                          choice["blend"])
    sections = [head]
    blocks = [("Re-ranking each test query's candidates", metrics.get("test_reranking") if retrieval else metrics.get("test"),
               metrics.get("baselines_reranking") if retrieval else metrics.get("baselines"))]
    if retrieval:
        blocks.insert(0, (f"Retrieval from {data.get('catalog_products')} products", metrics.get("test"), metrics.get("baselines")))
    for title, test, baselines in blocks:
        if not test:
            continue
        blend = {"blend with zero-shot": metrics["test_blend"]} if metrics.get("test_blend") and test is metrics.get("test") else {}
        columns = {"fine-tuned": test, **blend, **{k.replace("_", " "): v for k, v in (baselines or {}).items() if v}}
        names = [k for k in test if isinstance(test[k], float)]
        rows = [[n, *(c.get(n, float("nan")) for c in columns.values())] for n in names]
        shown = [n for n in names if n.startswith(("ndcg@", "mrr", "map", "recall@"))]
        sections.append(html_text("<h2>{}</h2>", title) + html_table(rows, ["test metric", *columns], (0,))
                        + metric_bars(columns, shown))
    predictions_file, grading = run / "predictions.csv", _grading(run)
    if not predictions_file.is_file() or grading is None:
        return sections
    predictions = pd.read_csv(predictions_file, keep_default_na=False, dtype={"query": str, "product": str})
    values = grading.values(predictions["gold"].astype(float) if not grading.named else predictions["gold"].astype(str))
    gains, relevant = grading.gain(values), grading.relevant(values)
    curve_ks = sorted(set([1, 3, 5, 10, *ks]))
    scorers = {"fine-tuned": "score", **{c[6:].replace("_", " "): c for c in predictions.columns if c.startswith("score_")}}
    curves, per_query = {}, {}
    for label, column in scorers.items():
        summary, table = ranking_report(predictions["query"], gains, relevant, predictions[column].astype(float), curve_ks)
        curves[label] = [summary[f"ndcg@{k}"] for k in curve_ks]
        per_query[label] = table
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for label, values_at_k in curves.items():
        axes[0].plot(curve_ks, values_at_k, "o-", label=label)
    axes[0].set_xlabel("k")
    axes[0].set_title("NDCG@k, mean over test queries")
    axes[0].legend(fontsize=8)
    key = f"ndcg@{ks[-1]}"
    for label, table in per_query.items():
        if key in table:
            axes[1].hist(table[key].dropna(), bins=20, range=(0, 1), histtype="step", label=label)
    axes[1].set_title(f"{key} per query")
    axes[1].legend(fontsize=8)
    sections.append("<h2>NDCG by cut-off and per query</h2>" + png_img(fig))
    mine = per_query["fine-tuned"]
    if key in mine:
        worst = mine.dropna(subset=[key]).nsmallest(10, key)
        rows = []
        for query, ndcg in zip(worst["query"], worst[key]):
            group = predictions[predictions["query"] == query]
            top = group.loc[group["score"].astype(float).idxmax()]
            best = group.loc[group["gold"].astype(str).map(lambda g: grading.values([g if grading.named else float(g)])[0]).idxmax()]
            rows.append([query, ndcg, len(group), f'{top["product"]} ({top["gold"]})', f'{best["product"]} ({best["gold"]})'])
        sections.append(f"<h2>Worst-ranked test queries ({key})</h2>"
                        + html_table(rows, ["query", key, "candidates", "ranked first (grade)", "best graded (grade)"], (0, 3, 4)))
    return sections
