"""Scoring and re-ranking candidate lists with a relevance run (cross-encoder) or a retrieval run
(bi-encoder, cosine similarity): ``Ranker(run).rank("cordless drill", [...])``, and whole files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ...config import DataConfig
from ...data.examples import char_budget, cut_texts, examples_from_table, table_column
from ...data.pairs import PRODUCT_GUESSES, QUERY_GUESSES, load_pairs
from ...errors import EcomsftError
from ...evaluation.ranking import pointwise_report, ranking_report
from ...evaluation.ranking_baselines import cosine_pair_scores, zero_shot_encoder
from ...files import atomic_writer
from ...inference.base import Inference
from ...inference.file_scoring import encode_rows, iter_chunks, score_file
from ...models.heads import Grading, RelevanceHead
from ...models.prefixes import prefixed, text_prefixes
from ...run_folder import trained_model
from .index import load_encoder


class Ranker(Inference):
    """Scores (query, product) pairs; higher is more relevant. A cross-encoder's score is its
    predicted grade (or expected gain), blended with the bundled encoder's cosine where training chose
    the blend on its validation queries (``blend=False``: the cross-encoder alone); a bi-encoder's is
    the cosine of the two embeddings."""

    tasks = ("relevance", "retrieval")
    # How each task's runs score pairs, and what to do with them.
    kinds = {"relevance": "cross-encoder", "retrieval": "bi-encoder"}
    use = {"relevance": "ecomsft rank RUN --input FILE --output FILE (score (query, product) pairs)",
           "retrieval": "ecomsft index RUN --catalog FILE --output INDEX, then ecomsft search INDEX \"query\""}
    route = "/v1/rank"
    serves = 'this run ranks products: POST /v1/rank with {"query": ..., "candidates": [...]}'

    def __init__(self, run: str | Path, batch_size: int = 64, device: str | None = None, blend: bool = True):
        folder = trained_model(run)
        self.task = self.require(run)
        self.kind = self.kinds[self.task]
        self.batch_size = batch_size
        self.run_dir = folder.parent if folder.name == "model" else None
        if self.kind == "bi-encoder":
            self.encoder, self.encoder_folder = load_encoder(folder)
            return
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.head = RelevanceHead.from_dict(config["ecomsft_relevance"])
        self.max_length = int(config.get("ecomsft_max_length") or 128)
        self.prefixes = text_prefixes(config)  # as in training (e5: "query: ", "passage: ")
        self.tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = AutoModelForSequenceClassification.from_pretrained(folder, use_safetensors=True, trust_remote_code=False).to(self.device).eval()
        self.zero_shot = None
        if not blend:
            self.head.blend = None
        if self.head.blend:  # training chose the blend: the score mixes in the bundled encoder's cosine
            self.zero_shot = zero_shot_encoder()

    @classmethod
    def load(cls, run: str | Path, *, batch_size: int = 64, backend: str = "torch", blend: bool = True, **options) -> "Ranker":
        return cls(run, batch_size=batch_size, blend=blend)

    def score(self, queries: list[str], products: list[str]) -> np.ndarray:
        limit = char_budget(self.max_length if self.kind == "cross-encoder" else self.encoder.max_seq_length)
        queries, products = cut_texts([str(q) for q in queries], limit), cut_texts([str(p) for p in products], limit)
        if len(queries) != len(products):
            raise EcomsftError(f"{len(queries)} queries but {len(products)} products")
        if not queries:
            return np.zeros(0)
        if self.kind == "bi-encoder":
            return cosine_pair_scores(self.encoder, queries, products, self.batch_size)
        import torch

        blend_inputs = (queries, products)
        queries, products = prefixed(self.prefixes, queries, products)
        order = np.argsort([len(q) + len(p) for q, p in zip(queries, products)], kind="stable")
        out = np.zeros(len(queries))
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            batch = self.tokenizer([queries[i] for i in idx], [products[i] for i in idx], truncation=True,
                                   max_length=self.max_length, padding=True, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                logits = self.model(**batch).logits.float().cpu().numpy()
            out[idx] = self.head.scores(logits)
        if self.zero_shot is not None:
            out = self.head.blended(out, cosine_pair_scores(self.zero_shot, *blend_inputs, self.batch_size))
        return out

    def rank(self, query: str, candidates: list[str]) -> list[dict]:
        """The candidates best first: ``{"index": position in the input, "product", "score"}``."""
        scores = self.score([query] * len(candidates), candidates)
        order = np.argsort(-scores, kind="stable")
        return [{"index": int(i), "product": candidates[i], "score": float(scores[i])} for i in order]

    # the registry's surface -------------------------------------------------------------------
    def predict_batch(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        return self.score([q for q, _ in pairs], [p for _, p in pairs])

    def answer(self, texts: list[str]) -> list[list[dict]]:
        """``ecomsft predict RUN TEXT...`` (and the web interface's "try"): each text is a query on
        its first line and the products to rank on the lines after it; answered best first."""
        answers = []
        for text in texts:
            lines = [line.strip() for line in str(text).splitlines() if line.strip()]
            if len(lines) < 2:
                raise EcomsftError("a ranking run answers a query on the first line with the products on the lines after "
                                   "it ranked; for a file of queries and products: ecomsft rank RUN --input FILE")
            answers.append(self.rank(lines[0], lines[1:]))
        return answers

    @classmethod
    def predict_file(cls, run: str | Path, input: str | Path, output: str | Path, *, text_column: str | None = None,
                     text_pair_column: str | None = None, batch_size: int = 64, chunk_rows: int = 10_000,
                     resume: bool = False, progress: bool = False, blend: bool = True, **_unused) -> int:
        """Every query's candidates scored and ranked (``ecomsft rank``)."""
        return rank_file(cls(run, batch_size=batch_size, blend=blend), input, output, text_column=text_column,
                         text_pair_column=text_pair_column, chunk_rows=chunk_rows, resume=resume, progress=progress)

    def describe(self) -> dict:
        blend = getattr(getattr(self, "head", None), "blend", None)  # a bi-encoder has no head
        return {"task": self.task, "labels": None,
                "blend": {"used": True, "weights": blend, "with": "zero-shot cosine"} if blend else {"used": False}}

    def grading(self) -> Grading | None:
        """The grades the run was trained with (None: a retrieval run trained on pairs alone)."""
        if self.kind == "cross-encoder":
            return self.head.grading
        saved = json.loads((Path(self.encoder_folder) / "ecomsft.json").read_text(encoding="utf-8"))["grading"]
        return Grading.from_dict(saved) if saved is not None else None

    @classmethod
    def evaluate_file(cls, run: str | Path, data: str, *, text_column: str | None = None,
                      text_pair_column: str | None = None, label_column: str | None = None, encoding: str | None = None,
                      batch_size: int = 64, blend: bool = True, **_unused) -> dict:
        """Ranking metrics on another graded (query, product) file, judged with the grading the run
        was trained with."""
        ranker = cls(run, batch_size=batch_size, blend=blend)
        grading = ranker.grading()
        if grading is None:
            raise EcomsftError("this retrieval run was trained without grades; there is nothing to judge ranks by",
                               where=str(run))
        pairs = load_pairs(data, DataConfig(train=data, text_column=text_column, text_pair_column=text_pair_column,
                                            label_column=label_column, encoding=encoding), grading.gains)
        frame = pairs.frame
        scores = ranker.score(frame["text"].tolist(), frame["text_pair"].tolist())
        values = grading.values(frame["label"])
        ks = (ranker.metrics or {}).get("ks") or [5, 10]
        report, _ = ranking_report(frame["text"], grading.gain(values), grading.relevant(values), scores, ks)
        if ranker.kind == "cross-encoder" and not grading.named and ranker.head.kind == "regression":
            report.update(pointwise_report(values, scores))
        report["rows"] = len(frame)
        report["dropped_empty"] = pairs.dropped_empty
        return report


def rank_file(ranker: Ranker, input: str | Path, output: str | Path, *, text_column: str | None = None,
              text_pair_column: str | None = None, chunk_rows: int = 10_000, resume: bool = False,
              progress: bool = False) -> int:
    """Score every (query, product) row of ``input``; write it with ``score`` and ``rank`` (1 = best
    within its query) added, rows in the input's order. Rows with an empty query or product get
    neither. Scored a chunk at a time and resumable like ``predict --input``; the ranks come from a
    last pass over the scores (a query's rows may lie in different chunks), which keeps only an
    8-byte hash of each row's query and its score in memory. The output appears only when whole."""
    columns: dict[str, str] = {}

    def score(table) -> pd.DataFrame:
        if not columns:  # the first chunk fixes which columns hold the query and the product
            columns["query"] = table_column(table, text_column, QUERY_GUESSES, "query", "--text-column")
            columns["product"] = table_column(table, text_pair_column,
                                              tuple(g for g in PRODUCT_GUESSES if g != columns["query"]),
                                              "product", "--text-pair-column")
        frame = table.frame.copy()
        scores = np.full(len(frame), np.nan)
        if len(frame):
            examples = examples_from_table(table, text_column=columns["query"], text_pair_column=columns["product"],
                                           require_labels=False, empty_text="drop")
            rows = examples.frame["_row"].to_numpy()
            if len(rows):
                scores[rows] = np.round(ranker.score(examples.frame["text"].tolist(),
                                                     examples.frame["text_pair"].tolist()), 6)
        frame["score"] = scores
        return frame

    def add_ranks(partial: Path, suffix: str) -> None:
        hashes, scores = [], []
        for table in iter_chunks(partial, chunk_rows, suffix):
            frame = table.frame
            hashes.append(pd.util.hash_pandas_object(frame[columns["query"]].astype(str), index=False).to_numpy())
            scores.append(pd.to_numeric(frame["score"], errors="coerce").to_numpy(dtype=float))
        if not hashes:
            return
        ranks = pd.Series(np.concatenate(scores)).groupby(np.concatenate(hashes)).rank(ascending=False, method="first")
        ranks = ranks.astype("Int64").to_numpy()
        start = 0
        with atomic_writer(partial) as handle:  # the work file rewritten whole, with its ranks
            if suffix == ".parquet":
                import pyarrow as pa
                import pyarrow.parquet as pq

                writer = None
                try:
                    for table in iter_chunks(partial, chunk_rows, suffix):
                        frame = table.frame.assign(rank=ranks[start:start + len(table.frame)])
                        start += len(frame)
                        arrow = pa.Table.from_pandas(frame, preserve_index=False)
                        writer = writer or pq.ParquetWriter(handle, arrow.schema)
                        writer.write_table(arrow.cast(writer.schema))
                finally:
                    if writer is not None:
                        writer.close()
            else:
                for index, table in enumerate(iter_chunks(partial, chunk_rows, suffix)):
                    frame = table.frame.assign(rank=ranks[start:start + len(table.frame)])
                    start += len(frame)
                    handle.write(encode_rows(frame, suffix, header=index == 0))

    return score_file(score, input, output, chunk_rows=chunk_rows, resume=resume, progress=progress, finish=add_ranks)


READER = Ranker
