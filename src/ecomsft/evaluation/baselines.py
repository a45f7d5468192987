"""The classical baseline every run is compared with: TF-IDF features and logistic regression.

Character n-grams for Chinese (no word boundaries to rely on), word uni- and bigrams otherwise.
"""

from __future__ import annotations

import re
import time

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline

from ..models.lexical import LexicalModel
from .classification import scalar_metrics

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def cjk_share(texts: list[str], sample: int = 2000) -> float:
    chars = "".join(texts[:sample])
    return len(_CJK.findall(chars)) / max(1, len(chars))


def build_tfidf_lr(texts: list[str], multi_label: bool = False, seed: int = 42):
    # Terms seen in two texts or more; on a handful of texts every term may be seen once.
    min_df = 2 if len(texts) >= 100 else 1
    if cjk_share(texts) > 0.2:
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=min_df, sublinear_tf=True, max_features=300_000)
    else:
        vectorizer = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), min_df=min_df, sublinear_tf=True, max_features=300_000)
    classifier = LogisticRegression(C=4.0, max_iter=2000, random_state=seed)
    if multi_label:
        classifier = OneVsRestClassifier(classifier)
    return make_pipeline(vectorizer, classifier)


def fit_tfidf_lr(train_texts, train_y, n_labels: int, multi_label: bool = False, seed: int = 42) -> tuple[LexicalModel, float]:
    """The baseline fitted on the training split, in the form a run keeps; and its seconds."""
    started = time.perf_counter()
    pipeline = build_tfidf_lr(list(train_texts), multi_label, seed)
    pipeline.fit(list(train_texts), np.asarray(train_y))
    return LexicalModel.from_pipeline(pipeline, n_labels, multi_label), time.perf_counter() - started


def score_tfidf_lr(model: LexicalModel, test_texts, test_y, threshold: float = 0.5) -> tuple[dict, np.ndarray]:
    """Its test metrics (with ``infer_samples_per_second``) and probabilities."""
    test_texts = list(test_texts)
    started = time.perf_counter()
    probs = model.predict_proba(test_texts)
    infer = len(test_texts) / max(time.perf_counter() - started, 1e-9)
    metrics = scalar_metrics(np.asarray(test_y), probs, model.multi_label, threshold)
    metrics["infer_samples_per_second"] = infer
    return metrics, probs
