"""Scoring and re-ranking candidate lists with a relevance run (cross-encoder) or a retrieval run
(bi-encoder, cosine similarity): ``Ranker(run).rank("cordless drill", [...])``, and whole files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.examples import examples_from_table, table_column
from ..data.pairs import PRODUCT_GUESSES, QUERY_GUESSES
from ..data.reading import read_table
from ..errors import EcomsftError
from ..evaluation.ranking_baselines import cosine_pair_scores, zero_shot_encoder
from ..models.heads import RelevanceHead
from ..run_folder import model_of, trained_model
from ..schema import RunMetrics
from .batch import WRITERS, encode_rows
from .index import load_encoder


def run_task(run: str | Path) -> str:
    """'relevance', 'retrieval' or 'classification', from the run's model folder."""
    folder = model_of(run) or Path(run)
    if (folder / "ecomsft.json").is_file():
        return "retrieval"
    if (folder / "config.json").is_file():
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        if config.get("ecomsft_task") == "relevance":
            return "relevance"
    return "classification"


class Ranker:
    """Scores (query, product) pairs; higher is more relevant. A cross-encoder's score is its
    predicted grade (or expected gain), blended with the bundled encoder's cosine when it was trained
    with ``task.blend_zero_shot``; a bi-encoder's is the cosine of the two embeddings."""

    def __init__(self, run: str | Path, batch_size: int = 64, device: str | None = None):
        folder = trained_model(run)
        self.batch_size = batch_size
        self.run_dir = folder.parent if folder.name == "model" else None
        if (folder / "ecomsft.json").is_file():

            self.kind = "bi-encoder"
            self.encoder, self.encoder_folder = load_encoder(folder)
            return
        config = json.loads((folder / "config.json").read_text(encoding="utf-8")) if (folder / "config.json").is_file() else {}
        if config.get("ecomsft_task") != "relevance":
            raise EcomsftError("not a relevance or retrieval run (train one with task.type: relevance or retrieval); "
                               "a classifier predicts with: ecomsft predict", where=str(run))
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer


        self.kind = "cross-encoder"
        self.head = RelevanceHead.from_dict(config["ecomsft_relevance"])
        self.max_length = int(config.get("ecomsft_max_length") or 128)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = AutoModelForSequenceClassification.from_pretrained(folder, use_safetensors=True).to(self.device).eval()
        self.zero_shot = None
        if self.head.blend:  # trained with task.blend_zero_shot: the score is the blend with the bundled encoder
            self.zero_shot = zero_shot_encoder()

    @property
    def metrics(self) -> dict:
        if self.run_dir is None or not (self.run_dir / "metrics.json").is_file():
            return {}
        return RunMetrics.read(self.run_dir).as_dict()

    def score(self, queries: list[str], products: list[str]) -> np.ndarray:
        queries, products = [str(q) for q in queries], [str(p) for p in products]
        if len(queries) != len(products):
            raise EcomsftError(f"{len(queries)} queries but {len(products)} products")
        if not queries:
            return np.zeros(0)
        if self.kind == "bi-encoder":
            return cosine_pair_scores(self.encoder, queries, products, self.batch_size)
        import torch

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
            out = self.head.blended(out, cosine_pair_scores(self.zero_shot, queries, products, self.batch_size))
        return out

    def rank(self, query: str, candidates: list[str]) -> list[dict]:
        """The candidates best first: ``{"index": position in the input, "product", "score"}``."""
        scores = self.score([query] * len(candidates), candidates)
        order = np.argsort(-scores, kind="stable")
        return [{"index": int(i), "product": candidates[i], "score": float(scores[i])} for i in order]


def rank_file(ranker: Ranker, input: str | Path, output: str | Path, *, text_column: str | None = None,
              text_pair_column: str | None = None) -> int:
    """Score every (query, product) row of ``input``; write it with ``score`` and ``rank`` (1 = best
    within its query) added, rows in the input's order. Rows with an empty query or product get
    neither. The output appears only when completely written."""

    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in WRITERS:
        raise EcomsftError(f"cannot write '{suffix}' files (use one of {', '.join(sorted(WRITERS))})", where=str(output))
    table = read_table(input)
    query_col = table_column(table, text_column, QUERY_GUESSES, "query", "--text-column")
    product_col = table_column(table, text_pair_column, tuple(g for g in PRODUCT_GUESSES if g != query_col),
                               "product", "--text-pair-column")
    examples = examples_from_table(table, text_column=query_col, text_pair_column=product_col, require_labels=False,
                                   empty_text="drop")
    frame = table.frame.copy()
    scores = np.full(len(frame), np.nan)
    rows = examples.frame["_row"].to_numpy()
    scores[rows] = np.round(ranker.score(examples.frame["text"].tolist(), examples.frame["text_pair"].tolist()), 6)
    frame["score"] = scores
    ranks = pd.Series(scores).groupby(frame[query_col].astype(str).to_numpy()).rank(ascending=False, method="first")
    frame["rank"] = ranks.astype("Int64").to_numpy()
    partial = output.with_name(f".{output.name}.partial")
    output.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        frame.to_parquet(partial, index=False)
    else:
        partial.write_bytes(encode_rows(frame, suffix, header=True))
    os.replace(partial, output)
    return len(frame)
