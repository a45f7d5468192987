"""Imbalanced classes: class-weighted cross-entropy, focal loss and class-balanced sampling (single-label).

Class weights come from scikit-learn's ``compute_class_weight("balanced")``; cross-entropy is
torch's. Focal loss (Lin et al., 2017) is written here because torch ships only the sigmoid form
(``torchvision.ops.sigmoid_focal_loss``, and torchvision is not a dependency): it is
cross-entropy scaled by ``(1 - p_true) ** gamma``, so that well-classified examples weigh less.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import EcomsftError


def balanced_class_weights(label_ids, n_classes: int) -> list[float]:
    """``n / (k * count_c)`` per class (scikit-learn's "balanced"); classes absent from train get 1."""
    from sklearn.utils.class_weight import compute_class_weight

    label_ids = np.asarray(label_ids)
    present = np.unique(label_ids)
    weights = np.ones(n_classes)
    weights[present] = compute_class_weight("balanced", classes=present, y=label_ids)
    return weights.tolist()


def balanced_sample_weights(label_ids) -> list[float]:
    """Per training row, ``1 / count`` of its class: drawn with these weights (and replacement), every
    class is equally likely in each batch (``training.balanced_sampling``)."""
    label_ids = np.asarray(label_ids)
    counts = np.bincount(label_ids)
    return (1.0 / counts[label_ids]).tolist()


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``-w_y (1 - p_y)^gamma log p_y``, normalised like weighted cross-entropy (by the sum
    of the targets' weights), so that ``gamma=0`` is exactly ``F.cross_entropy(..., weight=weight)``."""
    log_p = F.log_softmax(logits.float(), dim=-1).gather(1, target.unsqueeze(1)).squeeze(1)
    w = weight[target] if weight is not None else torch.ones_like(log_p)
    return -(w * (1 - log_p.exp()).pow(gamma) * log_p).sum() / w.sum()


class ClassLoss:
    """The loss a run trains with, from ``training.class_weight`` and ``training.focal_gamma``."""

    def __init__(self, class_weight: list[float] | None = None, focal_gamma: float = 0.0):
        self.weight = torch.tensor(class_weight, dtype=torch.float32) if class_weight is not None else None
        self.gamma = focal_gamma

    @classmethod
    def from_config(cls, cfg, label_ids, n_classes: int, multi_label: bool) -> "ClassLoss | None":
        """None when the model's own loss (plain cross-entropy or BCE) is what the config asks for."""
        if cfg.class_weight == "none" and not cfg.focal_gamma:
            return None
        if multi_label:
            raise EcomsftError("training.class_weight and training.focal_gamma are for single-label classification")
        weights = balanced_class_weights(label_ids, n_classes) if cfg.class_weight == "balanced" else None
        return cls(weights, cfg.focal_gamma)

    def describe(self) -> dict:
        return {"focal_gamma": self.gamma, "class_weight": self.weight.tolist() if self.weight is not None else None}

    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        weight = self.weight.to(logits.device) if self.weight is not None else None
        if self.gamma:
            return focal_loss(logits, target, self.gamma, weight)
        return F.cross_entropy(logits.float(), target, weight=weight)
