"""Baselines a fine-tuned ranker must beat, on the same queries: BM25 (``bm25s``) and the bundled
encoder used zero-shot (cosine similarity of sentence embeddings, ``sentence-transformers``); and,
where the run starts from a model trained as a sentence encoder (the e5 family, ``me5``: it carries
its ``query: ``/``passage: `` prefixes), that model zero-shot too: what fine-tuning it added.

Neither gives grades, so for RMSE each is mapped to grades by a straight line fitted on training
rows (the least-squares ``a * score + b``); rankings do not depend on that map.
"""

from __future__ import annotations

import re

import numpy as np

from ..models.prefixes import give_prompts, text_prefixes
from ..models.resolve import SAFETENSORS_ONLY, bundled_model_path, quiet_transformers
from .ranking import pointwise_report, ranking_report

_WORD = re.compile(r"[0-9a-z]+(?:[.'][0-9a-z]+)*|[\u3400-\u9fff\uf900-\ufaff]+")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def text_tokens(text: str) -> list[str]:
    """Lower-cased words; Chinese runs segmented into words by jieba."""
    tokens: list[str] = []
    for piece in _WORD.findall(str(text).lower()):
        if _CJK.match(piece):
            import jieba

            tokens.extend(w for w in jieba.lcut(piece) if w.strip())
        else:
            tokens.append(piece)
    return tokens


class BM25Index:
    """BM25 over a set of product texts (duplicates count once)."""

    def __init__(self, texts):
        import bm25s

        self.texts = list(dict.fromkeys(str(t) for t in texts))
        self.position = {t: i for i, t in enumerate(self.texts)}
        self.retriever = bm25s.BM25()
        self.retriever.index([text_tokens(t) or [""] for t in self.texts], show_progress=False)

    def pair_scores(self, queries, products) -> np.ndarray:
        """The BM25 score of each (query, product) row; products must be among the indexed texts."""
        queries, products = [str(q) for q in queries], [str(p) for p in products]
        out = np.zeros(len(queries))
        rows_of: dict[str, list[int]] = {}
        for i, q in enumerate(queries):
            rows_of.setdefault(q, []).append(i)
        for query, rows in rows_of.items():
            tokens = [t for t in text_tokens(query) if t in self.retriever.vocab_dict]
            if not tokens:
                continue
            scores = self.retriever.get_scores(tokens)
            out[rows] = scores[[self.position[products[i]] for i in rows]]
        return out

    def retrieve(self, queries, k: int) -> list[list[int]]:
        """For each query, the positions (in ``self.texts``) of its top-k products."""
        k = min(k, len(self.texts))
        results = []
        for query in queries:
            tokens = [t for t in text_tokens(query) if t in self.retriever.vocab_dict]
            if not tokens:
                results.append([])
                continue
            scores = self.retriever.get_scores(tokens)
            top = np.argpartition(-scores, k - 1)[:k]
            results.append([int(i) for i in top[np.argsort(-scores[top], kind="stable")] if scores[i] > 0])
        return results


def cosine_pair_scores(encoder, queries, products, batch_size: int = 64) -> np.ndarray:
    """Cosine similarity of each (query, product) row, every distinct text embedded once (queries
    and products through their own towers where the encoder has two)."""
    queries, products = [str(t) for t in queries], [str(t) for t in products]
    q_texts, p_texts = list(dict.fromkeys(queries)), list(dict.fromkeys(products))
    options = dict(batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    q_vectors, p_vectors = encoder.encode_query(q_texts, **options), encoder.encode_document(p_texts, **options)
    q_pos, p_pos = {t: i for i, t in enumerate(q_texts)}, {t: i for i, t in enumerate(p_texts)}
    q = q_vectors[[q_pos[t] for t in queries]]
    p = p_vectors[[p_pos[t] for t in products]]
    return (q * p).sum(axis=1).astype(float)


def fit_grade_line(scores: np.ndarray, grades: np.ndarray) -> tuple[float, float]:
    """Least-squares (a, b) of ``grade = a * score + b``."""
    scores, grades = np.asarray(scores, dtype=float), np.asarray(grades, dtype=float)
    if np.ptp(scores) == 0:
        return 0.0, float(grades.mean())
    a, b = np.polyfit(scores, grades, 1)
    return float(a), float(b)


ZERO_SHOT_BASE = "zero_shot_base_model"  # the run's own starting model, zero-shot (baselines' key)


def zero_shot_encoder():
    """The bundled all-MiniLM-L6-v2 as a sentence encoder (mean pooling, normalized)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(bundled_model_path(), device="cpu", model_kwargs=SAFETENSORS_ONLY, trust_remote_code=False)


def base_model_encoder(model_path: str | None, max_length: int):
    """The run's starting model as a zero-shot sentence encoder (mean pooling, its own prefixes as
    the query/document prompts) where it was trained as one, i.e. it carries e5 prefixes; else None
    (a masked-LM encoder's mean-pooled states are no ranker worth a row)."""
    from transformers import AutoConfig

    if not model_path or not text_prefixes(AutoConfig.from_pretrained(model_path, trust_remote_code=False)):
        return None
    from sentence_transformers import SentenceTransformer

    with quiet_transformers():
        encoder = SentenceTransformer(model_path, device="cpu", model_kwargs=SAFETENSORS_ONLY, trust_remote_code=False)
    encoder.max_seq_length = max_length
    give_prompts(encoder)
    return encoder


def score_baselines(train, test, grading, ks: list[int], seed: int, corpus=None, calibration_rows: int = 2000,
                    test_cosines=None, base_encoder=None) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """BM25, zero-shot cosine and the training mean on ``test``'s queries: (metrics, test scores).

    ``corpus``: product texts that set BM25's document frequencies (default: the products of both
    frames). Numeric grades also get RMSE/MAE, through a line fitted on up to ``calibration_rows``
    training rows. ``test_cosines``: the zero-shot cosines of ``test``'s rows when already computed.
    ``base_encoder``: the run's own starting model as a sentence encoder (``base_model_encoder``), a row too.
    """
    corpus = list(corpus) if corpus is not None else list(train["text_pair"]) + list(test["text_pair"])
    bm25 = BM25Index(corpus + list(test["text_pair"]))
    encoder = zero_shot_encoder()
    scorers = {
        "bm25": bm25.pair_scores,
        "zero_shot_cosine": lambda q, p: cosine_pair_scores(encoder, q, p),
    }
    if base_encoder is not None:
        scorers[ZERO_SHOT_BASE] = lambda q, p: cosine_pair_scores(base_encoder, q, p)
    sample = train.sample(min(calibration_rows, len(train)), random_state=seed)
    test_values, sample_values = grading.values(test["label"]), grading.values(sample["label"])
    gains, relevant = grading.gain(test_values), grading.relevant(test_values)
    results: dict[str, dict] = {}
    scores: dict[str, np.ndarray] = {}
    for name, scorer in scorers.items():
        given = test_cosines if name == "zero_shot_cosine" else None
        scores[name] = np.asarray(given) if given is not None else scorer(test["text"], test["text_pair"])
        results[name], _ = ranking_report(test["text"], gains, relevant, scores[name], ks)
        if not grading.named:
            a, b = fit_grade_line(scorer(sample["text"], sample["text_pair"]), sample_values)
            results[name].update(pointwise_report(test_values, a * scores[name] + b))
    # Every candidate tied: the expected ranking of a random order, and the RMSE of the mean grade.
    mean = float(grading.values(train["label"]).mean())
    results["train_mean"], _ = ranking_report(test["text"], gains, relevant, np.full(len(test), mean), ks)
    if not grading.named:
        results["train_mean"].update(pointwise_report(test_values, np.full(len(test), mean)))
    return results, scores
