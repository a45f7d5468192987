"""The classical baseline of aspect-level review analysis, on the same split as the fine-tuned model:

1. a linear-chain CRF (sklearn-crfsuite, the features of extraction's baseline) tags aspect and
   opinion spans over characters (BIOES, labels ``A`` and ``O``);
2. each opinion is paired with the nearest aspect in its clause (between the same punctuation), or
   none (implicit);
3. tfidf-lr classifiers (character 1-3-grams of the opinion, its aspect and three characters around
   the opinion) give each opinion its category and polarity;
4. ``pairs``: a tfidf-lr multi-label classifier of whole reviews into (category, polarity) pairs,
   the figure quoted for shops that label pairs only.
"""

from __future__ import annotations

import re
import time

import numpy as np

from ..data.aspects import AspectReview, Quad
from ..data.tagging import Span, spans_to_tags, tags_to_spans
from ..models.char_crf import CharCrf, char_features
from ..models.spans import bioes_tags, non_overlapping
from .aspects import aspect_report

CLAUSE = re.compile(r"[，。！？；,.!?;~～\s]+")
CONTEXT = 3


def review_tags(review: AspectReview) -> list[str]:
    """The BIOES tags of a review's characters (labels ``A`` and ``O``): what both CRFs learn."""
    return spans_to_tags(_spans(review), len(review.text), "BIOES")


def _spans(review: AspectReview) -> list[Span]:
    spans = {(*q.aspect, "A") for q in review.quads if q.aspect} | {(*q.opinion, "O") for q in review.quads if q.opinion}
    return non_overlapping([Span(*span) for span in sorted(spans)])


def _clause(text: str, position: int) -> tuple[int, int]:
    start = 0
    for match in CLAUSE.finditer(text):
        if match.end() <= position:
            start = match.end()
        elif match.start() > position:
            return start, match.start()
    return start, len(text)


def nearest_aspect(text: str, opinion: tuple[int, int], aspects: list[tuple[int, int]]) -> tuple[int, int] | None:
    """The aspect span closest to ``opinion`` within its clause, or None."""
    low, high = _clause(text, opinion[0])
    inside = [a for a in aspects if low <= a[0] and a[1] <= high]
    if not inside:
        return None
    return min(inside, key=lambda a: (min(abs(a[0] - opinion[1]), abs(opinion[0] - a[1])), a[0]))


def opinion_text(text: str, opinion: tuple[int, int] | None, aspect: tuple[int, int] | None) -> str:
    """What the category and polarity classifiers read of one opinion."""
    if opinion is None:
        around = text[aspect[0]:aspect[1]] if aspect else text
    else:
        around = text[max(opinion[0] - CONTEXT, 0):opinion[1] + CONTEXT]
    return " | ".join([text[opinion[0]:opinion[1]] if opinion else "_", text[aspect[0]:aspect[1]] if aspect else "_", around])


def _tfidf_lr(seed: int):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1),
                         LogisticRegression(max_iter=2000, C=10.0, class_weight="balanced", random_state=seed))


def fit_char_crf(train: list[AspectReview], tags: list[str]) -> CharCrf:
    return CharCrf.fit([r.text for r in train], [review_tags(r) for r in train], tags)


def run_aspect_baseline(train: list[AspectReview], test: list[AspectReview], seed: int = 42,
                        crf: CharCrf | None = None) -> tuple[dict, list[list[Quad]]]:
    """Fit on ``train`` (the character CRF: ``crf`` where the run fitted it already), score on
    ``test``: (metrics with the pairs-only classifier's beside, predicted quads)."""
    if crf is None or crf.crfsuite is None:
        crf = fit_char_crf(train, bioes_tags(["A", "O"]))
    started = time.perf_counter() - crf.fit_seconds  # the CRF's fit counts, whoever made it
    examples = [(opinion_text(r.text, q.opinion, q.aspect), q.category, q.polarity) for r in train for q in r.quads]
    category, polarity = _tfidf_lr(seed), _tfidf_lr(seed)
    category.fit([e[0] for e in examples], [e[1] for e in examples])
    if len({e[2] for e in examples}) > 1:
        polarity.fit([e[0] for e in examples], [e[2] for e in examples])
    else:
        polarity = None
    train_seconds = time.perf_counter() - started

    predicted = []
    for review, tags in zip(test, crf.crfsuite.predict([char_features(r.text) for r in test])):
        spans, _ = tags_to_spans(list(tags), "BIOES")
        aspects = [(s.start, s.end) for s in spans if s.label == "A"]
        opinions = [(s.start, s.end) for s in spans if s.label == "O"]
        links = [(nearest_aspect(review.text, o, aspects), o) for o in opinions]
        inputs = [opinion_text(review.text, o, a) for a, o in links]
        if not inputs:
            predicted.append([])
            continue
        cats = category.predict(inputs)
        pols = polarity.predict(inputs) if polarity is not None else [examples[0][2]] * len(inputs)
        predicted.append([Quad(a, o, str(c), str(p)) for (a, o), c, p in zip(links, cats, pols)])
    metrics = aspect_report([r.quads for r in test], predicted)
    metrics.update({"train_seconds": train_seconds, "pairs_only": pairs_baseline(train, test, seed)})
    return metrics, predicted


def pairs_baseline(train: list[AspectReview], test: list[AspectReview], seed: int = 42) -> dict:
    """A tfidf-lr multi-label classifier of reviews into (category, polarity) pairs."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.preprocessing import MultiLabelBinarizer

    binarizer = MultiLabelBinarizer()
    targets = binarizer.fit_transform([sorted({f"{q.category}\t{q.polarity}" for q in r.quads}) for r in train])
    keep = targets.sum(axis=0) > 0
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    model = OneVsRestClassifier(LogisticRegression(max_iter=2000, C=10.0, random_state=seed))
    model.fit(vectorizer.fit_transform([r.text for r in train]), targets[:, keep])
    classes = np.asarray(binarizer.classes_)[keep]
    chosen = model.predict(vectorizer.transform([r.text for r in test]))
    predicted = [[Quad(None, None, *name.split("\t")) for name in classes[row.astype(bool)]] for row in chosen]
    report = aspect_report([r.quads for r in test], predicted, spans=False)
    return {key: report[key] for key in ("pair_f1_micro", "pair_f1_macro", "negative_recall")}
