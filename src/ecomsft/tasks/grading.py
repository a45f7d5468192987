"""How a relevance label becomes a gain (for NDCG) and a relevant-or-not decision (for MRR, MAP,
Precision@k, Recall@k and the positives of retrieval training).

Two kinds of labels: numeric grades (Home Depot's 1.0-3.0), whose gain is ``2^(grade - floor) - 1``
(or ``grade - floor``), and named grades (ESCI's Exact, Substitute, Complement, Irrelevant) with
the gains the configuration gives them. The grading travels in the model's config so that ``rank``
and ``search`` judge the same way as training did.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


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
