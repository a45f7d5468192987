"""One retrieval run (a bi-encoder), top to bottom: (query, product) pairs, query-grouped split,
sentence-transformers training with in-batch negatives, evaluation by retrieving each held-out
query's products from the whole catalogue, beside BM25 and the zero-shot encoder, run folder.

Training is sentence-transformers' own (``SentenceTransformerTrainer`` with
``MultipleNegativesRankingLoss``: every other product in a batch is a negative, plus the row's hard
negative when the data has one). Queries and products share one encoder, or get one each
(``task.shared_towers: false``, a ``Router`` of two towers).
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pandas as pd

from .config import RunConfig
from .distributed import is_main_process
from .errors import EcomsftError
from .inference.index import embed, exact_top_k
from .models.resolve import loading, resolve_model
from .models.vocab import adapt_vocabulary
from .ranking_metrics import pointwise_report, ranking_report, retrieval_report
from .relevance_run import read_pair_splits
from .run import (RunResult, finish_run, precision_name, prepare_output, removed_on_failure, train_keeping_checkpoints,
                  versions)
from .tasks.grading import Grading

log = logging.getLogger("ecomsft")


def build_bi_encoder(model_path: str, shared_towers: bool, max_length: int):
    """A sentence encoder from any model folder: its own pooling when it is a sentence-transformers
    model, mean pooling otherwise; two towers behind a ``Router`` when not shared."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Router, Transformer

    if shared_towers:
        model = SentenceTransformer(model_path)
    else:
        def tower():
            transformer = Transformer(model_path, max_seq_length=max_length)
            return [transformer, Pooling(transformer.get_embedding_dimension(), "mean")]

        model = SentenceTransformer(modules=[Router.for_query_document(query_modules=tower(), document_modules=tower()),
                                             Normalize()])
    model.max_seq_length = max_length
    return model


def _transformers(model) -> list:
    from sentence_transformers.sentence_transformer.modules import Transformer

    return [m for m in model.modules() if isinstance(m, Transformer)]


def training_pairs(frame: pd.DataFrame, grading: Grading | None, catalog: list[str], seed: int):
    """anchor/positive(/negative) rows: every row, or with grades only the relevant ones. A row
    without a hard negative gets a random catalogue product in its place."""
    from datasets import Dataset

    if grading is not None:
        frame = frame[grading.relevant(grading.values(frame["label"]))]
    columns = {"anchor": frame["text"].tolist(), "positive": frame["text_pair"].tolist()}
    if "negative" in frame:
        rng = np.random.default_rng(seed)
        products = list(dict.fromkeys(text for text in catalog if text))
        negatives = frame["negative"].tolist()
        for i, value in enumerate(negatives):
            positive = columns["positive"][i]
            if value and value != positive:
                continue
            if len(products) < 2 and (not products or products[0] == positive):
                raise EcomsftError("no hard negative can be drawn: the catalogue holds no product other than the "
                                   f"positive '{positive[:60]}'; fill data.negative_column or give a larger catalogue")
            j = int(rng.integers(len(products)))
            if products[j] == positive:  # uniform among the other products, drawn once: never loops
                j = (j + 1 + int(rng.integers(len(products) - 1))) % len(products)
            negatives[i] = products[j]
        columns["negative"] = negatives
    return Dataset.from_dict(columns)


def relevant_products(frame: pd.DataFrame, grading: Grading | None) -> tuple[list[str], list[dict]]:
    """Each query of ``frame`` and its relevant products with their gains (1 each without grades)."""
    queries, gains = [], []
    for query, group in frame.groupby("text", sort=False):
        if grading is None:
            relevant = dict.fromkeys(group["text_pair"], 1.0)
        else:
            values = grading.values(group["label"])
            keep = grading.relevant(values)
            relevant = {p: max(float(g), 1e-6) for p, g in zip(group["text_pair"][keep], grading.gain(values)[keep])}
        if relevant:
            queries.append(query)
            gains.append(relevant)
    return queries, gains


def retrieval_metrics(encoder, queries: list[str], gains: list[dict], catalog: list[str], catalog_vectors: np.ndarray,
                      ks: list[int], batch_size: int) -> dict:
    positions, _ = exact_top_k(embed(encoder, queries, "query", batch_size), catalog_vectors, max(ks))
    return retrieval_report([[catalog[i] for i in row] for row in positions], gains, ks)


def train_retrieval(cfg: RunConfig, *, resume: bool = False) -> RunResult:
    """Fine-tune a bi-encoder on (query, product) pairs and evaluate it by retrieval."""
    import torch
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import set_seed

    from .data.pairs import load_catalog
    from .training import TimeBudget, training_arguments

    started = time.perf_counter()
    output, partial = prepare_output(cfg.output, cfg.overwrite, resume)
    created = not resume and is_main_process()
    ks = sorted(set(cfg.task.ks))
    with removed_on_failure(partial, created):
        splits, data_info = read_pair_splits(cfg, require_labels=False)
        grading = Grading.from_config(cfg.task, splits["train"]["label"]) if "label" in splits["train"] else None
        if cfg.data.catalog:
            catalog = load_catalog(cfg.data.catalog, encoding=cfg.data.encoding)["text"].tolist()
        else:
            catalog = list(dict.fromkeys(pd.concat([part["text_pair"] for part in splits.values()])))
        data_info["catalog_products"] = len(catalog)
        train_set = training_pairs(splits["train"], grading, catalog, cfg.training.seed)
        if len(train_set) < 2:
            raise EcomsftError("fewer than two (query, relevant product) training pairs", where=cfg.data.train)
        data_info["training_pairs"] = len(train_set)
        model_path = resolve_model(cfg.model.name)
        set_seed(cfg.training.seed)
        with loading(cfg.model.name):
            model = build_bi_encoder(model_path, cfg.task.shared_towers, cfg.model.max_length)
        texts = list(dict.fromkeys(list(train_set["anchor"]) + list(train_set["positive"])))
        vocab = {}
        for transformer in _transformers(model):
            vocab = adapt_vocabulary(transformer.tokenizer, transformer.auto_model, texts, cfg.model)
        embedding_lr = cfg.training.embedding_lr or (20 * cfg.training.lr if vocab.get("added_tokens") else None)
        extra = {}
        if not cfg.task.shared_towers:
            extra["router_mapping"] = {"anchor": "query", "positive": "document", "negative": "document"}
        if embedding_lr:
            extra["learning_rate_mapping"] = {r".*word_embeddings.*": embedding_lr}
        partial.mkdir(parents=True, exist_ok=True)
        args = training_arguments(cfg.training, str(partial / "checkpoints"), len(train_set), False,
                                  arguments_class=SentenceTransformerTrainingArguments, group_by_length=False,
                                  batch_sampler=BatchSamplers.NO_DUPLICATES, **extra)
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train_set,
                                             loss=MultipleNegativesRankingLoss(model),
                                             callbacks=[TimeBudget(cfg.training.max_seconds)] if cfg.training.max_seconds else None)

    train_started = time.perf_counter()
    train_keeping_checkpoints(trainer, partial, resume)
    train_seconds = time.perf_counter() - train_started

    eval_started = time.perf_counter()
    batch = cfg.training.eval_batch_size
    test = splits["test"]
    queries, gains = relevant_products(test, grading)
    results = {"test": None, "test_reranking": None}
    baselines: dict = {}
    if queries:
        catalog_vectors = embed(model, catalog, "document", batch, progress=cfg.training.progress_bar)
        results["test"] = retrieval_metrics(model, queries, gains, catalog, catalog_vectors, ks, batch)
        if cfg.baseline and is_main_process():
            from .ranking_baselines import BM25Index, zero_shot_encoder

            bm25 = BM25Index(catalog)
            baselines["bm25"] = retrieval_report([[bm25.texts[i] for i in row] for row in bm25.retrieve(queries, max(ks))],
                                                 gains, ks)
            zero_shot = zero_shot_encoder()
            baselines["zero_shot_cosine"] = retrieval_metrics(
                zero_shot, queries, gains, catalog, embed(zero_shot, catalog, "document", batch), ks, batch)
    reranking_baselines = None
    predictions = None
    if grading is not None and len(test):
        from .ranking_baselines import cosine_pair_scores, fit_grade_line, score_baselines

        scores = cosine_pair_scores(model, test["text"], test["text_pair"], batch)
        values = grading.values(test["label"])
        results["test_reranking"], _ = ranking_report(test["text"], grading.gain(values), grading.relevant(values), scores, ks)
        if not grading.named:
            sample = splits["train"].sample(min(2000, len(splits["train"])), random_state=cfg.training.seed)
            a, b = fit_grade_line(cosine_pair_scores(model, sample["text"], sample["text_pair"], batch),
                                  grading.values(sample["label"]))
            results["test_reranking"].update(pointwise_report(values, a * scores + b))
        predictions = pd.DataFrame({"query": test["text"].to_numpy(), "product": test["text_pair"].to_numpy(),
                                    "gold": test["label"].to_numpy(), "score": np.round(scores, 6)})
        if cfg.baseline and is_main_process():
            reranking_baselines, _ = score_baselines(splits["train"], test, grading, ks, cfg.training.seed,
                                                     corpus=catalog)
    eval_seconds = time.perf_counter() - eval_started

    def save_model(model_dir) -> None:
        model.save(str(model_dir))
        info = {"task": "retrieval", "max_length": cfg.model.max_length, "shared_towers": cfg.task.shared_towers,
                "grading": grading.to_dict() if grading else None}
        (model_dir / "ecomsft.json").write_text(json.dumps(info, indent=2), encoding="utf-8")

    metrics = {
        "task": "retrieval",
        "grading": grading.describe() if grading else "every row is a relevant pair",
        "ks": ks,
        "model": {"name": cfg.model.name, "path": model_path, "max_length": cfg.model.max_length, **vocab,
                  "shared_towers": cfg.task.shared_towers,
                  "parameters": sum(p.numel() for p in model.parameters())},
        "data": data_info,
        "test": results["test"],
        "test_reranking": results["test_reranking"],
        "baselines": baselines or None,
        "baselines_reranking": reranking_baselines,
        "timings": {"train_seconds": train_seconds, "eval_seconds": eval_seconds,
                    "train_samples_per_second": trainer.state.global_step * cfg.training.batch_size
                    * cfg.training.gradient_accumulation_steps / max(train_seconds, 1e-9),
                    "total_seconds": time.perf_counter() - started},
        "training": {"steps": trainer.state.global_step, "epochs": trainer.state.epoch, "loss": "MultipleNegativesRankingLoss",
                     "embedding_lr": embedding_lr, "precision": precision_name(trainer)},
        "versions": versions(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
    }
    return finish_run(partial, output, cfg, metrics, predictions, save_model, trainer)
