"""Search relevance with a cross-encoder: (query, product) in one input, a graded score out.

The task's surface, as for classification: build the model, encode a table, turn logits into scores,
compute metrics. Two heads: regression on standardized grades (numeric grades; the score is the
predicted grade) and classification over the grades (named grades; the score is the expected gain,
or the expected grade for numeric grades), chosen by ``task.head``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.labels import LabelSet
from ..metrics import scalar_metrics, softmax
from ..ranking_metrics import pointwise_report, ranking_report
from . import classification
from .grading import Grading


@dataclass
class RelevanceHead:
    """What the model's outputs mean, saved in its config (``ecomsft_relevance``)."""

    kind: str  # "regression" | "classification"
    grading: Grading
    mean: float = 0.0  # regression: the training grades' mean and spread (targets are standardized)
    std: float = 1.0
    classes: list[str] | None = None  # classification: class names, in the model's id order
    blend: dict | None = None  # {"cross_encoder": a, "zero_shot_cosine": b, "bias": c}: a*score + b*cosine + c

    @classmethod
    def from_training(cls, task, train_labels: pd.Series) -> "RelevanceHead":
        grading = Grading.from_config(task, train_labels)
        kind = task.head if task.head != "auto" else ("classification" if grading.named else "regression")
        if kind == "regression":
            values = grading.values(train_labels)
            return cls(kind, grading, float(values.mean()), float(values.std()) or 1.0)
        names = LabelSet([_class_name(v) for v in train_labels]).names
        return cls(kind, grading, classes=names)

    @property
    def labels(self) -> LabelSet | None:
        return LabelSet(self.classes) if self.classes is not None else None

    def class_values(self) -> np.ndarray:
        """Per class: its gain (named grades) or its grade (numeric grades)."""
        return self.grading.values(self.classes if self.grading.named else [float(c) for c in self.classes])

    def targets(self, labels: pd.Series) -> list:
        if self.kind == "regression":
            values = self.grading.values(labels)
            return ((values - self.mean) / self.std).astype(np.float32).tolist()
        return self.labels.encode([_class_name(v) for v in labels])

    def scores(self, logits: np.ndarray) -> np.ndarray:
        """One score per row: the predicted grade (or gain), higher is more relevant."""
        logits = np.asarray(logits, dtype=np.float64)
        if self.kind == "regression":
            return logits.reshape(len(logits), -1)[:, 0] * self.std + self.mean
        return softmax(logits) @ self.class_values()

    def to_dict(self) -> dict:
        return {"kind": self.kind, "grading": self.grading.to_dict(), "mean": self.mean, "std": self.std,
                "classes": self.classes, "blend": self.blend}

    @classmethod
    def from_dict(cls, values: dict) -> "RelevanceHead":
        return cls(values["kind"], Grading.from_dict(values["grading"]), values["mean"], values["std"], values["classes"],
                   values.get("blend"))

    def fit_blend(self, scores: np.ndarray, cosines: np.ndarray, labels: pd.Series) -> np.ndarray:
        """Least-squares weights of ``a * score + b * cosine + c`` against the grades (or gains) of
        ``labels`` (the validation split); kept in ``self.blend``. Returns the weights."""
        design = np.column_stack([scores, cosines, np.ones(len(scores))])
        weights = np.linalg.lstsq(design, self.grading.values(labels), rcond=None)[0]
        self.blend = {"cross_encoder": float(weights[0]), "zero_shot_cosine": float(weights[1]), "bias": float(weights[2])}
        return weights

    def blended(self, scores: np.ndarray, cosines: np.ndarray) -> np.ndarray:
        b = self.blend
        return b["cross_encoder"] * np.asarray(scores) + b["zero_shot_cosine"] * np.asarray(cosines) + b["bias"]


def _class_name(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def build_model(model_path: str, head: RelevanceHead):
    from transformers import AutoModelForSequenceClassification

    if head.kind == "classification":
        return classification.build_model(model_path, head.labels)
    return AutoModelForSequenceClassification.from_pretrained(
        model_path, num_labels=1, problem_type="regression", ignore_mismatched_sizes=True, trust_remote_code=False)


def encode(tokenizer, frame: pd.DataFrame, head: RelevanceHead, max_length: int, cache: bool = False,
           query_ids: bool = False):
    """Token ids of (query, product) pairs, lengths, the head's targets, and with ``query_ids`` an
    integer per query (for the pairwise loss)."""
    dataset = classification.encode(tokenizer, frame, None, max_length, cache=cache)
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
        gold = np.asarray(head.labels.encode([_class_name(v) for v in frame["label"]]))
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
