"""``ecomsft data inspect``: what is in a data file before training on it."""

from __future__ import annotations

import numpy as np

from ..data.examples import char_budget, cut_texts, examples_from_table, load_table
from ..data.quality import duplicate_report
from .resolve import resolve_model
from .vocab import coverage


def inspect_data(
    source: str,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    multi_label: bool = False,
    label_delimiter: str | None = None,
    encoding: str | None = None,
    model: str | None = "minilm",
    sample: int = 5000,
) -> dict:
    """Rows, columns, label distribution, text lengths (characters and tokens), empties, duplicates."""
    table = load_table(source, encoding)
    examples = examples_from_table(
        table,
        text_column=text_column,
        label_column=label_column,
        require_labels=False,
        guess_labels=True,
        multi_label=multi_label,
        label_delimiter=label_delimiter,
        empty_text="drop",
    )
    frame = examples.frame
    chars = frame["text"].str.len().to_numpy()
    percentiles = (50, 90, 95, 99)
    info: dict = {
        "source": examples.source,
        "encoding": examples.encoding,
        "rows": len(table.frame),
        "columns": [str(c) for c in table.frame.columns],
        "text_column": examples.text_column,
        "label_column": examples.label_column,
        "empty_texts": examples.dropped_empty,
        "chars": {f"p{p}": float(np.percentile(chars, p)) for p in percentiles} | {"mean": float(chars.mean())},
    }
    if "label" in frame:
        labels = frame["label"].explode() if multi_label else frame["label"]
        info["labels"] = {str(k): int(v) for k, v in labels.value_counts().items()}
    info["duplicates"] = duplicate_report(frame)
    if model:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(resolve_model(model), trust_remote_code=False)
        # Cut like training at the longest budget (512 tokens): token counts above it are moot.
        texts = cut_texts(frame["text"].sample(min(sample, len(frame)), random_state=0).tolist(), char_budget(512))
        lengths = np.array([len(ids) for ids in tokenizer(texts)["input_ids"]])
        cov = coverage(tokenizer, texts)
        info["tokens"] = {
            "model": model,
            "sampled_rows": len(texts),
            **{f"p{p}": float(np.percentile(lengths, p)) for p in percentiles},
            "mean": float(lengths.mean()),
            "unk_rate": cov.unk_rate,
        }
    return info
