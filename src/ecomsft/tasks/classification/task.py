"""Text classification, single-label (sentiment, stars, category) and multi-label (aspects, tags):
an encoder with a sequence-classification head, beside a tfidf-lr baseline on the same split."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ...distributed import is_main_process
from ...evaluation.baselines import run_tfidf_lr
from ...evaluation.classification import (
    accuracy_by_length,
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    full_report,
    tune_threshold,
)
from ...models.heads import probabilities
from ...training.losses import ClassLoss, balanced_sample_weights
from ...training.trainer import build_trainer, predict_logits
from ..base import Evaluation, Task
from .arrow_splits import read_arrow_splits, wants_memory_mapped
from .config import ClassificationSpec
from .frame_splits import FrameSplits
from .model import build_model, metrics_function

log = logging.getLogger("ecomsft")


class ClassificationTask(ClassificationSpec, Task):
    comparable = True

    def load_data(self) -> dict:
        """Frames in memory, or memory-mapped Arrow files for data larger than memory
        (``data.memory_mapped``); both offer the same methods."""

        cfg = self.cfg
        if wants_memory_mapped(cfg):
            self.data = read_arrow_splits(cfg, progress=cfg.training.progress_bar and is_main_process())
        else:
            self.data = FrameSplits(cfg)
        self.labels = self.data.labels
        info = self.data.info
        dup, leak = info["duplicates"], info["overlap_with_train"]
        if dup.get("exact_duplicates") or dup.get("conflicting_texts") or any(leak.values()):
            log.warning(
                "data: %d exact duplicate rows, %d texts with conflicting labels%s; texts also in train: valid %d, test %d",
                dup.get("exact_duplicates", 0), dup.get("conflicting_texts", 0),
                " (dropped before splitting)" if cfg.data.deduplicate else "", leak["valid"], leak["test"],
            )
        return info

    def build_model(self, model_path: str):
        from transformers import AutoTokenizer


        self.tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=False)
        return build_model(model_path, self.labels)

    def vocabulary_texts(self) -> list[str]:
        return self.data.vocab_texts()

    def build_trainer(self, model, workdir: Path, embedding_lr):
        cfg = self.cfg
        self.datasets = self.data.encode(self.tokenizer)
        train_ids = self.data.gold("train")
        self.threshold = cfg.task.threshold if cfg.task.threshold is not None else 0.5
        return build_trainer(
            model, self.tokenizer, self.datasets["train"], self.datasets["valid"], cfg.training, str(workdir / "checkpoints"),
            metrics_function(self.labels, self.threshold), embedding_lr, tracking_dir=workdir,
            class_loss=ClassLoss.from_config(cfg.training, train_ids, len(self.labels), self.labels.multi_label),
            sample_weights=balanced_sample_weights(train_ids) if cfg.training.balanced_sampling else None,
            metric_for_best_model=self.metric_for_best_model(), sort_eval_by_length=True,
        )

    def evaluate(self, trainer) -> Evaluation:
        labels, multi = self.labels, self.labels.multi_label
        sizes = self.data.sizes()
        gold = {name: self.data.gold(name) for name in ("valid", "test") if sizes[name]}
        probs = {name: probabilities(predict_logits(trainer, self.datasets[name]), multi) for name in gold}
        if multi and self.cfg.task.threshold is None and "valid" in probs:
            self.threshold = tune_threshold(gold["valid"], probs["valid"])
        results = {name: full_report(gold[name], probs[name], labels.names, multi, self.threshold) for name in gold}
        self.calibration = None
        if not multi and "valid" in probs and "test" in probs:
            temperature = fit_temperature(gold["valid"], probs["valid"])
            self.calibration = {
                "temperature": temperature,
                "test_ece": expected_calibration_error(gold["test"], probs["test"]),
                "test_ece_calibrated": expected_calibration_error(gold["test"], apply_temperature(probs["test"], temperature)),
            }

        self.test_probs = probs.get("test")

        def predictions(path: Path) -> None:
            self.data.write_predictions(path, probs["test"], self.threshold)

        return Evaluation(
            validation=results.get("valid"), test=results.get("test"),
            fields={"multi_label": multi, "labels": labels.names,
                    "threshold": self.threshold if multi else None, "calibration": self.calibration},
            predictions=predictions if "test" in probs else None,
        )

    def baselines(self, evaluation: Evaluation) -> dict:
        """tfidf-lr on the same split; single-label: both models' test accuracy by review length."""
        if evaluation.test is None:
            return {}
        train_texts, train_y, test_texts, test_y, sampled = self.data.baseline_inputs()
        baseline, pipeline = run_tfidf_lr(train_texts, train_y, test_texts, test_y, len(self.labels),
                                          self.labels.multi_label, self.threshold, self.cfg.training.seed)
        fields = {"baseline_tfidf_lr": baseline}
        if sampled:  # the baseline saw a sample of the test split: no row-by-row comparison
            baseline["sampled_rows"] = sampled
        elif not self.labels.multi_label:
            fields["by_length"] = accuracy_by_length(test_texts, np.asarray(test_y), {
                "model": self.test_probs.argmax(axis=1), "tfidf_lr": pipeline.predict(test_texts)})
        return fields

    def training_info(self, trainer) -> dict:
        return {"loss": trainer.class_loss.describe() if trainer.class_loss else "model default",
                "balanced_sampling": self.cfg.training.balanced_sampling}

    def saved_settings(self) -> dict:
        return {"threshold": self.threshold, "head_share": self.cfg.model.head_share,
                "temperature": self.calibration["temperature"] if self.calibration else None}


TASK = ClassificationTask
