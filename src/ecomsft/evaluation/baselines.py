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


def run_tfidf_lr(train_texts, train_y, test_texts, test_y, n_classes: int, multi_label=False, threshold=0.5, seed=42):
    """Fit on the training split, score the test split.

    Returns (metrics with ``train_seconds`` and ``infer_samples_per_second``, the fitted pipeline).
    """
    started = time.perf_counter()
    model = build_tfidf_lr(list(train_texts), multi_label, seed)
    model.fit(list(train_texts), np.asarray(train_y))
    train_seconds = time.perf_counter() - started
    test_texts = list(test_texts)
    started = time.perf_counter()
    probs = model.predict_proba(test_texts)
    infer = len(test_texts) / max(time.perf_counter() - started, 1e-9)
    if not multi_label and probs.shape[1] != n_classes:
        # A class absent from training gets probability 0 in its column.
        full = np.zeros((len(probs), n_classes))
        full[:, model.classes_] = probs
        probs = full
    metrics = scalar_metrics(np.asarray(test_y), probs, multi_label, threshold)
    metrics.update(train_seconds=train_seconds, infer_samples_per_second=infer)
    return metrics, model
