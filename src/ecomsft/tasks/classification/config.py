"""The ``task:`` section of classification."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...config_sections import TaskSection
from ..spec import TaskSpec


class ClassificationSection(TaskSection):
    type: Literal["classification"] = "classification"
    multi_label: bool = Field(default=False, description="several labels per text (aspects, tags)")
    threshold: float | None = Field(default=None, gt=0.0, lt=1.0,
                                    description="multi-label decision threshold on the sigmoids; None: tuned on validation")


class ClassificationSpec(TaskSpec):
    name = "classification"
    section = ClassificationSection
    unused = {
        "data.negative_column": "hard negatives are for retrieval",
        "data.catalog": "a catalogue is for retrieval",
    }

    @classmethod
    def check(cls, cfg) -> None:
        super().check(cfg)
        if cfg.training.balanced_sampling and cfg.task.multi_label:
            raise ValueError("training.balanced_sampling is for single-label classification")


SPEC = ClassificationSpec
