"""One relevance run (a cross-encoder), top to bottom: pairs, query-grouped split, model, training,
ranking evaluation beside BM25 and the zero-shot encoder, run folder.

The same run folder contract as classification (``run.py``): built in ``<output>.partial/``, named
only when finished; the model loads with plain ``AutoModelForSequenceClassification``.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from . import speed
from .config import RunConfig
from .data.pairs import load_pairs
from .data.splitting import split_grouped_by_query
from .distributed import is_main_process
from .errors import EcomsftError
from .models.resolve import loading, resolve_model
from .run import (RunResult, adapt_model, finish_run, precision_name, predict_logits, prepare_output, removed_on_failure,
                  train_keeping_checkpoints, versions)
from .tasks import relevance

log = logging.getLogger("ecomsft")


def read_pair_splits(cfg: RunConfig, require_labels: bool = True) -> tuple[dict[str, pd.DataFrame], dict]:
    """Train/valid/test pairs: the given files, or one file split by whole queries (seeded)."""
    data, seed = cfg.data, cfg.training.seed

    def load(source):
        pairs = load_pairs(source, data, cfg.task.gains, require_labels=require_labels, deduplicate=data.deduplicate)
        for note in pairs.notes:
            log.warning(note)
        return pairs

    train = load(data.train)
    info: dict = {"train_source": train.source, "encoding": train.encoding, "dropped_empty": train.dropped_empty,
                  "dropped_duplicates": train.dropped_duplicates, "averaged_pairs": train.averaged_pairs,
                  "dropped_conflicts": train.dropped_conflicts}
    frame = train.frame
    if data.max_samples and len(frame) > data.max_samples:
        frame, _, _ = split_grouped_by_query(frame, 0.0, 1 - data.max_samples / len(frame), seed)
    splits = {"train": frame}
    for name in ("valid", "test"):
        if getattr(data, name):
            splits[name] = load(getattr(data, name)).frame
    if "valid" not in splits and "test" not in splits:
        splits["train"], splits["valid"], splits["test"] = split_grouped_by_query(frame, data.valid_ratio, data.test_ratio, seed)
    elif "valid" not in splits:
        splits["train"], splits["valid"], _ = split_grouped_by_query(frame, data.valid_ratio, 0.0, seed)
    elif "test" not in splits:
        splits["train"], _, splits["test"] = split_grouped_by_query(frame, 0.0, data.test_ratio, seed)
    info["sizes"] = {name: len(part) for name, part in splits.items()}
    info["queries"] = {name: int(part["text"].nunique()) for name, part in splits.items()}
    train_queries = set(splits["train"]["text"])
    info["queries_also_in_train"] = {name: int(splits[name]["text"].drop_duplicates().isin(train_queries).sum())
                                     for name in ("valid", "test")}
    return splits, info


def _predictions(frame: pd.DataFrame, scores: np.ndarray, baseline_scores: dict[str, np.ndarray]) -> pd.DataFrame:
    out = pd.DataFrame({"query": frame["text"].to_numpy(), "product": frame["text_pair"].to_numpy(),
                        "gold": frame["label"].to_numpy(), "score": np.round(scores, 6)})
    out["rank"] = out.groupby("query", sort=False)["score"].rank(ascending=False, method="first").astype(int)
    for name, values in baseline_scores.items():
        out[f"score_{name}"] = np.round(values, 6)
    return out


def train_relevance(cfg: RunConfig, *, resume: bool = False) -> RunResult:
    """Fine-tune a cross-encoder on graded (query, product) pairs and evaluate it per query."""
    import torch
    from transformers import AutoTokenizer, set_seed

    from .training import RankingTrainer, build_trainer

    started = time.perf_counter()
    output, partial = prepare_output(cfg.output, cfg.overwrite, resume)
    created = not resume and is_main_process()
    ks = sorted(set(cfg.task.ks))
    with removed_on_failure(partial, created):
        splits, data_info = read_pair_splits(cfg)
        if data_info["sizes"]["train"] < 2:
            raise EcomsftError("fewer than two training pairs", where=cfg.data.train)
        head = relevance.RelevanceHead.from_training(cfg.task, splits["train"]["label"])
        log.info("data: %s (queries: %s); %s", ", ".join(f"{k} {v}" for k, v in data_info["sizes"].items()),
                 ", ".join(f"{k} {v}" for k, v in data_info["queries"].items()), head.grading.describe())
        model_path = resolve_model(cfg.model.name)
        speed.set_threads(cfg.training.threads)
        set_seed(cfg.training.seed)
        with loading(cfg.model.name):
            tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=False)
            model = relevance.build_model(model_path, head)
        texts = list(dict.fromkeys(splits["train"]["text"].tolist() + splits["train"]["text_pair"].tolist()))
        model, vocab, embedding_lr = adapt_model(cfg, tokenizer, model, texts)
        trainable_parameters, _ = speed.parameter_counts(model)
        pairwise = cfg.task.pairwise_weight > 0
        datasets = {name: relevance.encode(tokenizer, part, head, cfg.model.max_length, cache=cfg.data.cache_tokenized,
                                           query_ids=pairwise)
                    for name, part in splits.items()}
        partial.mkdir(parents=True, exist_ok=True)
        trainer = build_trainer(
            model, tokenizer, datasets["train"], datasets["valid"], cfg.training, str(partial / "checkpoints"),
            relevance.metrics_function(splits["valid"], head, ks), embedding_lr, tracking_dir=partial,
            metric_for_best_model=f"ndcg@{ks[-1]}", trainer_class=RankingTrainer, pairwise_weight=cfg.task.pairwise_weight,
            target_values=(head.class_values().tolist() if head.kind == "classification" else None),
        )

    train_started = time.perf_counter()
    train_keeping_checkpoints(trainer, partial, resume)
    train_seconds = time.perf_counter() - train_started
    trainer.model = model = speed.finish(trainer.model)

    eval_started = time.perf_counter()
    results, scores = {}, {}
    for name in ("valid", "test"):
        if len(splits[name]):
            logits = predict_logits(trainer, datasets[name])
            scores[name] = head.scores(logits)
            results[name], _ = relevance.evaluate_scores(splits[name], scores[name], head, ks, logits)
    if cfg.task.blend_zero_shot and "valid" in scores and "test" in scores:
        from .ranking_baselines import cosine_pair_scores, zero_shot_encoder

        encoder = zero_shot_encoder()
        cosines = {name: cosine_pair_scores(encoder, splits[name]["text"], splits[name]["text_pair"]) for name in ("valid", "test")}
        head.fit_blend(scores["valid"], cosines["valid"], splits["valid"]["label"])
        scores["blend"] = head.blended(scores["test"], cosines["test"])
        results["test_blend"], _ = relevance.evaluate_scores(splits["test"], scores["blend"], head, ks)
        log.info("blend with the zero-shot cosine (fitted on validation): %s", head.blend)
    eval_seconds = time.perf_counter() - eval_started
    baselines, baseline_scores = None, {}
    if cfg.baseline and "test" in scores and is_main_process():
        from .ranking_baselines import score_baselines

        corpus = pd.concat([part["text_pair"] for part in splits.values()])
        baselines, baseline_scores = score_baselines(splits["train"], splits["test"], head.grading, ks, cfg.training.seed,
                                                     corpus=corpus, test_cosines=cosines["test"] if head.blend else None)

    def save_model(model_dir) -> None:
        trainer.model.config.ecomsft_task = "relevance"
        trainer.model.config.ecomsft_relevance = head.to_dict()
        trainer.model.config.ecomsft_max_length = cfg.model.max_length
        trainer.save_model(str(model_dir))
        tokenizer.save_pretrained(str(model_dir))

    metrics = {
        "task": "relevance",
        "head": head.kind,
        "grading": head.grading.describe(),
        "ks": ks,
        "model": {"name": cfg.model.name, "path": model_path, "max_length": cfg.model.max_length, **vocab,
                  "parameters": speed.parameter_counts(model)[1], "trainable_parameters": trainable_parameters},
        "data": data_info,
        "validation": results.get("valid"),
        "test": results.get("test"),
        "test_blend": results.get("test_blend"),
        "blend": head.blend,
        "baselines": baselines,
        "timings": {"train_seconds": train_seconds, "eval_seconds": eval_seconds,
                    "train_samples_per_second": trainer.state.global_step * cfg.training.batch_size
                    * cfg.training.gradient_accumulation_steps / max(train_seconds, 1e-9),
                    "total_seconds": time.perf_counter() - started},
        "training": {"steps": trainer.state.global_step, "epochs": trainer.state.epoch,
                     "best_checkpoint_metric": trainer.state.best_metric, "embedding_lr": embedding_lr,
                     "loss": ("MSE" if head.kind == "regression" else "cross-entropy")
                     + (f" + {cfg.task.pairwise_weight:g} x RankNet over same-query pairs" if pairwise else ""),
                     "precision": precision_name(trainer)},
        "versions": versions(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
    }
    extra_scores = {"blend": scores["blend"]} if "blend" in scores else {}
    predictions = _predictions(splits["test"], scores["test"], {**extra_scores, **baseline_scores}) if "test" in scores else None
    return finish_run(partial, output, cfg, metrics, predictions, save_model, trainer)
