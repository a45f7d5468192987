"""From a raw table to validated examples: column mapping, empty texts, label parsing.

Everything is checked here, at the edge, with the file, line and column of the first bad value;
the rest of ecomsft trusts what comes out.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import pandas as pd

from ..errors import EcomsftError
from .builtin import is_builtin, read_builtin
from .reading import Table, read_table

TEXT_COLUMN_GUESSES = ("text", "review", "sentence", "content", "comment", "review_text", "review text", "title")
LABEL_COLUMN_GUESSES = ("label", "labels", "sentiment", "rating", "stars", "category", "cat", "class")
DELIMITER_GUESSES = ("|", ";", ",")
# A token covers a few characters (an English word piece about 4, a Chinese character 1); no
# natural text needs more than this many characters per token to fill a model's token budget, so
# texts are cut to ``max_length * CHARS_PER_TOKEN`` characters before tokenizing: a 50 MB text
# would otherwise be tokenized whole (gigabytes) only for all but the first tokens to be dropped.
CHARS_PER_TOKEN = 16


def char_budget(max_length: int | None) -> int | None:
    """The characters a text keeps before tokenizing for a budget of ``max_length`` tokens."""
    return None if not max_length else int(max_length) * CHARS_PER_TOKEN


def cut_texts(texts: list[str], max_chars: int | None) -> list[str]:
    """Texts longer than ``max_chars`` keep their first and last ``max_chars / 2`` characters (for
    head+tail truncation, ``model.head_share``; either half is more than a model reads)."""
    if not max_chars:
        return texts
    half = max_chars // 2
    return [t[:half] + t[-half:] if len(t) > max_chars else t for t in texts]


@dataclass
class Examples:
    """Validated examples: columns ``text``, optional ``text_pair``, optional ``label``."""

    frame: pd.DataFrame
    source: str
    encoding: str | None
    text_column: str
    label_column: str | None
    dropped_empty: int = 0
    cut_texts: int = 0
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.frame)


def load_table(source: str, encoding: str | None = None) -> Table:
    return read_builtin(source) if is_builtin(source) else read_table(source, encoding)


def guess_column(columns: list[str], guesses: tuple[str, ...], taken: set[str] = frozenset()) -> str | None:
    """The first of ``guesses`` among ``columns`` (case-insensitive), leaving out those ``taken``."""
    lowered = {str(c).lower().strip(): str(c) for c in columns if str(c) not in taken}
    return next((lowered[g] for g in guesses if g in lowered), None)


def pick_column(columns: list[str], source: str, wanted: str | None, guesses: tuple[str, ...], role: str, flag: str) -> str:
    """The column named ``wanted``, else the first of ``guesses`` present (case-insensitive)."""
    columns = [str(c) for c in columns]
    if wanted is not None:
        if wanted not in columns:
            raise EcomsftError(
                f"no {role} column '{wanted}' (columns: {', '.join(columns)})", where=source
            )
        return wanted
    found = guess_column(columns, guesses)
    if found is not None:
        return found
    raise EcomsftError(
        f"cannot tell which column holds the {role} (columns: {', '.join(columns)}); pass {flag}",
        where=source,
    )


def table_column(table: Table, wanted: str | None, guesses: tuple[str, ...], role: str, flag: str) -> str:
    return pick_column(list(table.frame.columns), table.source, wanted, guesses, role, flag)


def is_missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def label_name(value) -> str:
    """Labels are names: 1, 1.0 and "1" are the same label '1'."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        stripped = value.strip()
        try:
            number = float(stripped)
        except ValueError:
            return stripped
        return str(int(number)) if number.is_integer() and "." in stripped else stripped
    return str(value)


def _say_relabelled(raw: pd.Series, names: pd.Series, source: str) -> None:
    """One warning when a label written as a number with a decimal point was read as an integer
    ('2.0' -> '2', as a JSON 2.0 is): never silent. A label such as '01' is a name, kept as written."""
    changed = raw.map(lambda v: isinstance(v, str)) & (raw.astype(str).str.strip() != names)
    if changed.any():
        first = raw[changed].iloc[0]
        logging.getLogger("ecomsft").warning(
            "%s: %d labels written with a decimal point are read as integers ('%s' -> '%s'), as 1, 1.0 and \"1\" "
            "name one label; other labels (such as '01') are kept as written", source, int(changed.sum()), first.strip(),
            names[changed].iloc[0])


def _multi_labels(value, delimiter: str | None) -> list[str]:
    if isinstance(value, (list, tuple)):
        return sorted({label_name(v) for v in value if not is_missing(v)})
    text = str(value)
    if delimiter is None:
        delimiter = next((d for d in DELIMITER_GUESSES if d in text), None)
    parts = text.split(delimiter) if delimiter else [text]
    return sorted({label_name(p) for p in parts if p.strip()})


def load_examples(source: str, *, encoding: str | None = None, **options) -> Examples:
    """Read ``source`` and return validated examples, or raise one ``EcomsftError`` naming the place.

    ``options`` are those of ``examples_from_table``.
    """
    return examples_from_table(load_table(source, encoding), **options)


def examples_from_table(
    table: Table,
    *,
    text_column: str | None = None,
    text_pair_column: str | None = None,
    label_column: str | None = None,
    require_labels: bool = True,
    guess_labels: bool = False,
    multi_label: bool = False,
    label_delimiter: str | None = None,
    empty_text: str = "drop",
    max_chars: int | None = None,
) -> Examples:
    """``max_chars``: texts (and text pairs) longer than this are cut to it (counted in ``cut_texts``)."""
    frame = table.frame
    text_col = table_column(table, text_column, TEXT_COLUMN_GUESSES, "text", "--text-column")
    out = pd.DataFrame({"text": frame[text_col].map(lambda v: "" if is_missing(v) else str(v))})
    out["_row"] = range(len(frame))
    if text_pair_column is not None:
        pair_col = table_column(table, text_pair_column, (), "text pair", "--text-pair-column")
        out["text_pair"] = frame[pair_col].map(lambda v: "" if is_missing(v) else str(v))

    label_col = None
    if require_labels or guess_labels or label_column is not None:
        try:
            label_col = table_column(table, label_column, LABEL_COLUMN_GUESSES, "label", "--label-column")
        except EcomsftError:
            if require_labels or label_column is not None:
                raise
        if label_col is not None:
            raw = frame[label_col]
            missing = raw.map(is_missing)
            if missing.any():
                row = int(missing.to_numpy().nonzero()[0][0])
                raise EcomsftError(
                    f"empty label ({int(missing.sum())} row(s) in all); fill or remove them",
                    where=table.where(row, label_col),
                )
            if multi_label:
                out["label"] = raw.map(lambda v: _multi_labels(v, label_delimiter))
            else:
                bad = raw.map(lambda v: isinstance(v, (list, tuple, dict)))
                if bad.any():
                    row = int(bad.to_numpy().nonzero()[0][0])
                    raise EcomsftError(
                        "a list of labels in a single-label task; set task.multi_label: true",
                        where=table.where(row, label_col),
                    )
                out["label"] = raw.map(label_name)
                _say_relabelled(raw, out["label"], table.source)

    empty = out["text"].str.strip() == ""
    if "text_pair" in out:
        empty |= out["text_pair"].str.strip() == ""
    dropped = int(empty.sum())
    notes = []
    if dropped:
        row = int(empty.to_numpy().nonzero()[0][0])
        if empty_text == "fail":
            raise EcomsftError(
                f"empty or whitespace-only text ({dropped} row(s) in all; set data.empty_text: drop to skip them)",
                where=table.where(row, text_col),
            )
        notes.append(f"{table.source}: dropped {dropped} row(s) with empty text (first at {table.where(row)})")
        out = out[~empty]
    if out.empty:
        raise EcomsftError("no rows left with non-empty text", where=table.source)
    cut = 0
    if max_chars:
        for column in [c for c in ("text", "text_pair") if c in out]:
            long = out[column].str.len() > max_chars
            cut += int(long.sum())
            if long.any():
                out.loc[long, column] = cut_texts(out.loc[long, column].tolist(), max_chars)
        if cut:
            notes.append(f"{table.source}: cut {cut} text(s) longer than {max_chars:,} characters "
                         "(more than the model reads) before tokenizing")
    return Examples(
        frame=out.reset_index(drop=True),
        source=table.source,
        encoding=table.encoding,
        text_column=text_col,
        label_column=label_col,
        dropped_empty=dropped,
        cut_texts=cut,
        notes=notes,
    )
