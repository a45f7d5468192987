"""Text classification, single-label (sentiment, stars, category) and multi-label (aspects, tags):
an encoder with a sequence-classification head, beside a tfidf-lr baseline on the same split."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ...distributed import is_main_process
from ...evaluation.baselines import fit_tfidf_lr, score_tfidf_lr
from ...evaluation.blend import choose_blend
from ...evaluation.classification import (
    accuracy_by_length,
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
    full_report,
    tune_threshold,
)
from ...models.heads import probabilities
from ...models.lexical import mix
from ...models.prefixes import text_prefixes
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
            metric_for_best_model=self.metric_for_best_model(), sort_eval_by_length=True, head_lr=self.head_rate(model),
        )

    def head_rate(self, model) -> float | None:
        """``training.head_lr``, ``auto`` decided: 30 x lr for the new head of an e5-family encoder
        (its config carries e5's prefixes: me5 and runs from it), its random pooler included. Chosen
        on the validation split of online_shopping_10_cats (docs/tasks/classification.md, "The 10
        categories"): at 400 steps the head at lr leaves the small classes unlearnt (macro-F1 0.686;
        the classifier at 30 x lr 0.752; the pooler too 0.809)."""
        rate = self.cfg.training.head_lr
        if rate == "auto":
            rate = 30 * self.cfg.training.lr if text_prefixes(model.config) else None
        self.head_lr = rate
        return rate

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

        self.probs, self.lexical = probs, None

        def predictions(path: Path) -> None:  # called after ``baselines``: the blend's where it was chosen
            blend = self.lexical.blend if self.lexical is not None else {}
            self.data.write_predictions(path, probs["test"], blend.get("threshold", self.threshold),
                                        self.lexical if blend else None)

        return Evaluation(
            validation=results.get("valid"), test=results.get("test"),
            fields={"multi_label": multi, "labels": labels.names,
                    "threshold": self.threshold if multi else None, "calibration": self.calibration},
            predictions=predictions if "test" in probs else None,
        )

    def baselines(self, evaluation: Evaluation) -> dict:
        """tfidf-lr on the same split, kept in the model folder (``models/lexical.py``); the blend of
        both chosen on the validation split (``evaluation/blend.py``) and scored on the test split;
        single-label: the test accuracy of all three by review length."""
        multi = self.labels.multi_label
        inputs, sampled = self.data.baseline_inputs()
        train_texts, train_y, _ = inputs["train"]
        self.lexical, seconds = fit_tfidf_lr(train_texts, train_y, len(self.labels), multi, self.cfg.training.seed)
        blend = self.choose_blend(inputs.get("valid"))
        if blend["used"]:
            self.lexical.blend = {"weight": blend["weight"], **({"threshold": blend["threshold"]} if multi else {})}
        if "test" not in self.probs:
            return {"blend": blend}
        test_texts, test_y, test_rows = inputs["test"]
        baseline, lexical_test = score_tfidf_lr(self.lexical, test_texts, test_y, self.threshold)
        baseline["train_seconds"] = seconds
        model_test = self.probs["test"] if test_rows is None else self.probs["test"][test_rows]
        mixed = None
        if blend["used"]:
            mixed = mix(model_test, lexical_test, blend["weight"])
            blend["test"] = full_report(np.asarray(test_y), mixed, self.labels.names, multi,
                                        blend.get("threshold", self.threshold))
        fields = {"baseline_tfidf_lr": baseline, "blend": blend}
        if sampled:  # the baseline saw samples of the splits: no row-by-row comparison
            baseline["sampled_rows"] = sampled
        elif not multi:
            predicted = {"model": model_test.argmax(axis=1), "tfidf_lr": lexical_test.argmax(axis=1)}
            if mixed is not None:
                predicted["blend"] = mixed.argmax(axis=1)
            fields["by_length"] = accuracy_by_length(test_texts, np.asarray(test_y), predicted)
        return fields

    def choose_blend(self, valid) -> dict:
        """The weight of the fine-tuned model, chosen on the validation split (``model.blend: auto``)."""
        if self.cfg.model.blend == "off":
            return {"used": False, "weight": 1.0, "why": "model.blend: off"}
        if valid is None or "valid" not in self.probs:
            return {"used": False, "weight": 1.0, "why": "the run has no validation split to choose a weight on"}
        texts, gold, rows = valid
        model_valid = self.probs["valid"] if rows is None else self.probs["valid"][rows]
        return choose_blend(np.asarray(gold), model_valid, self.lexical.predict_proba(texts),
                            multi_label=self.labels.multi_label, metric=self.metric_for_best_model(),
                            threshold=self.cfg.task.threshold)

    def training_info(self, trainer) -> dict:
        return {"loss": trainer.class_loss.describe() if trainer.class_loss else "model default",
                "balanced_sampling": self.cfg.training.balanced_sampling, "head_lr": self.head_lr}

    def saved_settings(self) -> dict:
        return {"threshold": self.threshold, "head_share": self.cfg.model.head_share,
                "temperature": self.calibration["temperature"] if self.calibration else None}

    def save(self, trainer, model_dir: Path) -> None:
        """The model folder, with the run's tfidf-lr and the blend's weight beside the weights."""
        super().save(trainer, model_dir)
        if self.lexical is not None:
            self.lexical.save(model_dir)


TASK = ClassificationTask
