"""Aspect-based review analysis: what each review says about each aspect, as opinion quadruples
(aspect span or implicit, opinion span, category, polarity) with character offsets, on any encoder
(``models/aspect_model.py``); judged by quadruple, pair, span and complaint metrics beside the
classical baseline (CRF spans, nearest aspect, tfidf-lr category and polarity) on the same split."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from ...data.aspects import read_aspects
from ...data.splitting import carve_splits
from ...errors import EcomsftError
from ...evaluation.aspects import aspect_report, describe, worst_reviews
from ...evaluation.aspects_baseline import fit_char_crf, run_aspect_baseline
from ...models.aspect_model import (HEADS_FILE, TAGS, AspectModel, as_quads, collate, decode, encode_review,
                                    load_encoder, polarity_weights, training_features)
from ...models.char_crf import CharCrf
from ...training.trainer import build_trainer
from ..base import Evaluation, Task
from .config import AspectsSpec

log = logging.getLogger("ecomsft")
BLEND_WEIGHTS = (0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1)  # the fine-tuned tagger's share, chosen on validation


class AspectsTask(AspectsSpec, Task):
    def metric_for_best_model(self) -> str:
        return self.cfg.training.metric_for_best_model or "loss"

    def load_data(self) -> dict:
        cfg = self.cfg
        encoding = cfg.data.encoding
        read = {"train": read_aspects(cfg.data.train, cfg.task.labels, text_column=cfg.data.text_column, encoding=encoding)}
        for name in ("valid", "test"):
            if getattr(cfg.data, name):
                read[name] = read_aspects(getattr(cfg.data, name), text_column=cfg.data.text_column, encoding=encoding)
        for data in read.values():
            for note in data.notes:
                log.warning(note)
        self.spans = read["train"].spans
        if any(data.spans != self.spans for data in read.values()):
            raise EcomsftError("the splits mix quadruples with offsets and per-category files; give one form",
                               where=str(cfg.data.train))
        rng = np.random.default_rng(cfg.training.seed)
        train = read["train"].reviews
        if cfg.data.max_samples and len(train) > cfg.data.max_samples:
            train = [train[i] for i in sorted(rng.choice(len(train), cfg.data.max_samples, replace=False))]
        items = carve_splits({**{k: v.reviews for k, v in read.items()}, "train": train}, cfg.data.valid_ratio,
                             cfg.data.test_ratio, rng)
        if cfg.data.deduplicate:
            seen, kept = set(), []
            for review in items["train"]:
                key = (review.text, tuple(sorted(map(repr, review.quads))))
                if key not in seen:
                    seen.add(key)
                    kept.append(review)
            items["train"] = kept
        if len(items["train"]) < 2:
            raise EcomsftError("fewer than two training reviews", where=str(cfg.data.train))
        self.items = items
        quads = [q for r in items["train"] for q in r.quads]
        self.categories = sorted({q.category for q in quads})
        self.polarities = sorted({q.polarity for q in quads})
        for name in ("valid", "test"):
            unseen = sorted({f"{q.category}/{q.polarity}" for r in items[name] for q in r.quads
                             if q.category not in self.categories or q.polarity not in self.polarities})
            if unseen:
                log.warning("%s split: categories or polarities never seen in training (counted as missed): %s",
                            name, ", ".join(unseen))
        counts = Counter(q.polarity for q in quads)
        self.weights = polarity_weights([counts[p] for p in self.polarities]) if cfg.task.polarity_weighting else None
        return {"train_source": read["train"].source, "spans": self.spans, "categories": self.categories,
                "polarities": self.polarities, "sizes": {name: len(part) for name, part in items.items()},
                "opinions": {name: sum(len(r.quads) for r in part) for name, part in items.items()},
                "train_data": read["train"].describe()}

    def build_model(self, model_path: str):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=False)
        if not getattr(self.tokenizer, "is_fast", False):
            raise EcomsftError("aspects needs a fast (Rust) tokenizer for character offsets", where=model_path)
        return AspectModel(load_encoder(model_path), self.categories, self.polarities, self.weights, crf=self.cfg.task.crf)

    def language_models(self, model):
        return [(self.tokenizer, model.encoder)]

    def vocabulary_texts(self) -> list[str]:
        return [r.text for r in self.items["train"]]

    def prepare_model(self, model, added_tokens: int):
        from ...training import trainable

        model.encoder = trainable.prepare(model.encoder, self.cfg.training, added_tokens)
        return model

    def finish_model(self, trainer):
        return trainer.model

    def _dataset(self, name: str):
        from datasets import Dataset

        rows = [training_features(encode_review(self.tokenizer, r.text, self.cfg.model.max_length), r.quads,
                                  self.categories, self.polarities, self.spans)
                for r in self.items[name] if all(q.category in self.categories and q.polarity in self.polarities
                                                 for q in r.quads)]
        return Dataset.from_list(rows) if rows else None

    def build_trainer(self, model, workdir: Path, embedding_lr):
        training = self.cfg.training
        self.head_lr = training.head_lr if isinstance(training.head_lr, float) else (
            10 * training.lr if training.head_lr == "auto" else None)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        return build_trainer(model, self.tokenizer, self._dataset("train"), self._dataset("valid"), training,
                             str(workdir / "checkpoints"), None, embedding_lr, tracking_dir=workdir, head_lr=self.head_lr,
                             metric_for_best_model=self.metric_for_best_model(),
                             data_collator=lambda features: collate(features, pad),
                             arguments={"prediction_loss_only": True, "remove_unused_columns": False})

    def _predict(self, model, name: str, lexical: CharCrf | None = None) -> list[list[dict]]:
        return decode(model, self.tokenizer, [r.text for r in self.items[name]], self.cfg.model.max_length,
                      batch_size=self.cfg.training.eval_batch_size, spans=self.spans, lexical=lexical)

    def _report(self, name: str, predicted: list[list[dict]]) -> dict:
        return aspect_report([r.quads for r in self.items[name]], [as_quads(p) for p in predicted], self.spans)

    def evaluate(self, trainer) -> Evaluation:
        results, self.predicted = {}, {}
        for name in ("valid", "test"):
            if self.items[name]:
                self.predicted[name] = self._predict(trainer.model, name)
                results[name] = self._report(name, self.predicted[name])
        blend = self.choose_blend(trainer.model, results)
        predictions, errors = None, []
        if "test" in self.predicted:
            if blend["used"]:  # what the run delivers: predictions.csv and the errors to read are the blend's
                self.predicted["test"] = self._predict(trainer.model, "test", self.char_crf)
                blend["test"] = self._report("test", self.predicted["test"])
            texts = [r.text for r in self.items["test"]]
            predicted = [as_quads(p) for p in self.predicted["test"]]
            predictions = pd.DataFrame({
                "text": texts,
                "gold": [json.dumps([describe(t, q) for q in r.quads], ensure_ascii=False) for t, r in zip(texts, self.items["test"])],
                "predicted": [json.dumps([describe(t, q) for q in p], ensure_ascii=False) for t, p in zip(texts, predicted)],
            })
            errors = worst_reviews(texts, [r.quads for r in self.items["test"]], predicted)
        return Evaluation(validation=results.get("valid"), test=results.get("test"), predictions=predictions,
                          fields={"categories": self.categories, "polarities": self.polarities, "errors": errors,
                                  "blend": blend})

    def choose_blend(self, model, results: dict) -> dict:
        """The tagger's scores mixed with a character CRF's marginals (fitted on the training split)
        where the validation split's quadruple F1 says so (``model.blend: auto``); metrics.json's
        ``blend``: the weight and the validation figures that chose it. Sets ``self.char_crf`` (the
        blend's CRF, or None) and ``self.baseline_crf`` (the same fit, for the classical baseline)."""
        self.char_crf = self.baseline_crf = None
        if not self.spans:
            return {"used": False, "why": "per-category data: no spans to tag"}
        if self.cfg.model.blend == "off":
            return {"used": False, "why": "model.blend: off"}
        if "valid" not in results:
            return {"used": False, "why": "the run has no validation split to choose a weight on"}
        started = time.perf_counter()
        crf = fit_char_crf(self.items["train"], list(TAGS))
        tried = {}
        for weight in BLEND_WEIGHTS:
            crf.weight = round(1 - weight, 2)
            tried[weight] = self._report("valid", self._predict(model, "valid", crf))["quadruple_f1"]
        best = max(tried, key=lambda w: (tried[w], w))  # a tie: more of the fine-tuned tagger
        alone = results["valid"]["quadruple_f1"]
        choice = {"used": tried[best] > alone, "metric": "quadruple_f1", "weight": best, "with": "character CRF",
                  "model": alone, "blend": tried[best], "tried": tried, "seconds": time.perf_counter() - started}
        crf.weight = round(1 - best, 2)
        self.baseline_crf = crf
        if choice["used"]:
            self.char_crf = crf
        else:
            choice["why"] = "the blend does not beat the fine-tuned tagger alone on the validation quadruple F1"
        log.info("blend with the character CRF: %s (validation quadruple F1 %.4f alone, %.4f at %.2f fine-tuned)",
                 "used" if choice["used"] else "not used", alone, tried[best], best)
        return choice

    def baselines(self, evaluation: Evaluation) -> dict:
        if not self.items["test"]:
            return {}
        if not self.spans:
            from ...evaluation.aspects_baseline import pairs_baseline

            return {"baselines": {"tfidf_lr_pairs": pairs_baseline(self.items["train"], self.items["test"], self.cfg.training.seed)}}
        metrics, _ = run_aspect_baseline(self.items["train"], self.items["test"], self.cfg.training.seed,
                                         getattr(self, "baseline_crf", None))
        return {"baselines": {"crf_tfidf_lr": metrics}}

    def training_info(self, trainer) -> dict:
        return {"loss": "BIOES tags of aspect and opinion spans + each opinion's category, polarity"
                        + (" (polarity weighted by inverse square-root frequency)" if self.weights else "")
                        + " and aspect link + 0.5 x the per-category pairs", "head_lr": self.head_lr}

    def saved_settings(self) -> dict:
        return {"aspect_categories": self.categories, "aspect_polarities": self.polarities, "aspect_spans": self.spans,
                "aspect_crf": self.cfg.task.crf}

    def save(self, trainer, model_dir: Path) -> None:
        from safetensors.torch import save_file

        from ...files import temporary_beside

        model = trainer.model
        config = model.encoder.config
        for key, value in {"task": self.name, "max_length": self.cfg.model.max_length, **self.saved_settings()}.items():
            setattr(config, f"ecomsft_{key}", value)
        model_dir.mkdir(parents=True, exist_ok=True)
        model.encoder.save_pretrained(str(model_dir), safe_serialization=True)
        with temporary_beside(model_dir / HEADS_FILE) as (_, tmp):
            save_file({k: v.detach().contiguous().cpu() for k, v in model.head_state().items()}, str(tmp))
        self.tokenizer.save_pretrained(str(model_dir))
        if getattr(self, "char_crf", None) is not None:
            self.char_crf.save(model_dir)


TASK = AspectsTask
