"""Scoring a finished run on another labelled file, labels matched by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .data.examples import load_examples
from .inference.predictor import Predictor
from .metrics import full_report


def evaluate(
    run: str | Path,
    data: str,
    *,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    label_delimiter: str | None = None,
    encoding: str | None = None,
    batch_size: int = 64,
) -> dict:
    predictor = Predictor(run, batch_size=batch_size)
    examples = load_examples(
        data,
        text_column=text_column,
        text_pair_column=text_pair_column,
        label_column=label_column,
        multi_label=predictor.labels.multi_label,
        label_delimiter=label_delimiter,
        encoding=encoding,
    )
    frame = examples.frame
    gold = np.asarray(predictor.labels.encode(frame["label"].tolist(), examples.source))
    pairs = frame["text_pair"].tolist() if "text_pair" in frame else None
    probs = predictor.predict_proba(frame["text"].tolist(), pairs)
    report = full_report(gold, probs, predictor.labels.names, predictor.labels.multi_label, predictor.threshold)
    report["rows"] = len(frame)
    report["dropped_empty"] = examples.dropped_empty
    return report
