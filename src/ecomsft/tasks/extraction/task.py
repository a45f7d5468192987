"""Attribute extraction (brand, product type, model, colour, size, ...) from titles: token
classification on any encoder, trained in BIOES over sub-word heads, long titles cut into
overlapping windows and merged back; judged by exact entity spans beside a CRF baseline."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ...data.splitting import carve_splits
from ...data.tagging import Span, as_text, read_tagged, spans_to_tags
from ...errors import EcomsftError
from ...evaluation.crf_baseline import run_crf
from ...evaluation.entities import entity_report, error_analysis, token_accuracy
from ...models.crf_head import attach_crf, crf_scores
from ...models.spans import bioes_tags, merge, window_labels, windows
from ...training.trainer import CRFTrainer, build_trainer, predict_logits
from ..base import Evaluation, Task
from .config import ExtractionSpec

log = logging.getLogger("ecomsft")


class ExtractionTask(ExtractionSpec, Task):
    def metric_for_best_model(self) -> str:
        return self.cfg.training.metric_for_best_model or "f1_micro"

    def load_data(self) -> dict:
        cfg = self.cfg
        options = {"scheme": cfg.task.scheme, "repair": cfg.task.repair, "encoding": cfg.data.encoding}
        files = {name: getattr(cfg.data, name) for name in ("train", "valid", "test") if getattr(cfg.data, name)}
        read = {name: read_tagged(path, **options) for name, path in files.items()}
        for tagged in read.values():
            for note in tagged.notes:
                log.warning(note)
        items = {name: [(t.tokens, t.spans) for t in tagged.items] for name, tagged in read.items()}
        rng = np.random.default_rng(cfg.training.seed)
        train = items["train"]
        if cfg.data.max_samples and len(train) > cfg.data.max_samples:
            train = [train[i] for i in sorted(rng.choice(len(train), cfg.data.max_samples, replace=False))]
        items = carve_splits({**items, "train": train}, cfg.data.valid_ratio, cfg.data.test_ratio, rng)
        train = items["train"]
        if cfg.data.deduplicate:
            seen, kept = set(), []
            for tokens, spans in train:
                key = (tuple(tokens), tuple(s.as_tuple() for s in spans))
                if key not in seen:
                    seen.add(key)
                    kept.append((tokens, spans))
            items["train"] = kept
        if len(items["train"]) < 2:
            raise EcomsftError("fewer than two training titles", where=str(cfg.data.train))
        self.items = items
        self.labels = sorted({s.label for tokens, spans in items["train"] for s in spans})
        if not self.labels:
            raise EcomsftError("the training titles hold no entities", where=str(cfg.data.train))
        unknown = sorted({s.label for name in ("valid", "test") for _, spans in items[name] for s in spans} - set(self.labels))
        if unknown:
            log.warning("entity types never seen in training (counted as missed): %s", ", ".join(unknown))
        self.texts = {name: [as_text(tokens, spans) for tokens, spans in part] for name, part in items.items()}
        return {"train_source": str(cfg.data.train), "scheme": read["train"].scheme,
                "repaired_tags": sum(t.repaired for t in read.values()), "entity_types": self.labels,
                "sizes": {name: len(part) for name, part in items.items()},
                "entities": {name: sum(len(spans) for _, spans in part) for name, part in items.items()}}

    def build_model(self, model_path: str):
        from transformers import AutoModelForTokenClassification, AutoTokenizer


        self.tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=False)
        if not getattr(self.tokenizer, "is_fast", False):
            raise EcomsftError("extraction needs a fast (Rust) tokenizer for character offsets", where=model_path)
        self.tags, self.crf = bioes_tags(self.labels), None
        model = AutoModelForTokenClassification.from_pretrained(
            model_path, num_labels=len(self.tags), id2label=dict(enumerate(self.tags)),
            label2id={t: i for i, t in enumerate(self.tags)}, ignore_mismatched_sizes=True, trust_remote_code=False)
        if self.cfg.task.crf:
            attach_crf(model, self.tags)
        return model

    def vocabulary_texts(self) -> list[str]:
        return [text for text, _, _ in self.texts["train"]]

    def _encode(self, name: str):
        from datasets import Dataset


        cfg, tag_ids = self.cfg, {t: i for i, t in enumerate(self.tags)}
        columns = {"input_ids": [], "attention_mask": [], "labels": [], "length": []}
        per_title = []
        for text, spans, _ in self.texts[name]:
            title_windows = windows(self.tokenizer, text, cfg.model.max_length, cfg.task.stride, cfg.task.label_all_subtokens)
            per_title.append(title_windows)
            for window in title_windows:
                columns["input_ids"].append(window.input_ids)
                columns["attention_mask"].append(window.attention_mask)
                columns["labels"].append(window_labels(window, spans, tag_ids))
                columns["length"].append(len(window.input_ids))
        return Dataset.from_dict(columns), per_title

    def _spans_from_logits(self, per_title, logits, crf: dict | None) -> list[list[Span]]:
        id2tag = dict(enumerate(self.tags))
        out, k = [], 0
        for title_windows in per_title:
            rows = [logits[k + j] for j in range(len(title_windows))]
            k += len(title_windows)
            out.append(merge(title_windows, rows, id2tag, crf))
        return out

    def build_trainer(self, model, workdir: Path, embedding_lr):
        from transformers import DataCollatorForTokenClassification


        self.datasets, self.windows = {}, {}
        for name in ("train", "valid", "test"):
            self.datasets[name], self.windows[name] = self._encode(name)
        gold_valid = [[s.as_tuple() for s in spans] for _, spans, _ in self.texts["valid"]]

        def compute_metrics(prediction) -> dict[str, float]:
            logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
            predicted = self._spans_from_logits(self.windows["valid"], np.asarray(logits), crf_scores(model))
            report = entity_report(gold_valid, [[s.as_tuple() for s in spans] for spans in predicted], self.labels)
            return {k: report[k] for k in ("f1_micro", "f1_macro", "precision_micro", "recall_micro")}

        return build_trainer(model, self.tokenizer, self.datasets["train"], self.datasets["valid"], self.cfg.training,
                             str(workdir / "checkpoints"), compute_metrics, embedding_lr, tracking_dir=workdir,
                             metric_for_best_model=self.metric_for_best_model(),
                             data_collator=DataCollatorForTokenClassification(self.tokenizer),
                             trainer_class=CRFTrainer if self.cfg.task.crf else None)

    def evaluate(self, trainer) -> Evaluation:
        results, self.predicted = {}, {}
        self.crf = crf_scores(trainer.model)
        for name in ("valid", "test"):
            if not self.texts[name]:
                continue
            logits = predict_logits(trainer, self.datasets[name])
            predicted = self._spans_from_logits(self.windows[name], logits, self.crf)
            self.predicted[name] = predicted
            gold = [[s.as_tuple() for s in spans] for _, spans, _ in self.texts[name]]
            guess = [[s.as_tuple() for s in spans] for spans in predicted]
            results[name] = entity_report(gold, guess, self.labels)
            results[name]["token_accuracy"] = token_accuracy(*self._char_tags(name, predicted))
            if name == "test":
                results[name]["errors"] = error_analysis(gold, guess)
        predictions = None
        if "test" in self.predicted:
            predictions = pd.DataFrame({
                "text": [text for text, _, _ in self.texts["test"]],
                "gold": [_spans_json(text, spans) for text, spans, _ in self.texts["test"]],
                "predicted": [_spans_json(text, spans) for (text, _, _), spans in zip(self.texts["test"], self.predicted["test"])],
            })
        return Evaluation(validation=results.get("valid"), test=results.get("test"), predictions=predictions,
                          fields={"labels": self.labels, "scheme": "BIOES"})

    def _char_tags(self, name: str, predicted) -> tuple[list[list[str]], list[list[str]]]:
        gold = [spans_to_tags(spans, len(text), "BIOES") for text, spans, _ in self.texts[name]]
        guess = [spans_to_tags(spans, len(text), "BIOES") for (text, _, _), spans in zip(self.texts[name], predicted)]
        return gold, guess

    def baselines(self, evaluation: Evaluation) -> dict:
        if not self.items["test"]:
            return {}
        metrics, _, predicted = run_crf(self.items["train"], self.items["test"], self.labels, seed=self.cfg.training.seed)
        # Scored on character spans, as the model is.
        gold = [[s.as_tuple() for s in spans] for _, spans, _ in self.texts["test"]]
        guess = [as_text(tokens, spans)[1] for (tokens, _), spans in zip(self.items["test"], predicted)]
        metrics.update(entity_report(gold, [[s.as_tuple() for s in spans] for spans in guess], self.labels))
        return {"baselines": {"crf": metrics}}

    def training_info(self, trainer) -> dict:
        if self.cfg.task.crf:
            return {"loss": "CRF negative log-likelihood of each window's BIOES tag sequence (learnt transitions)"}
        return {"loss": "token cross-entropy over BIOES tags of sub-word heads"}

    def saved_settings(self) -> dict:
        return {"stride": self.cfg.task.stride, "all_subtokens": self.cfg.task.label_all_subtokens, "crf": self.crf}

    def save(self, trainer, model_dir: Path) -> None:
        # The CRF layer's scores go to config.json (saved_settings); its module leaves the model, so
        # the folder stays a plain token-classification model.
        if hasattr(trainer.model, "crf"):
            del trainer.model.crf
        super().save(trainer, model_dir)


def _spans_json(text: str, spans: list[Span]) -> str:
    return json.dumps([{"start": s.start, "end": s.end, "label": s.label, "text": text[s.start:s.end]} for s in spans],
                      ensure_ascii=False)


TASK = ExtractionTask
