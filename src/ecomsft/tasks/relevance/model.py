"""The cross-encoder's model pieces: (query, product) in one input, a graded score out. Two heads
(``models.heads.RelevanceHead``): regression on standardized grades (numeric grades; the score is the
predicted grade) and classification over the grades (named grades; the score is the expected gain,
or the expected grade for numeric grades), chosen by ``task.head``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...evaluation.classification import scalar_metrics
from ...evaluation.ranking import pointwise_report, ranking_report
from ...models.heads import RelevanceHead, softmax
from ...models.prefixes import prefixed
from ..classification import model as classification


def build_model(model_path: str, head: RelevanceHead):
    from transformers import AutoModelForSequenceClassification

    if head.kind == "classification":
        return classification.build_model(model_path, head.labels)
    return AutoModelForSequenceClassification.from_pretrained(
        model_path, num_labels=1, problem_type="regression", ignore_mismatched_sizes=True, trust_remote_code=False)


def encode(tokenizer, frame: pd.DataFrame, head: RelevanceHead, max_length: int, cache: bool = False,
           query_ids: bool = False, prefixes: dict[str, str] | None = None):
    """Token ids of (query, product) pairs (with the model's text prefixes, ``models/prefixes.py``),
    lengths, the head's targets, and with ``query_ids`` an integer per query (for the pairwise loss)."""
    texts = frame
    if prefixes:
        queries, products = prefixed(prefixes, frame["text"].tolist(), frame["text_pair"].tolist())
        texts = frame.assign(text=queries, text_pair=products)
    dataset = classification.encode(tokenizer, texts, None, max_length, cache=cache)
    if "label" in frame:
        dataset = dataset.add_column("labels", head.targets(frame["label"]))
    if query_ids:
        dataset = dataset.add_column("query_id", pd.factorize(frame["text"])[0].tolist())
    return dataset


def evaluate_scores(frame: pd.DataFrame, scores: np.ndarray, head: RelevanceHead, ks: list[int],
                    logits: np.ndarray | None = None) -> tuple[dict, pd.DataFrame]:
    """Ranking metrics per query (averaged) and pointwise metrics of ``scores`` against the labels."""
    grading = head.grading
    values = grading.values(frame["label"])
    summary, per_query = ranking_report(frame["text"], grading.gain(values), grading.relevant(values), scores, ks)
    if not grading.named and (head.kind == "regression" or logits is None):
        summary.update(pointwise_report(values, scores))
    if head.kind == "classification" and logits is not None:
        gold = np.asarray(head.class_ids(frame["label"]))
        pointwise = scalar_metrics(gold, softmax(np.asarray(logits, dtype=np.float64)))
        summary.update({k: pointwise[k] for k in ("accuracy", "f1_macro", "precision_macro", "recall_macro")})
        if not grading.named:
            summary.update(pointwise_report(values, scores))
    return summary, per_query


def metrics_function(frame: pd.DataFrame, head: RelevanceHead, ks: list[int]):
    """The Trainer's ``compute_metrics`` for the validation split ``frame`` (kept in its order)."""

    def compute(eval_prediction) -> dict[str, float]:
        logits = eval_prediction.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        summary, _ = evaluate_scores(frame, head.scores(logits), head, ks, logits)
        return {k: float(v) for k, v in summary.items()}

    return compute
