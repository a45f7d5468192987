"""The ``task:`` section of relevance (a cross-encoder grading (query, product) pairs)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...config import GradedSection


class RelevanceSection(GradedSection):
    type: Literal["relevance"] = "relevance"
    head: Literal["auto", "regression", "classification"] = Field(
        default="auto", description="auto: regression for numeric grades, classification for named grades")
    blend_zero_shot: bool = Field(
        default=False, description="also score with the bundled encoder's cosine and blend the two "
        "(weights fitted on the validation split); rank and serve then use the blend")
    pairwise_weight: float = Field(
        default=0.0, ge=0, description="weight of a RankNet loss over candidate pairs of the same query "
        "(batches then hold whole queries), added to the pointwise loss")
