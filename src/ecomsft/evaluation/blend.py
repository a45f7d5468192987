"""The blend of a fine-tuned classifier with the run's own tfidf-lr, chosen on the validation split.

The two make different mistakes (the fine-tuned model carries over to other shops' wording, the
lexical model remembers this shop's words and reads every character of a long review), so a mix of
their probabilities can beat both. One weight ``w`` of the fine-tuned model (``w * model + (1 - w) *
tfidf-lr``) is chosen on a grid by the run's metric on the validation split (log loss breaks ties;
multi-label runs tune their threshold at each weight); the blend is used only when it beats the
fine-tuned model alone there. Never chosen on the test split.
"""

from __future__ import annotations

import numpy as np

from ..models.lexical import mix
from .classification import scalar_metrics, tune_threshold

WEIGHTS = np.round(np.linspace(0.0, 1.0, 21), 2)
MIN_VALID_ROWS = 50  # fewer validation rows cannot tell one weight from the next
LOWER_IS_BETTER = ("loss", "log_loss", "hamming_loss")


def choose_blend(gold: np.ndarray, model: np.ndarray, lexical: np.ndarray, *, multi_label: bool, metric: str,
                 threshold: float | None = None) -> dict:
    """metrics.json's ``blend.validation`` and the choice: ``{"used", "weight", "threshold", "metric",
    "model", "tfidf_lr", "blend", "rows", "why"}``. ``threshold``: multi-label, fixed by the config
    (None: tuned on validation at each weight, as the fine-tuned model's was)."""
    rows = len(gold)
    if rows < MIN_VALID_ROWS:
        return {"used": False, "weight": 1.0, "rows": rows, "metric": metric,
                "why": f"the validation split has {rows} rows, too few to choose a weight (at least {MIN_VALID_ROWS})"}
    probe = scalar_metrics(gold, model, multi_label, threshold or 0.5)
    if metric.removeprefix("eval_") not in probe:
        metric = "f1_macro"
    metric = metric.removeprefix("eval_")
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0

    def score(weight: float) -> tuple[float, float, float]:
        mixed = mix(model, lexical, weight)
        cut = (threshold if threshold is not None else tune_threshold(gold, mixed)) if multi_label else 0.5
        values = scalar_metrics(gold, mixed, multi_label, cut)
        return sign * values[metric], -values.get("log_loss", 0.0), cut

    scores = {float(w): score(float(w)) for w in WEIGHTS}
    best = max(scores, key=lambda w: scores[w][:2])
    alone, lexical_alone = scores[1.0], scores[0.0]
    used = scores[best][0] > alone[0] + 1e-12
    choice = {"used": used, "weight": best if used else 1.0, "metric": metric, "rows": rows,
              "model": sign * alone[0], "tfidf_lr": sign * lexical_alone[0], "blend": sign * scores[best][0],
              "best_weight": best}
    if multi_label:
        choice["threshold"] = scores[best][2] if used else alone[2]
    if not used:
        choice["why"] = f"no mix beats the fine-tuned model alone on the validation {metric}"
    return choice
