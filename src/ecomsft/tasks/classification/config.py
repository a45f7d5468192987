"""The ``task:`` section of classification."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...config import TaskSection


class ClassificationSection(TaskSection):
    type: Literal["classification"] = "classification"
    multi_label: bool = Field(default=False, description="several labels per text (aspects, tags)")
    threshold: float | None = Field(default=None, gt=0.0, lt=1.0,
                                    description="multi-label decision threshold on the sigmoids; None: tuned on validation")
