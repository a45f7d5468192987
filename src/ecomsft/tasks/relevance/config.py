"""The ``task:`` section of relevance (a cross-encoder grading (query, product) pairs)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...config_sections import GradedSection
from ..spec import CLASSIFICATION_ONLY, TaskSpec


class RelevanceSection(GradedSection):
    type: Literal["relevance"] = "relevance"
    head: Literal["auto", "regression", "classification"] = Field(
        default="auto", description="auto: regression for numeric grades, classification for named grades")
    blend_zero_shot: bool | None = Field(
        default=None, description="blend the cross-encoder's score with the bundled encoder's zero-shot cosine "
        "(weights fitted on the validation split); rank and serve then use the blend. None: as model.blend says "
        "(auto: where the blend beats the cross-encoder alone on the validation queries); true: always; false: never")
    pairwise_weight: float = Field(
        default=0.0, ge=0, description="weight of a RankNet loss over candidate pairs of the same query "
        "(batches then hold whole queries), added to the pointwise loss")


_NOT_PAIRS = "relevance reads (query, product, grade) pairs"
_POINTWISE = "the relevance loss is MSE or cross-entropy over grades (task.pairwise_weight adds RankNet)"


class RelevanceSpec(TaskSpec):
    name = "relevance"
    section = RelevanceSection

    @classmethod
    def column_guesses(cls) -> dict[str, tuple[str, ...]]:
        from ...data.pairs import GRADE_GUESSES, PRODUCT_GUESSES, QUERY_GUESSES

        return {"text_column": QUERY_GUESSES, "text_pair_column": PRODUCT_GUESSES, "label_column": GRADE_GUESSES}
    unused = {
        "data.negative_column": "hard negatives are for retrieval",
        "data.catalog": "a catalogue is for retrieval",
        "data.label_delimiter": _NOT_PAIRS,
        "training.class_weight": _POINTWISE,
        "training.focal_gamma": _POINTWISE,
        "training.balanced_sampling": _POINTWISE,
        **{key: why for key, why in CLASSIFICATION_ONLY.items() if key != "model.blend"},
    }


SPEC = RelevanceSpec
