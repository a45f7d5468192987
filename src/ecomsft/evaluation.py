"""Scoring a finished run on another labelled file, labels matched by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .data.examples import load_examples
from .data.labels import LabelSet
from .inference.predictor import Predictor, model_folder
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
    from transformers import AutoConfig

    # Data and labels are checked against the run's label set before the model is loaded.
    labels = LabelSet.from_model_config(AutoConfig.from_pretrained(model_folder(run)))
    examples = load_examples(
        data,
        text_column=text_column,
        text_pair_column=text_pair_column,
        label_column=label_column,
        multi_label=labels.multi_label,
        label_delimiter=label_delimiter,
        encoding=encoding,
    )
    frame = examples.frame
    gold = np.asarray(labels.encode(frame["label"].tolist(), examples.source))
    predictor = Predictor(run, batch_size=batch_size)
    pairs = frame["text_pair"].tolist() if "text_pair" in frame else None
    probs = predictor.predict_proba(frame["text"].tolist(), pairs)
    report = full_report(gold, probs, predictor.labels.names, predictor.labels.multi_label, predictor.threshold)
    report["rows"] = len(frame)
    report["dropped_empty"] = examples.dropped_empty
    return report
