"""The ``task:`` section of masked-LM pretraining."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...config_sections import TaskSection
from ..spec import CLASSIFICATION_ONLY, TaskSpec


class PretrainingSection(TaskSection):
    type: Literal["pretraining"] = "pretraining"
    mlm_probability: float = Field(default=0.15, gt=0, lt=1, description="share of tokens (or words) masked")
    whole_word_masking: Literal["auto", "always", "never"] = Field(
        default="auto", description="mask whole jieba words; auto: when the text is mostly Chinese")
    head_warmup_steps: int | Literal["auto"] = Field(
        default="auto", description="steps before pretraining in which only the masked-LM head weights that the "
        "checkpoint lacked learn, the encoder frozen (none when it has its head); auto: 200, or one epoch if "
        "shorter")
    head_warmup_lr: float = Field(default=1e-3, gt=0, description="learning rate of the head warm-up")


_NO_LABELS = "pretraining reads unlabelled text"
_NO_CLASSES = "the masked-LM loss has no classes"


class PretrainingSpec(TaskSpec):
    name = "pretraining"
    section = PretrainingSection
    defaults = {"training.epochs": 1.0, "training.lr": 1e-4, "data.valid_ratio": 0.05}
    unused = {
        "model.trim_vocab": "masked-LM pretraining predicts over the whole vocabulary",
        **{f"data.{key}": _NO_LABELS for key in ("valid", "test", "text_pair_column", "label_column", "label_delimiter",
                                                 "drop_conflicts", "negative_column", "catalog")},
        "data.test_ratio": "pretraining holds out only a validation share (data.valid_ratio)",
        "data.empty_text": "empty texts are always dropped from a corpus",
        "data.cache_tokenized": "the corpus is tokenized in memory",
        "training.class_weight": _NO_CLASSES,
        "training.focal_gamma": _NO_CLASSES,
        "training.balanced_sampling": _NO_CLASSES,
        "training.group_by_length": "masked-LM batches are drawn at random",
        "training.head_lr": "the masked-LM head is pretrained, not new",
        "training.lora_r": "a pretrained model is meant to be fine-tuned next, so it is trained in full",
        "training.lora_layers": "a pretrained model is meant to be fine-tuned next, so it is trained in full",
        **CLASSIFICATION_ONLY,
    }

    @classmethod
    def check(cls, cfg) -> None:
        if cfg.task.head_warmup_steps != "auto" and cfg.task.head_warmup_steps < 0:
            raise ValueError("task.head_warmup_steps: a number of steps (0: none) or auto")
        if cfg.training.metric_for_best_model not in (None, "loss"):
            raise ValueError("training.metric_for_best_model: pretraining selects on the held-out masked-LM loss only")


SPEC = PretrainingSpec
