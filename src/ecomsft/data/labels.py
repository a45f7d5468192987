"""The label set of a run: names in a stable order, ids for the model, kept in its config."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..errors import EcomsftError


def _order_key(name: str):
    # Numeric labels (star ratings) sort as numbers, so '10' comes after '9'.
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


class LabelSet:
    def __init__(self, names: Iterable[str], multi_label: bool = False):
        self.names = sorted(set(names), key=_order_key)
        self.multi_label = multi_label
        self.index = {name: i for i, name in enumerate(self.names)}

    @classmethod
    def from_labels(cls, labels: Iterable, multi_label: bool = False) -> "LabelSet":
        if multi_label:
            return cls({name for row in labels for name in row}, multi_label=True)
        return cls(labels, multi_label=False)

    @classmethod
    def from_model_config(cls, config) -> "LabelSet":
        id2label = {int(k): v for k, v in config.id2label.items()}
        names = [id2label[i] for i in range(len(id2label))]
        labels = cls.__new__(cls)
        labels.names = names
        labels.multi_label = config.problem_type == "multi_label_classification"
        labels.index = {name: i for i, name in enumerate(names)}
        return labels

    def __len__(self) -> int:
        return len(self.names)

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.names))

    @property
    def label2id(self) -> dict[str, int]:
        return dict(self.index)

    def encode(self, labels, source: str = "data"):
        """Single-label: an int per row. Multi-label: a float 0/1 vector per row."""
        unknown = sorted({n for row in labels for n in (row if self.multi_label else [row])} - set(self.index))
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
            known = ", ".join(self.names[:10]) + (f", ... ({len(self.names)} in all)" if len(self.names) > 10 else "")
            raise EcomsftError(
                f"label(s) {shown} not among the model's labels ({known})", where=source
            )
        if not self.multi_label:
            return [self.index[name] for name in labels]
        matrix = np.zeros((len(labels), len(self.names)), dtype=np.float32)
        for i, row in enumerate(labels):
            for name in row:
                matrix[i, self.index[name]] = 1.0
        return matrix.tolist()
