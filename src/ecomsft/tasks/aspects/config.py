"""The ``task:`` section of aspect-based review analysis."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...config_sections import TaskSection
from ..spec import CLASSIFICATION_ONLY, TaskSpec


class AspectsSection(TaskSection):
    type: Literal["aspects"] = "aspects"
    labels: str | None = Field(
        default=None, description="the labels file of data.train (one row per opinion: id, AspectTerms, A_start, A_end, "
        "OpinionTerms, O_start, O_end, Categories, Polarities); None: data.train is JSONL with a quadruples list per "
        "review, or a table with one column per aspect category")
    crf: bool = Field(default=False, description="a CRF layer learns the span tags' transitions (as extraction's "
                      "task.crf); false: per-unit cross-entropy, decoded under BIOES's rules")
    polarity_weighting: bool = Field(
        default=True, description="weigh polarities by inverse square-root frequency in the loss (complaints are rare)")


_NOT_CLASSES = "aspects weighs polarities itself (task.polarity_weighting)"


class AspectsSpec(TaskSpec):
    name = "aspects"
    section = AspectsSection
    # Reviews are short (median 20 characters in ecommerce_absa_zh): 128 tokens hold them whole. The
    # rate, chosen on the validation split of ecommerce_absa_zh (me5, 5 epochs, heads at 10x): 3e-4
    # against 1e-4, quadruple F1 0.657 against 0.601, complaints found 0.727 against 0.576
    # (docs/tasks/aspects.md); as for extraction, span tagging wants the higher rate. 7 epochs against
    # 5, on the same validation split: quadruple F1 0.740 against 0.727 blended with the character
    # CRF (0.724 against 0.657 the tagger alone), within the 15-minute budget of 2 cores.
    defaults = {"model.add_words": False, "training.lr": 3e-4, "training.epochs": 7.0, "training.group_by_length": False}
    unused = {
        **{f"data.{key}": "aspects reads reviews and their opinions (task.labels or a quadruples column)" for key in
           ("text_pair_column", "label_column", "label_delimiter", "negative_column", "catalog")},
        "data.drop_conflicts": "aspects has no conflicting labels to drop",
        "data.empty_text": "an empty review is always an error in an aspects file",
        "data.cache_tokenized": "reviews are encoded in memory",
        "training.class_weight": _NOT_CLASSES,
        "training.focal_gamma": _NOT_CLASSES,
        "training.balanced_sampling": _NOT_CLASSES,
        **CLASSIFICATION_ONLY,
    }


SPEC = AspectsSpec
