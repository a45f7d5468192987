"""Classification metrics, on scikit-learn.

``scalar_metrics`` is the flat dict the Trainer logs and selects the best checkpoint on;
``full_report`` adds what does not fit in one number (per class, confusion matrix).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn import metrics as skm

from ..models.heads import softmax


def _single_label(y_true: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    n_classes = probs.shape[1]
    y_pred = probs.argmax(axis=1)
    out = {"accuracy": skm.accuracy_score(y_true, y_pred)}
    for average in ("macro", "micro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(
            y_true, y_pred, labels=list(range(n_classes)), average=average, zero_division=0
        )
        out.update({f"precision_{average}": p, f"recall_{average}": r, f"f1_{average}": f})
    if n_classes == 2:
        # The positive class of a binary task is the second label (e.g. 'positive', '1').
        p, r, f, _ = skm.precision_recall_fscore_support(
            y_true, y_pred, labels=[1], average="binary", pos_label=1, zero_division=0
        )
        out.update({"precision": p, "recall": r, "f1": f})
    present = np.unique(y_true)
    if len(present) > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if n_classes == 2:
                out["roc_auc"] = skm.roc_auc_score(y_true, probs[:, 1])
            elif len(present) == n_classes:
                out["roc_auc_ovr"] = skm.roc_auc_score(y_true, probs, multi_class="ovr", average="macro")
    out["log_loss"] = skm.log_loss(y_true, np.clip(probs, 1e-12, 1.0), labels=list(range(n_classes)))
    return {k: float(v) for k, v in out.items()}


def _multi_label(y_true: np.ndarray, probs: np.ndarray, threshold: float) -> dict[str, float]:
    y_pred = (probs >= threshold).astype(int)
    y_true = y_true.astype(int)
    out = {
        "subset_accuracy": skm.accuracy_score(y_true, y_pred),
        "hamming_loss": skm.hamming_loss(y_true, y_pred),
    }
    for average in ("micro", "macro", "weighted", "samples"):
        p, r, f, _ = skm.precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        out.update({f"precision_{average}": p, f"recall_{average}": r, f"f1_{average}": f})
    return {k: float(v) for k, v in out.items()}


def scalar_metrics(
    y_true: np.ndarray, probs: np.ndarray, multi_label: bool = False, threshold: float = 0.5
) -> dict[str, float]:
    """Named scalar metrics of probabilities against gold ids (single-label) or 0/1 rows (multi-label)."""
    return _multi_label(y_true, probs, threshold) if multi_label else _single_label(y_true, probs)


def tune_threshold(y_true: np.ndarray, probs: np.ndarray) -> float:
    """The multi-label threshold with the best micro-F1 on these (validation) predictions."""
    best, best_f1 = 0.5, -1.0
    for threshold in np.arange(0.05, 0.96, 0.05):
        f1 = skm.f1_score(y_true.astype(int), (probs >= threshold).astype(int), average="micro", zero_division=0)
        if f1 > best_f1 + 1e-9:
            best, best_f1 = float(round(threshold, 2)), f1
    return best


def full_report(
    y_true: np.ndarray, probs: np.ndarray, names: list[str], multi_label: bool = False, threshold: float = 0.5
) -> dict:
    """Scalars plus per-class precision/recall/F1/support and, single-label, the confusion matrix."""
    report: dict = dict(scalar_metrics(y_true, probs, multi_label, threshold))
    if multi_label:
        y_pred = (probs >= threshold).astype(int)
        p, r, f, s = skm.precision_recall_fscore_support(y_true.astype(int), y_pred, zero_division=0)
    else:
        y_pred = probs.argmax(axis=1)
        labels = list(range(len(names)))
        p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
        report["confusion_matrix"] = {
            "labels": names,
            "matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        }
    report["per_class"] = {
        name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, name in enumerate(names)
    }
    return report


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, bins: int = 15) -> float:
    """ECE of the top-class confidence: the average gap between confidence and accuracy per bin."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def fit_temperature(y_true: np.ndarray, probs: np.ndarray) -> float:
    """The temperature T minimising validation log loss of softmax(logits / T) (Guo et al., 2017)."""
    from scipy.optimize import minimize_scalar

    logits = np.log(np.clip(probs, 1e-12, 1.0))

    def nll(log_t: float) -> float:
        scaled = softmax(logits / np.exp(log_t))
        return float(-np.mean(np.log(np.clip(scaled[np.arange(len(y_true)), y_true], 1e-12, 1.0))))

    return float(np.exp(minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded").x))


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    return softmax(np.log(np.clip(probs, 1e-12, 1.0)) / temperature)


# Length buckets in characters: where a model that reads a review's first tokens falls behind a
# bag of words that reads all of it (README, "Whole reviews").
LENGTH_EDGES = (40, 80, 160)


def length_bucket_names(edges: tuple[int, ...] = LENGTH_EDGES) -> list[str]:
    return [f"under {edges[0]}", *(f"{lo}-{hi}" for lo, hi in zip(edges, edges[1:])), f"{edges[-1]} or more"]


def accuracy_by_length(texts: list[str], gold: np.ndarray, predicted: dict[str, np.ndarray],
                       edges: tuple[int, ...] = LENGTH_EDGES) -> dict:
    """Single-label accuracy of each predictor in ``predicted`` (name -> class ids) per text-length
    bucket (characters), with the bucket sizes: metrics.json's ``by_length``."""
    bucket = np.digitize([len(t) for t in texts], edges)
    names = length_bucket_names(edges)
    table: dict = {"buckets": names, "rows": [int((bucket == b).sum()) for b in range(len(names))]}
    for name, ids in predicted.items():
        table[name] = [float((ids[bucket == b] == gold[bucket == b]).mean()) if (bucket == b).any() else None
                       for b in range(len(names))]
    return table
