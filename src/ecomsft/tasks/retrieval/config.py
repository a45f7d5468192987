"""The ``task:`` section of retrieval (a bi-encoder embedding queries and products)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...config import GradedSection


class RetrievalSection(GradedSection):
    type: Literal["retrieval"] = "retrieval"
    shared_towers: bool = Field(default=True, description="one encoder for queries and products, or two")
