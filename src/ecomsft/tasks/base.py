"""The surface every task offers to the runner (``runner.run``), and what it hands back.

A task is one class, constructed with the run's resolved configuration; the runner calls it in
this order, and the task keeps what it needs between calls on ``self``:

    load_data -> build_model -> language_models (vocabulary, length limit) -> prepare_model
    -> build_trainer -> [the runner trains] -> finish_model -> evaluate -> baselines -> save

Everything else (the run folder, seeds, threads, the hub's errors, vocabulary extension, timing,
throughput, the metrics skeleton, config.yaml, training_log.json, report.html) is the runner's,
written once for all tasks. Light at import: torch and transformers load inside the methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from ..config import RunConfig
from .spec import CLASSIFICATION_ONLY, TaskSpec

__all__ = ["CLASSIFICATION_ONLY", "Evaluation", "Task", "TaskSpec"]


@dataclass
class Evaluation:
    """What a task's evaluation gives the run folder."""

    validation: dict | None = None  # metrics on the validation split
    test: dict | None = None  # metrics on the test split
    fields: dict[str, Any] = field(default_factory=dict)  # the task's own metrics.json fields
    # predictions.csv: a frame, or a function that writes the file itself (data larger than memory)
    predictions: pd.DataFrame | Callable[[Path], None] | None = None


class Task(TaskSpec):
    """One task: its configuration rules (``TaskSpec``, in the task's light config module), data,
    model, Trainer, evaluation, baselines and saved form."""

    # ecomsft compare ranks candidates of this task by accuracy and macro-F1 (classifiers).
    comparable: ClassVar[bool] = False
    # model.name auto: (alias, why) for a task with one bundled model; None: the bundled encoder that
    # reads the training texts best (models.resolve.choose_bundled).
    auto_model: ClassVar[tuple[str, str] | None] = None

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        # The resolved starting model (before any vocabulary trimming), set by the runner: what a
        # zero-shot baseline of the model itself reads.
        self.base_model: str | None = None

    def metric_for_best_model(self) -> str:
        return self.cfg.training.metric_for_best_model or "f1_macro"

    # set-up, inside the run folder's failure guard
    def load_data(self) -> dict:
        """Read and check the splits (kept on ``self``); returns metrics.json's ``data``."""
        raise NotImplementedError

    def build_model(self, model_path: str):
        raise NotImplementedError

    def language_models(self, model) -> list[tuple[Any, Any]]:
        """(tokenizer, transformers model) pairs whose vocabulary and length limit apply (default:
        the task's ``self.tokenizer`` and the model)."""
        return [(self.tokenizer, model)]

    def vocabulary_texts(self) -> list[str]:
        """Training texts the vocabulary must cover."""
        raise NotImplementedError

    def prepare_model(self, model, added_tokens: int):
        """The config's freezing and LoRA options; returns the model to train."""
        from ..training import trainable  # torch

        return trainable.prepare(model, self.cfg.training, added_tokens)

    def build_trainer(self, model, workdir: Path, embedding_lr: float | None):
        """A ``transformers.Trainer`` (or subclass) writing checkpoints into ``workdir/checkpoints``."""
        raise NotImplementedError

    # after training
    def finish_model(self, trainer):
        """The trained model to evaluate and save (LoRA merged); sets ``trainer.model``."""
        from ..training import trainable

        trainer.model = trainable.finish(trainer.model)
        return trainer.model

    def evaluate(self, trainer) -> Evaluation:
        raise NotImplementedError

    def baselines(self, evaluation: Evaluation) -> dict[str, Any]:
        """metrics.json fields of the classical baselines on the same test split (main process only)."""
        return {}

    def training_info(self, trainer) -> dict:
        """metrics.json ``training`` fields of this task (the loss, ...)."""
        return {}

    def model_info(self, model) -> dict:
        return {}

    def saved_settings(self) -> dict[str, Any]:
        """What inference needs to read the saved model beyond its weights, written into its
        config.json as ``ecomsft_<key>`` (the threshold, the stride, the relevance head, ...)."""
        return {}

    def save(self, trainer, model_dir: Path) -> None:
        """The model folder: weights and tokenizer, and in config.json the task's name, its max
        length and ``saved_settings`` (what a bare model folder says of itself)."""
        config = trainer.model.config
        for key, value in {"task": self.name, "max_length": self.cfg.model.max_length, **self.saved_settings()}.items():
            setattr(config, f"ecomsft_{key}", value)
        trainer.save_model(str(model_dir))
        without_pickle(trainer, model_dir)
        self.tokenizer.save_pretrained(str(model_dir))


def without_pickle(trainer, model_dir: Path) -> None:
    """The Trainer's arguments as JSON in place of the pickle it saves beside the weights (a folder
    another tool loads must not hold a file whose loading can run code)."""
    from ..files import write_text_atomic

    pickled = model_dir / "training_args.bin"
    if pickled.is_file():
        write_text_atomic(model_dir / "training_args.json", trainer.args.to_json_string())
        pickled.unlink()
