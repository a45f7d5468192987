"""Embedding indexes of product catalogues: build once with a bi-encoder, search many times.

An index folder holds ``embeddings.npy`` (unit-length float32 rows), ``products.parquet`` (id and
text, in the same order) and ``index.json`` (the encoder it was built with). Search is exact: one
matrix product with numpy, or FAISS's exact inner-product index when ``faiss`` is installed and the
catalogue holds ``FAISS_FROM`` products or more (less memory per query batch, same results).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ... import run_folder
from ...data.pairs import load_catalog
from ...errors import EcomsftError
from ...models.embedding import FAISS_FROM, embed, exact_top_k
from ...models.prefixes import give_prompts
from ...models.resolve import SAFETENSORS_ONLY, loading, resolve_model

INDEX_MARKER = "index.json"


def load_encoder(run_or_model: str | Path):
    """A retrieval run's bi-encoder, a sentence-transformers folder, or a model alias (zero-shot)."""
    from sentence_transformers import SentenceTransformer

    path = Path(run_or_model)
    folder = run_folder.model_of(path)
    if folder is not None:
        info = folder / "ecomsft.json"
        if (folder / "config.json").is_file() and not (folder / "modules.json").is_file():
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
            if config.get("ecomsft_relevance") or config.get("id2label"):  # a cross-encoder or a classifier
                raise EcomsftError("this run is a classifier or a cross-encoder, not a bi-encoder; "
                                   "build indexes with a retrieval run (task.type: retrieval) or a model such as minilm",
                                   where=str(path))
        with loading(str(folder)):
            model = SentenceTransformer(str(folder), device=None, model_kwargs=SAFETENSORS_ONLY, trust_remote_code=False)
        give_prompts(model)
        if info.is_file():
            model.max_seq_length = json.loads(info.read_text(encoding="utf-8")).get("max_length", model.max_seq_length)
        return model, str(folder)
    if path.absolute().name and path.absolute().with_name(path.absolute().name + ".partial").exists():
        raise EcomsftError("this run did not finish (see its .partial folder)", where=str(path))

    resolved = resolve_model(str(run_or_model))
    with loading(str(run_or_model)):
        model = SentenceTransformer(resolved, device=None, model_kwargs=SAFETENSORS_ONLY, trust_remote_code=False)
    give_prompts(model)
    return model, resolved


def build_index(run_or_model: str | Path, catalog: str, output: str | Path, *, id_column: str | None = None,
                text_column: str | None = None, batch_size: int = 64, overwrite: bool = False,
                progress: bool = False) -> dict:
    """Embed every product of ``catalog`` into the index folder ``output``; returns its summary."""

    folder = run_folder.RunFolder(output).prepare(overwrite, resume=False)
    with folder.removed_on_failure():
        products = load_catalog(catalog, id_column=id_column, text_column=text_column)
        encoder, encoder_path = load_encoder(run_or_model)
        started = time.perf_counter()
        vectors = embed(encoder, products["text"].tolist(), "document", batch_size, progress)
        seconds = time.perf_counter() - started
        partial = folder.partial
        np.save(partial / "embeddings.npy", vectors)
        products.to_parquet(partial / "products.parquet", index=False)
    # A local run or folder relative to the index; an alias or hub id as given (resolved when searching).
    stored = _stored_path(encoder_path, Path(output)) if Path(run_or_model).exists() else str(run_or_model)
    info = {"encoder": stored, "run": str(run_or_model), "catalog": str(catalog),
            "products": len(products), "dimensions": int(vectors.shape[1]), "embed_seconds": seconds,
            "search": "faiss" if len(products) >= FAISS_FROM and _has_faiss() else "numpy"}
    folder.write(INDEX_MARKER, json.dumps(info, indent=2, ensure_ascii=False))
    folder.finish("index")
    return info


def _stored_path(encoder: str, index_folder: Path) -> str:
    """A local encoder folder as a path relative to the index folder (both may move together, and
    search works from any working directory); a hub id as it is."""
    path = Path(encoder)
    if not path.exists():
        return encoder
    return os.path.relpath(path.resolve(), index_folder.resolve())


def _encoder_location(stored: str, index_folder: Path) -> str:
    """Where the encoder of an index is: relative to the index folder, else as stored (an absolute
    path, a hub id, or an index written before paths were stored relative to it)."""
    beside = index_folder / stored
    return str(beside) if not Path(stored).is_absolute() and beside.exists() else stored


def _has_faiss() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


class Index:
    """A built index, loaded for searching: ``Index(folder).search(["cordless drill"], k=10)``."""

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        if not (folder / INDEX_MARKER).is_file():
            raise EcomsftError("not an index folder (no index.json); build one with: ecomsft index RUN --catalog FILE",
                               where=str(folder))
        self.info = json.loads((folder / INDEX_MARKER).read_text(encoding="utf-8"))
        self.vectors = np.load(folder / "embeddings.npy", mmap_mode="r")
        self.products = pd.read_parquet(folder / "products.parquet")
        self.encoder, _ = load_encoder(_encoder_location(self.info["encoder"], folder))

    def search(self, queries: list[str], k: int = 10) -> list[list[dict]]:
        """For each query, its top-k products: ``{"rank", "id", "text", "score"}``."""
        if k < 1:
            raise EcomsftError(f"top-k must be at least 1 (got {k})")
        positions, scores = exact_top_k(embed(self.encoder, queries, "query"), np.asarray(self.vectors), k)
        ids, texts = self.products["id"].to_numpy(), self.products["text"].to_numpy()
        return [[{"rank": r + 1, "id": str(ids[p]), "text": str(texts[p]), "score": float(s)}
                 for r, (p, s) in enumerate(zip(row, row_scores))] for row, row_scores in zip(positions, scores)]
