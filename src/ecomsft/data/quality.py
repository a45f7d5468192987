"""Data quality findings that change how far a metric can be trusted: duplicates and leakage."""

from __future__ import annotations

import pandas as pd


def _key(frame: pd.DataFrame) -> pd.Series:
    key = frame["text"].str.strip()
    if "text_pair" in frame:
        key = key + "\x1f" + frame["text_pair"].str.strip()
    return key


def _label_key(frame: pd.DataFrame) -> pd.Series:
    return frame["label"].map(lambda v: "|".join(v) if isinstance(v, list) else str(v))


def duplicate_report(frame: pd.DataFrame) -> dict[str, int]:
    """Exact duplicates (same text, same label) and conflicting duplicates (same text, other labels)."""
    key = _key(frame)
    report = {"rows": len(frame), "duplicate_texts": int(key.duplicated().sum())}
    if "label" in frame:
        pairs = pd.DataFrame({"key": key, "label": _label_key(frame)})
        report["exact_duplicates"] = int(pairs.duplicated().sum())
        labels_per_text = pairs.drop_duplicates().groupby("key")["label"].nunique()
        report["conflicting_texts"] = int((labels_per_text > 1).sum())
    return report


def drop_duplicates(frame: pd.DataFrame, drop_conflicts: bool) -> pd.DataFrame:
    key = _key(frame)
    pairs = pd.DataFrame({"key": key, "label": _label_key(frame)}, index=frame.index)
    keep = ~pairs.duplicated()
    if drop_conflicts:
        labels_per_text = pairs[keep].groupby("key")["label"].nunique()
        conflicting = set(labels_per_text[labels_per_text > 1].index)
        keep &= ~key.isin(conflicting)
    return frame[keep]


def overlap(train: pd.DataFrame, other: pd.DataFrame) -> int:
    """Rows of ``other`` whose text also appears in ``train`` (leakage that inflates metrics)."""
    if other.empty:
        return 0
    return int(_key(other).isin(set(_key(train))).sum())
