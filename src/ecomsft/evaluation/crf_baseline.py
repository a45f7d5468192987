"""The classical baseline of extraction: a linear-chain CRF (sklearn-crfsuite, L-BFGS with L1+L2)
over character windows, scored by the same entity metrics as the fine-tuned model, as tfidf-lr is
for classification."""

from __future__ import annotations

import time

from ..data.tagging import Span, spans_to_tags, tags_to_spans
from ..models.char_crf import crfsuite_model, sequence_features
from .entities import entity_report, token_accuracy


def run_crf(train: list[tuple[list[str], list[Span]]], test: list[tuple[list[str], list[Span]]], labels: list[str],
            scheme: str = "BIOES", max_iterations: int = 100, seed: int = 42) -> tuple[dict, object, list[list[Span]]]:
    """Fit a CRF on (tokens, spans) and score it on ``test``: (metrics, the model, predicted spans)."""
    started = time.perf_counter()
    crf = crfsuite_model(max_iterations)
    crf.fit([sequence_features(tokens) for tokens, _ in train], [spans_to_tags(spans, len(tokens), scheme) for tokens, spans in train])
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predicted_tags = crf.predict([sequence_features(tokens) for tokens, _ in test])
    infer = len(test) / max(time.perf_counter() - started, 1e-9)
    predicted = [tags_to_spans(tags, scheme)[0] for tags in predicted_tags]
    gold_tags = [spans_to_tags(spans, len(tokens), scheme) for tokens, spans in test]
    metrics = entity_report([[s.as_tuple() for s in spans] for _, spans in test],
                            [[s.as_tuple() for s in spans] for spans in predicted], labels)
    metrics.update({"token_accuracy": token_accuracy(gold_tags, [list(t) for t in predicted_tags]),
                    "train_seconds": train_seconds, "infer_samples_per_second": infer, "seed": seed})
    return metrics, crf, predicted
