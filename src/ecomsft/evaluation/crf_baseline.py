"""The classical baseline of extraction: a linear-chain CRF (sklearn-crfsuite, L-BFGS with L1+L2)
over character windows, scored by the same entity metrics as the fine-tuned model, as tfidf-lr is
for classification."""

from __future__ import annotations

import time

from ..data.tagging import Span, spans_to_tags, tags_to_spans
from .entities import entity_report, token_accuracy

WINDOW = 2  # characters on each side


def _kind(ch: str) -> str:
    if ch.isspace():
        return "space"
    if ch.isdigit():
        return "digit"
    if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf":
        return "cjk"
    if ch.isalpha():
        return "upper" if ch.isupper() else "alpha"
    return "punct"


def token_features(tokens: list[str], i: int) -> dict[str, object]:
    """Unigrams, bigrams and trigrams of the characters (lower-cased) in a window of +-2, their
    kinds (CJK, Latin, digit, ...), and the position."""
    padded = ["<s>"] * WINDOW + [t.lower() for t in tokens] + ["</s>"] * WINDOW
    kinds = ["<s>"] * WINDOW + [_kind(t[:1] or " ") for t in tokens] + ["</s>"] * WINDOW
    j = i + WINDOW
    features: dict[str, object] = {"bias": 1.0, "first": i == 0, "last": i == len(tokens) - 1}
    for k in range(-WINDOW, WINDOW + 1):
        features[f"c[{k}]"] = padded[j + k]
        features[f"k[{k}]"] = kinds[j + k]
    for k in range(-WINDOW, WINDOW):
        features[f"c[{k}:{k + 2}]"] = padded[j + k] + padded[j + k + 1]
    for k in range(-WINDOW, WINDOW - 1):
        features[f"c[{k}:{k + 3}]"] = "".join(padded[j + k:j + k + 3])
    return features


def run_crf(train: list[tuple[list[str], list[Span]]], test: list[tuple[list[str], list[Span]]], labels: list[str],
            scheme: str = "BIOES", max_iterations: int = 100, seed: int = 42) -> tuple[dict, object, list[list[Span]]]:
    """Fit a CRF on (tokens, spans) and score it on ``test``: (metrics, the model, predicted spans)."""
    import sklearn_crfsuite

    def features(tokens):
        return [token_features(tokens, i) for i in range(len(tokens))]

    started = time.perf_counter()
    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.1, c2=0.1, max_iterations=max_iterations,
                               all_possible_transitions=True)
    crf.fit([features(tokens) for tokens, _ in train], [spans_to_tags(spans, len(tokens), scheme) for tokens, spans in train])
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predicted_tags = crf.predict([features(tokens) for tokens, _ in test])
    infer = len(test) / max(time.perf_counter() - started, 1e-9)
    predicted = [tags_to_spans(tags, scheme)[0] for tags in predicted_tags]
    gold_tags = [spans_to_tags(spans, len(tokens), scheme) for tokens, spans in test]
    metrics = entity_report([[s.as_tuple() for s in spans] for _, spans in test],
                            [[s.as_tuple() for s in spans] for spans in predicted], labels)
    metrics.update({"token_accuracy": token_accuracy(gold_tags, [list(t) for t in predicted_tags]),
                    "train_seconds": train_seconds, "infer_samples_per_second": infer, "seed": seed})
    return metrics, crf, predicted
