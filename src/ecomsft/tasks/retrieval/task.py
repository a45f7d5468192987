"""Retrieval with a bi-encoder: (query, product) pairs, a query-grouped split, sentence-transformers
training with in-batch negatives, evaluation by retrieving each held-out query's products from the
whole catalogue, beside BM25 and the zero-shot encoder.

Training is sentence-transformers' own (``SentenceTransformerTrainer`` with
``MultipleNegativesRankingLoss``: every other product in a batch is a negative, plus the row's hard
negative when the data has one). Queries and products share one encoder, or get one each
(``task.shared_towers: false``, a ``Router`` of two towers). The validation split chooses the best
checkpoint (NDCG@largest k of its queries against the catalogue) and drives early stopping.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ...data.pairs import load_catalog, read_pair_splits
from ...errors import EcomsftError
from ...evaluation.ranking import pointwise_report, ranking_report, retrieval_report
from ...evaluation.ranking_baselines import (
    ZERO_SHOT_BASE,
    BM25Index,
    base_model_encoder,
    cosine_pair_scores,
    fit_grade_line,
    score_baselines,
    zero_shot_encoder,
)
from ...models.embedding import embed, exact_top_k
from ...models.heads import Grading
from ...models.prefixes import give_prompts
from ...models.resolve import SEARCH_MODEL, quiet_transformers
from ...training import trainable
from ...training.trainer import run_callbacks, training_arguments
from ..base import Evaluation, Task
from .config import RetrievalSpec

log = logging.getLogger("ecomsft")


class RetrievalTask(RetrievalSpec, Task):
    auto_model = SEARCH_MODEL

    def metric_for_best_model(self) -> str:
        return self.cfg.training.metric_for_best_model or f"ndcg@{max(self.cfg.task.ks)}"

    def load_data(self) -> dict:
        cfg = self.cfg
        self.splits, info = read_pair_splits(cfg, require_labels=False)
        train = self.splits["train"]
        self.grading = Grading.from_config(cfg.task, train["label"]) if "label" in train else None
        if cfg.data.catalog:
            self.catalog = load_catalog(cfg.data.catalog, encoding=cfg.data.encoding)["text"].tolist()
        else:
            self.catalog = list(dict.fromkeys(pd.concat([part["text_pair"] for part in self.splits.values()])))
        info["catalog_products"] = len(self.catalog)
        self.train_set = training_pairs(train, self.grading, self.catalog, cfg.training.seed)
        if len(self.train_set) < 2:
            raise EcomsftError("fewer than two (query, relevant product) training pairs", where=str(cfg.data.train))
        info["training_pairs"] = len(self.train_set)
        self.ks = sorted(set(cfg.task.ks))
        self.queries, self.gains = relevant_products(self.splits["test"], self.grading)  # the test queries' relevant products
        return info

    def build_model(self, model_path: str):
        return build_bi_encoder(model_path, self.cfg.task.shared_towers, self.cfg.model.max_length)

    def language_models(self, model):
        return [(t.tokenizer, t.auto_model) for t in transformer_modules(model)]

    def vocabulary_texts(self) -> list[str]:
        return list(dict.fromkeys(list(self.train_set["anchor"]) + list(self.train_set["positive"])))

    def prepare_model(self, model, added_tokens: int):
        training = self.cfg.training
        for _, language_model in self.language_models(model):
            trainable.freeze(language_model, trainable.embeddings_frozen(training.freeze_embeddings, language_model, added_tokens),
                         training.freeze_layers)
        return model

    def _validation_evaluator(self):
        """NDCG@k (and the rest) of the validation queries against the catalogue, or None."""
        from sentence_transformers.sentence_transformer.evaluation import (
            InformationRetrievalEvaluator,
        )

        queries, gains = relevant_products(self.splits["valid"], self.grading)
        if not queries:
            return None
        position = {text: str(i) for i, text in enumerate(self.catalog)}
        relevant = {str(q): {position[p] for p in g if p in position} for q, g in enumerate(gains)}
        relevant = {q: docs for q, docs in relevant.items() if docs}
        if not relevant:
            return None
        return InformationRetrievalEvaluator(
            queries={q: queries[int(q)] for q in relevant}, corpus={i: t for t, i in position.items()},
            relevant_docs=relevant, ndcg_at_k=self.ks, mrr_at_k=[max(self.ks)], map_at_k=[max(self.ks)],
            accuracy_at_k=self.ks, precision_recall_at_k=self.ks, batch_size=self.cfg.training.eval_batch_size,
            name="valid", write_csv=False)

    def build_trainer(self, model, workdir: Path, embedding_lr):
        from sentence_transformers import (
            SentenceTransformerTrainer,
            SentenceTransformerTrainingArguments,
        )
        from sentence_transformers.base.sampler import BatchSamplers
        from sentence_transformers.sentence_transformer.losses import (
            MultipleNegativesRankingLoss,
        )


        cfg = self.cfg
        extra = {}
        if not cfg.task.shared_towers:
            extra["router_mapping"] = {"anchor": "query", "positive": "document", "negative": "document"}
        if embedding_lr:
            extra["learning_rate_mapping"] = {r".*word_embeddings.*": embedding_lr}
        prompts = model.prompts if any(model.prompts.values()) else None
        if prompts:  # the training pairs as the model embeds them
            extra["prompts"] = {"anchor": prompts["query"], "positive": prompts["document"],
                                "negative": prompts["document"]}
        evaluator = self._validation_evaluator()
        metric = self.metric_for_best_model()
        args = training_arguments(cfg.training, str(workdir / "checkpoints"), len(self.train_set), evaluator is not None,
                                  arguments_class=SentenceTransformerTrainingArguments, group_by_length=False,
                                  batch_sampler=BatchSamplers.NO_DUPLICATES,
                                  metric_for_best_model=f"valid_cosine_{metric}", **extra)
        return SentenceTransformerTrainer(model=model, args=args, train_dataset=self.train_set, evaluator=evaluator,
                                          loss=MultipleNegativesRankingLoss(model),
                                          callbacks=run_callbacks(cfg.training, workdir, evaluator is not None))

    def evaluate(self, trainer) -> Evaluation:
        model, cfg, grading, ks, catalog = trainer.model, self.cfg, self.grading, self.ks, self.catalog
        batch = cfg.training.eval_batch_size
        test = self.splits["test"]
        results = {"test": None, "test_reranking": None, "valid": None}
        if self.queries:
            vectors = embed(model, catalog, "document", batch, progress=cfg.training.progress_bar)
            results["test"] = retrieval_metrics(model, self.queries, self.gains, catalog, vectors, ks, batch)
            valid_queries, valid_gains = relevant_products(self.splits["valid"], grading)
            if valid_queries:
                results["valid"] = retrieval_metrics(model, valid_queries, valid_gains, catalog, vectors, ks, batch)
        predictions = None
        if grading is not None and len(test):
            scores = cosine_pair_scores(model, test["text"], test["text_pair"], batch)
            values = grading.values(test["label"])
            results["test_reranking"], _ = ranking_report(test["text"], grading.gain(values), grading.relevant(values),
                                                          scores, ks)
            if not grading.named:
                sample = self.splits["train"].sample(min(2000, len(self.splits["train"])), random_state=cfg.training.seed)
                a, b = fit_grade_line(cosine_pair_scores(model, sample["text"], sample["text_pair"], batch),
                                      grading.values(sample["label"]))
                results["test_reranking"].update(pointwise_report(values, a * scores + b))
            predictions = pd.DataFrame({"query": test["text"].to_numpy(), "product": test["text_pair"].to_numpy(),
                                        "gold": test["label"].to_numpy(), "score": np.round(scores, 6)})
        return Evaluation(validation=results["valid"], test=results["test"], predictions=predictions,
                          fields={"grading": grading.describe() if grading else "every row is a relevant pair", "ks": ks,
                                  "test_reranking": results["test_reranking"]})

    def baselines(self, evaluation: Evaluation) -> dict:
        ks, batch, catalog = self.ks, self.cfg.training.eval_batch_size, self.catalog
        baselines: dict = {}
        base = base_model_encoder(self.base_model, self.cfg.model.max_length)
        if self.queries:
            bm25 = BM25Index(catalog)
            baselines["bm25"] = retrieval_report([[bm25.texts[i] for i in row] for row in bm25.retrieve(self.queries, max(ks))],
                                                 self.gains, ks)
            for name, zero_shot in (("zero_shot_cosine", zero_shot_encoder()), (ZERO_SHOT_BASE, base)):
                if zero_shot is not None:
                    baselines[name] = retrieval_metrics(
                        zero_shot, self.queries, self.gains, catalog, embed(zero_shot, catalog, "document", batch), ks, batch)
        reranking = None
        if self.grading is not None and len(self.splits["test"]):
            reranking, _ = score_baselines(self.splits["train"], self.splits["test"], self.grading, ks, self.cfg.training.seed,
                                           corpus=catalog, base_encoder=base)
        return {"baselines": baselines or None, "baselines_reranking": reranking}

    def training_info(self, trainer) -> dict:
        return {"loss": "MultipleNegativesRankingLoss"}

    def model_info(self, model) -> dict:
        return {"shared_towers": self.cfg.task.shared_towers}

    def save(self, trainer, model_dir: Path) -> None:
        trainer.model.save(str(model_dir))
        info = {"task": "retrieval", "max_length": self.cfg.model.max_length, "shared_towers": self.cfg.task.shared_towers,
                "grading": self.grading.to_dict() if self.grading else None}
        (model_dir / "ecomsft.json").write_text(json.dumps(info, indent=2), encoding="utf-8")


def build_bi_encoder(model_path: str, shared_towers: bool, max_length: int):
    """A sentence encoder from any model folder: its own pooling when it is a sentence-transformers
    model, mean pooling otherwise; two towers behind a ``Router`` when not shared."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import (
        Normalize,
        Pooling,
        Router,
        Transformer,
    )

    def tower():
        never = {"trust_remote_code": False}  # no code from the model's folder runs, for any of its parts
        transformer = Transformer(model_path, max_seq_length=max_length, model_kwargs=never, config_kwargs=never,
                                  processor_kwargs=never)
        return [transformer, Pooling(transformer.get_embedding_dimension(), "mean")]

    with quiet_transformers():
        model = SentenceTransformer(model_path, trust_remote_code=False) if shared_towers else SentenceTransformer(
            modules=[Router.for_query_document(query_modules=tower(), document_modules=tower()), Normalize()])
    model.max_seq_length = max_length
    give_prompts(model)  # e5: "query: " and "passage: ", kept by model.save for index and search
    return model


def transformer_modules(model) -> list:
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


TASK = RetrievalTask
