"""Embeddings of queries and products with a sentence-transformers encoder, and the exact top k by
inner product (FAISS's flat index from ``FAISS_FROM`` products where installed: less memory per
query batch, the same results), as the retrieval task's evaluation and the product index both use them."""

from __future__ import annotations

import numpy as np

FAISS_FROM = 100_000


def embed(encoder, texts: list[str], kind: str, batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """Unit-length float32 embeddings of queries (``kind="query"``) or products (``"document"``)."""
    encode = encoder.encode_query if kind == "query" else encoder.encode_document
    vectors = encode(list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                     show_progress_bar=progress)
    return np.ascontiguousarray(vectors, dtype=np.float32)


def exact_top_k(queries: np.ndarray, products: np.ndarray, k: int, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(positions, scores) of the k products with the highest inner product, best first."""
    k = min(k, len(products))
    if k <= 0:
        return np.zeros((len(queries), 0), dtype=np.int64), np.zeros((len(queries), 0), dtype=np.float32)
    if len(products) >= FAISS_FROM:
        try:
            import faiss
        except ImportError:
            faiss = None
        if faiss is not None:
            index = faiss.IndexFlatIP(products.shape[1])
            index.add(np.ascontiguousarray(products, dtype=np.float32))
            scores, positions = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
            return positions.astype(np.int64), scores
    positions = np.zeros((len(queries), k), dtype=np.int64)
    scores = np.zeros((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), chunk):
        sims = queries[start:start + chunk] @ products.T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        top_scores = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        positions[start:start + chunk] = np.take_along_axis(top, order, axis=1)
        scores[start:start + chunk] = np.take_along_axis(top_scores, order, axis=1)
    return positions, scores
