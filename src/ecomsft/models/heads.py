"""What a model's outputs mean, shared by training, evaluation and inference (so that neither of
the last two imports training code): the output transforms (softmax, sigmoid), the grading of
relevance labels, and the relevance head saved in a cross-encoder's config.

A grading says how a relevance label becomes a gain (for NDCG) and a relevant-or-not decision (for
MRR, MAP, Precision@k, Recall@k and the positives of retrieval training). Two kinds of labels:
numeric grades (Home Depot's 1.0-3.0), whose gain is ``2^(grade - floor) - 1`` (or
``grade - floor``), and named grades (ESCI's Exact, Substitute, Complement, Irrelevant) with the
gains the configuration gives them. The grading travels in the model's config so that ``rank`` and
``search`` judge the same way as training did.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from ..data.labels import LabelSet


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def probabilities(logits: np.ndarray, multi_label: bool) -> np.ndarray:
    """A classifier's logits as probabilities: independent sigmoids for multi-label, else a softmax."""
    return sigmoid(logits) if multi_label else softmax(logits)


@dataclass
class Grading:
    gains: dict[str, float] | None  # named grades -> gain; None for numeric grades
    floor: float  # numeric grades: the grade of zero gain
    top: float  # numeric grades: the highest grade seen in training
    scale: str  # "exponential" | "linear"
    relevant_min: float  # a value (grade, or gain for named grades) at or above this is relevant

    @property
    def named(self) -> bool:
        return self.gains is not None

    @classmethod
    def from_config(cls, task, train_labels) -> "Grading":
        """From the task config and the training labels (floats for numeric, names for named grades)."""
        if task.gains is not None:
            positive = [g for g in task.gains.values() if g > 0]
            relevant_min = task.relevant_min if task.relevant_min is not None else (min(positive) if positive else 1.0)
            return cls(dict(task.gains), 0.0, max(task.gains.values()), "linear", float(relevant_min))
        grades = np.asarray(list(train_labels), dtype=float)
        floor = float(task.grade_floor if task.grade_floor is not None else grades.min())
        top = float(grades.max())
        relevant_min = task.relevant_min if task.relevant_min is not None else (floor + top) / 2
        return cls(None, floor, top, task.gain, float(relevant_min))

    def values(self, labels) -> np.ndarray:
        """Numeric grades as floats; named grades as their gains."""
        if self.gains is None:
            return np.asarray(list(labels), dtype=float)
        return np.asarray([self.gains[str(label)] for label in labels], dtype=float)

    def gain(self, values) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        if self.gains is not None:
            return np.clip(values, 0.0, None)
        above = np.clip(values - self.floor, 0.0, None)
        return np.exp2(above) - 1.0 if self.scale == "exponential" else above

    def relevant(self, values) -> np.ndarray:
        return np.asarray(values, dtype=float) >= self.relevant_min - 1e-9

    def describe(self) -> str:
        if self.gains is not None:
            return f"named grades with gains {self.gains}; relevant from gain {self.relevant_min:g}"
        formula = f"2^(grade-{self.floor:g})-1" if self.scale == "exponential" else f"grade-{self.floor:g}"
        return f"numeric grades {self.floor:g}-{self.top:g}, gain {formula}; relevant from grade {self.relevant_min:g}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "Grading":
        return cls(**values)


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
        return self.class_ids(labels)

    def class_ids(self, labels) -> list[int]:
        """Classification head: each label's class id."""
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
