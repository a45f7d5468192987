"""Search relevance with a cross-encoder: graded (query, product) pairs, a query-grouped split,
ranking evaluation per query beside BM25 and the zero-shot encoder. The model loads with plain
``AutoModelForSequenceClassification``; ``ecomsft rank`` and ``/v1/rank`` use it."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ...data.pairs import read_pair_splits
from ...errors import EcomsftError
from ...evaluation.ranking_baselines import (
    base_model_encoder,
    cosine_pair_scores,
    score_baselines,
    zero_shot_encoder,
)
from ...models.heads import RelevanceHead
from ...models.prefixes import text_prefixes
from ...models.resolve import SEARCH_MODEL
from ...training.trainer import RankingTrainer, build_trainer, predict_logits
from ..base import Evaluation, Task
from .config import RelevanceSpec
from .model import build_model, encode, evaluate_scores, metrics_function

log = logging.getLogger("ecomsft")


class RelevanceTask(RelevanceSpec, Task):
    auto_model = SEARCH_MODEL

    def metric_for_best_model(self) -> str:
        return self.cfg.training.metric_for_best_model or f"ndcg@{max(self.cfg.task.ks)}"

    def load_data(self) -> dict:
        self.splits, info = read_pair_splits(self.cfg)
        if info["sizes"]["train"] < 2:
            raise EcomsftError("fewer than two training pairs", where=self.cfg.data.train)
        self.head = RelevanceHead.from_training(self.cfg.task, self.splits["train"]["label"])
        self.ks = sorted(set(self.cfg.task.ks))
        log.info("queries: %s; %s", ", ".join(f"{k} {v}" for k, v in info["queries"].items()), self.head.grading.describe())
        return info

    def build_model(self, model_path: str):
        from transformers import AutoTokenizer


        self.tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=False)
        return build_model(model_path, self.head)

    def vocabulary_texts(self) -> list[str]:
        train = self.splits["train"]
        return list(dict.fromkeys(train["text"].tolist() + train["text_pair"].tolist()))

    def build_trainer(self, model, workdir: Path, embedding_lr):
        cfg, head = self.cfg, self.head
        pairwise = cfg.task.pairwise_weight > 0
        prefixes = text_prefixes(model.config)
        self.datasets = {name: encode(self.tokenizer, part, head, cfg.model.max_length, cache=cfg.data.cache_tokenized,
                                      query_ids=pairwise, prefixes=prefixes)
                         for name, part in self.splits.items()}
        return build_trainer(
            model, self.tokenizer, self.datasets["train"], self.datasets["valid"], cfg.training, str(workdir / "checkpoints"),
            metrics_function(self.splits["valid"], head, self.ks), embedding_lr, tracking_dir=workdir,
            metric_for_best_model=self.metric_for_best_model(), trainer_class=RankingTrainer,
            pairwise_weight=cfg.task.pairwise_weight,
            target_values=(head.class_values().tolist() if head.kind == "classification" else None),
        )

    def evaluate(self, trainer) -> Evaluation:
        head, ks, splits = self.head, self.ks, self.splits
        results, self.scores = {}, {}
        for name in ("valid", "test"):
            if len(splits[name]):
                logits = predict_logits(trainer, self.datasets[name])
                self.scores[name] = head.scores(logits)
                results[name], _ = evaluate_scores(splits[name], self.scores[name], head, ks, logits)
        self.cosines = None
        choice = self.choose_blend(results)  # sets self.cosines where it scored the zero-shot encoder
        if head.blend and "test" in self.scores:
            self.scores["blend"] = head.blended(self.scores["test"], self.cosines["test"])
            results["test_blend"], _ = evaluate_scores(splits["test"], self.scores["blend"], head, ks)
        evaluation = Evaluation(validation=results.get("valid"), test=results.get("test"),
                                fields={"head": head.kind, "grading": head.grading.describe(), "ks": ks,
                                        "test_blend": results.get("test_blend"), "blend": head.blend,
                                        "blend_choice": choice})
        if "test" in self.scores:
            extra = {"blend": self.scores["blend"]} if "blend" in self.scores else {}
            evaluation.predictions = _predictions(splits["test"], self.scores["test"], extra)
        return evaluation

    def choose_blend(self, results: dict) -> dict:
        """The cross-encoder blended with the zero-shot cosine where the validation queries say so
        (``model.blend: auto``), always (``task.blend_zero_shot: true``) or never; sets ``head.blend``
        and returns metrics.json's ``blend_choice``: the validation figures that chose."""
        forced, splits, head = self.cfg.task.blend_zero_shot, self.splits, self.head
        if forced is False or (forced is None and self.cfg.model.blend == "off"):
            return {"used": False, "why": "task.blend_zero_shot: false" if forced is False else "model.blend: off"}
        if "valid" not in self.scores:
            return {"used": False, "why": "the run has no validation split to fit a blend on"}
        encoder = zero_shot_encoder()
        self.cosines = {name: cosine_pair_scores(encoder, splits[name]["text"], splits[name]["text_pair"])
                        for name in self.scores}
        head.fit_blend(self.scores["valid"], self.cosines["valid"], splits["valid"]["label"])
        blended, _ = evaluate_scores(splits["valid"], head.blended(self.scores["valid"], self.cosines["valid"]), head, self.ks)
        metric = self.metric_for_best_model().removeprefix("eval_")
        if metric not in blended:
            metric = f"ndcg@{max(self.ks)}"
        alone = results["valid"][metric]
        lower = metric in ("rmse", "mae", "loss")
        better = blended[metric] < alone if lower else blended[metric] > alone
        choice = {"used": bool(forced or better), "metric": metric, "model": alone, "blend": blended[metric],
                  "weights": dict(head.blend)}
        if not choice["used"]:
            head.blend = None
            choice["why"] = f"the blend does not beat the cross-encoder alone on the validation {metric}"
        log.info("blend with the zero-shot cosine: %s (validation %s %.4f alone, %.4f blended)",
                 "used" if choice["used"] else "not used", metric, alone, blended[metric])
        return choice

    def baselines(self, evaluation: Evaluation) -> dict:
        if "test" not in self.scores:
            return {}
        corpus = pd.concat([part["text_pair"] for part in self.splits.values()])
        baselines, scores = score_baselines(self.splits["train"], self.splits["test"], self.head.grading, self.ks,
                                            self.cfg.training.seed, corpus=corpus,
                                            test_cosines=(self.cosines or {}).get("test"),
                                            base_encoder=base_model_encoder(self.base_model, self.cfg.model.max_length))
        for name, values in scores.items():  # each baseline's scores beside the model's in predictions.csv
            evaluation.predictions[f"score_{name}"] = np.round(values, 6)
        return {"baselines": baselines}

    def training_info(self, trainer) -> dict:
        pairwise = self.cfg.task.pairwise_weight
        return {"loss": ("MSE" if self.head.kind == "regression" else "cross-entropy")
                + (f" + {pairwise:g} x RankNet over same-query pairs" if pairwise > 0 else "")}

    def saved_settings(self) -> dict:
        return {"relevance": self.head.to_dict()}


def _predictions(frame: pd.DataFrame, scores: np.ndarray, extra_scores: dict[str, np.ndarray]) -> pd.DataFrame:
    out = pd.DataFrame({"query": frame["text"].to_numpy(), "product": frame["text_pair"].to_numpy(),
                        "gold": frame["label"].to_numpy(), "score": np.round(scores, 6)})
    out["rank"] = out.groupby("query", sort=False)["score"].rank(ascending=False, method="first").astype(int)
    for name, values in extra_scores.items():
        out[f"score_{name}"] = np.round(values, 6)
    return out


TASK = RelevanceTask
