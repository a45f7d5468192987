"""(query, product, grade) rows for relevance and retrieval, and product catalogues.

Checked here, at the edge, with the file, line and column of the first bad value: grades that are
not numbers, named grades without a gain, the same (query, product) pair graded twice, empty or
duplicate-id catalogues. Everything after trusts what comes out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import EcomsftError
from .examples import char_budget, examples_from_table, is_missing, load_table, table_column
from .splitting import split_grouped_by_query

log = logging.getLogger("ecomsft")

QUERY_GUESSES = ("query", "search_term", "search term", "search", "keyword", "keywords", "q", "anchor", "question")
PRODUCT_GUESSES = ("product", "product_title", "product title", "title", "item", "item_title", "document", "doc",
                   "positive", "product_text", "text", "name")
GRADE_GUESSES = ("relevance", "label", "grade", "score", "esci_label", "relevance_score", "rating")
ID_GUESSES = ("id", "product_id", "product_uid", "item_id", "sku", "asin", "doc_id")


@dataclass
class Pairs:
    """Columns ``text`` (query), ``text_pair`` (product), optional ``label`` (float grade or grade
    name) and ``negative`` (a hard-negative product)."""

    frame: pd.DataFrame
    source: str
    encoding: str | None
    notes: list[str] = field(default_factory=list)
    dropped_empty: int = 0
    averaged_pairs: int = 0
    dropped_conflicts: int = 0
    dropped_duplicates: int = 0


def _optional_column(table, wanted, guesses, role, flag):
    try:
        return table_column(table, wanted, guesses, role, flag)
    except EcomsftError:
        if wanted is not None:
            raise
        return None


def load_pairs(source: str, data, gains: dict[str, float] | None, *, require_labels: bool = True,
               deduplicate: bool = True, max_chars: int | None = None) -> Pairs:
    """Read query-product rows; ``data`` is the run's DataConfig (columns, encoding, empty texts);
    texts longer than ``max_chars`` are cut to it."""
    table = load_table(source, data.encoding)
    query_col = table_column(table, data.text_column, QUERY_GUESSES, "query", "--text-column")
    product_col = table_column(table, data.text_pair_column, tuple(g for g in PRODUCT_GUESSES if g != query_col),
                               "product", "--text-pair-column")
    label_col = (table_column if require_labels else _optional_column)(
        table, data.label_column, GRADE_GUESSES, "grade (relevance label)", "--label-column")
    examples = examples_from_table(table, text_column=query_col, text_pair_column=product_col, label_column=label_col,
                                   require_labels=label_col is not None, empty_text=data.empty_text, max_chars=max_chars)
    frame = examples.frame
    if label_col is not None:
        frame["label"] = _checked_grades(table, frame, label_col, gains)
    else:
        frame = frame.drop(columns=["label"], errors="ignore")
    if data.negative_column is not None:
        neg_col = table_column(table, data.negative_column, (), "hard-negative", "--set data.negative_column")
        negatives = table.frame[neg_col].to_numpy()[frame["_row"].to_numpy()]
        frame["negative"] = ["" if is_missing(v) else str(v) for v in negatives]
    pairs = Pairs(frame, examples.source, examples.encoding, list(examples.notes), examples.dropped_empty)
    if "label" in frame and deduplicate:
        _merge_duplicate_pairs(pairs, table, label_col, gains, data.drop_conflicts)
    pairs.frame = pairs.frame.reset_index(drop=True)
    return pairs


def _checked_grades(table, frame: pd.DataFrame, label_col: str, gains):
    labels = frame["label"]
    if gains is not None:
        known = set(gains)
        unknown = ~labels.isin(known)
        if unknown.any():
            i = int(np.flatnonzero(unknown.to_numpy())[0])
            raise EcomsftError(
                f"grade {labels.iloc[i]!r} has no gain in task.gains (known: {', '.join(sorted(known))})",
                where=table.where(int(frame["_row"].iloc[i]), label_col))
        return labels
    numbers = pd.to_numeric(labels, errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers.fillna(0))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise EcomsftError(
            f"grade {labels.iloc[i]!r} is not a number ({int(bad.sum())} row(s) in all); named grades "
            "need their gains, e.g. --set 'task.gains={Exact: 1, Substitute: 0.1, Irrelevant: 0}'",
            where=table.where(int(frame["_row"].iloc[i]), label_col))
    return numbers.astype(float)


def _merge_duplicate_pairs(pairs: Pairs, table, label_col: str, gains, drop_conflicts: bool) -> None:
    """The same (query, product) twice: exact repeats dropped; numeric grades that differ averaged
    (several raters, as in Home Depot's file); named grades that differ dropped, or an error."""
    frame = pairs.frame
    key = frame["text"].str.strip() + "\x1f" + frame["text_pair"].str.strip()
    exact = pd.DataFrame({"key": key, "label": frame["label"].astype(str)}).duplicated()
    pairs.dropped_duplicates = int(exact.sum())
    frame, key = frame[~exact.to_numpy()], key[~exact.to_numpy()]
    repeated = key.duplicated(keep=False).to_numpy()
    if not repeated.any():
        pairs.frame = frame
        return
    if gains is None:
        means = frame.groupby(key.to_numpy())["label"].transform("mean")
        first = ~key.duplicated().to_numpy()
        pairs.averaged_pairs = int((repeated & first).sum())
        frame = frame.assign(label=means.to_numpy())[first]
        pairs.notes.append(f"{pairs.source}: {pairs.averaged_pairs} (query, product) pair(s) graded differently "
                           "more than once; their grades were averaged")
    else:
        if not drop_conflicts:
            i = int(np.flatnonzero(key.duplicated().to_numpy())[0])
            raise EcomsftError("this (query, product) pair was graded differently before; set data.drop_conflicts: "
                               "true to drop such pairs", where=table.where(int(frame["_row"].iloc[i]), label_col))
        pairs.dropped_conflicts = int(repeated.sum())
        frame = frame[~repeated]
        pairs.notes.append(f"{pairs.source}: dropped {pairs.dropped_conflicts} row(s) of (query, product) pairs "
                           "graded differently")
    pairs.frame = frame


def load_catalog(source: str, *, id_column: str | None = None, text_column: str | None = None,
                 encoding: str | None = None) -> pd.DataFrame:
    """Products to search: columns ``id`` and ``text``. Without an id column, a product is its text."""
    table = load_table(source, encoding)
    text_col = table_column(table, text_column, PRODUCT_GUESSES, "product text", "--text-column")
    id_col = _optional_column(table, id_column, tuple(g for g in ID_GUESSES if g != text_col), "product id", "--id-column")
    texts = table.frame[text_col].map(lambda v: "" if is_missing(v) else str(v))
    keep = (texts.str.strip() != "").to_numpy()
    if id_col is None:
        ids = texts
    else:
        raw = table.frame[id_col]
        ids = raw.map(lambda v: "" if is_missing(v) else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)))
        missing = (ids == "").to_numpy() & keep
        if missing.any():
            raise EcomsftError("empty product id", where=table.where(int(np.flatnonzero(missing)[0]), id_col))
        seen = ids[keep]
        dup = seen.duplicated().to_numpy()
        if dup.any():
            row = int(seen.index[np.flatnonzero(dup)[0]])
            first = int(seen.index[(seen == seen.iloc[np.flatnonzero(dup)[0]]).to_numpy()][0])
            raise EcomsftError(f"product id {ids.iloc[row]!r} appears twice (first at {table.where(first)})",
                               where=table.where(row, id_col))
    catalog = pd.DataFrame({"id": ids.to_numpy(), "text": texts.to_numpy()})[keep]
    if id_col is None:
        catalog = catalog.drop_duplicates("text")
    if catalog.empty:
        raise EcomsftError("the catalogue has no products with text", where=table.source)
    return catalog.reset_index(drop=True)


def read_pair_splits(cfg, require_labels: bool = True) -> tuple[dict[str, pd.DataFrame], dict]:
    """Train/valid/test pairs: the given files, or one file split by whole queries (seeded)."""
    data, seed = cfg.data, cfg.training.seed

    def load(source):
        pairs = load_pairs(source, data, cfg.task.gains, require_labels=require_labels, deduplicate=data.deduplicate,
                           max_chars=char_budget(cfg.model.max_length))
        for note in pairs.notes:
            log.warning(note)
        return pairs

    train = load(data.train)
    info: dict = {"train_source": train.source, "encoding": train.encoding, "dropped_empty": train.dropped_empty,
                  "dropped_duplicates": train.dropped_duplicates, "averaged_pairs": train.averaged_pairs,
                  "dropped_conflicts": train.dropped_conflicts}
    frame = train.frame
    if data.max_samples and len(frame) > data.max_samples:
        frame, _, _ = split_grouped_by_query(frame, 0.0, 1 - data.max_samples / len(frame), seed)
    splits = {"train": frame}
    for name in ("valid", "test"):
        if getattr(data, name):
            splits[name] = load(getattr(data, name)).frame
    if "valid" not in splits and "test" not in splits:
        splits["train"], splits["valid"], splits["test"] = split_grouped_by_query(frame, data.valid_ratio, data.test_ratio, seed)
    elif "valid" not in splits:
        splits["train"], splits["valid"], _ = split_grouped_by_query(frame, data.valid_ratio, 0.0, seed)
    elif "test" not in splits:
        splits["train"], _, splits["test"] = split_grouped_by_query(frame, 0.0, data.test_ratio, seed)
    info["sizes"] = {name: len(part) for name, part in splits.items()}
    info["queries"] = {name: int(part["text"].nunique()) for name, part in splits.items()}
    train_queries = set(splits["train"]["text"])
    info["queries_also_in_train"] = {name: int(splits[name]["text"].drop_duplicates().isin(train_queries).sum())
                                     for name in ("valid", "test")}
    return splits, info
