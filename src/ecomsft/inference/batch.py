"""Scoring a file: keep the input columns, add the predicted label and per-class probabilities."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..data.examples import examples_from_table, load_table
from ..errors import EcomsftError
from .predictor import Predictor

WRITERS = {".csv", ".tsv", ".jsonl", ".parquet"}


def write_table(frame, output: Path) -> None:
    """Write by extension into a temporary file renamed at the end, so no half-written file is left."""
    suffix = output.suffix.lower()
    if suffix not in WRITERS:
        raise EcomsftError(f"unsupported output type '{suffix}' (supported: {', '.join(sorted(WRITERS))})", where=str(output))
    if not output.parent.exists():
        raise EcomsftError("output folder does not exist", where=str(output.parent))
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        elif suffix == ".tsv":
            frame.to_csv(tmp, index=False, sep="\t")
        elif suffix == ".jsonl":
            frame.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_parquet(tmp, index=False)
        os.replace(tmp, output)
    finally:
        if tmp.exists():
            tmp.unlink()


def predict_file(
    predictor: Predictor,
    input: str,
    output: str | Path,
    *,
    text_column: str | None = None,
    text_pair_column: str | None = None,
) -> int:
    output = Path(output)
    if output.suffix.lower() not in WRITERS:
        raise EcomsftError(f"unsupported output type '{output.suffix}' (supported: {', '.join(sorted(WRITERS))})", where=str(output))
    table = load_table(input)
    examples = examples_from_table(
        table, text_column=text_column, text_pair_column=text_pair_column, require_labels=False, empty_text="drop"
    )
    frame = table.frame.copy()
    rows = examples.frame["_row"].to_numpy()
    pairs = examples.frame["text_pair"].tolist() if "text_pair" in examples.frame else None
    probs = predictor.predict_proba(examples.frame["text"].tolist(), pairs)
    decided = predictor.decide(probs)
    predicted = np.full(len(frame), None, dtype=object)
    predicted[rows] = ["|".join(d) if isinstance(d, list) else d for d in decided]
    frame["predicted"] = predicted
    for i, name in enumerate(predictor.labels.names):
        column = np.full(len(frame), np.nan)
        column[rows] = np.round(probs[:, i], 6)
        frame[f"prob_{name}"] = column
    write_table(frame, output)
    return len(frame)
