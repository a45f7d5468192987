"""Seeded, stratified train/validation/test splits."""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import train_test_split


def _strata(frame: pd.DataFrame):
    if "label" not in frame:
        return None
    labels = frame["label"]
    # Multi-label rows are stratified on their label combination: close enough, and never fails.
    keys = labels.map(lambda v: "|".join(v) if isinstance(v, list) else v)
    counts = keys.value_counts()
    # A class with too few rows to appear in every part cannot be stratified; those rows go with
    # the largest class's stratum so that the split still runs (the warning goes into the notes).
    rare = counts[counts < 3].index
    if len(rare) == len(counts):
        return None
    return keys.where(~keys.isin(rare), counts.index[0])


def carve_splits(items: dict[str, list], valid_ratio: float, test_ratio: float, rng) -> dict[str, list]:
    """Seeded validation and test shares of ``items["train"]`` where no file gave those splits (at
    least one item each); the training items keep their file order."""
    train = items["train"]
    if "valid" in items and "test" in items:
        return items
    order = rng.permutation(len(train))
    n_valid = 0 if "valid" in items else max(1, round(valid_ratio * len(train)))
    n_test = 0 if "test" in items else max(1, round(test_ratio * len(train)))
    out = dict(items)
    if "valid" not in items:
        out["valid"] = [train[i] for i in order[:n_valid]]
    if "test" not in items:
        out["test"] = [train[i] for i in order[n_valid:n_valid + n_test]]
    out["train"] = [train[i] for i in sorted(order[n_valid + n_test:])]
    return out


def stratified_split(
    frame: pd.DataFrame, valid_ratio: float, test_ratio: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split into (train, valid, test) with every class in each part in the same proportion."""
    # Row counts, not fractions: sklearn rounds a fraction up, and 0.1 + 0.2 is not 0.3 in floats.
    n_valid, n_test = round(valid_ratio * len(frame)), round(test_ratio * len(frame))
    if n_valid + n_test == 0:
        return frame, frame.iloc[0:0], frame.iloc[0:0]
    train, rest = train_test_split(frame, test_size=n_valid + n_test, random_state=seed, stratify=_strata(frame))
    if n_test == 0:
        return train, rest, rest.iloc[0:0]
    if n_valid == 0:
        return train, rest.iloc[0:0], rest
    valid, test = train_test_split(rest, test_size=n_test, random_state=seed, stratify=_strata(rest))
    return train, valid, test


def split_grouped_by_query(
    frame: pd.DataFrame, valid_ratio: float, test_ratio: float, seed: int, column: str = "text"
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split into (train, valid, test) by whole queries: every row of a query lands in one part, so
    that ranking metrics are measured on queries the model never saw. Ratios count queries."""
    from sklearn.model_selection import GroupShuffleSplit

    groups = frame[column].to_numpy()
    n_queries = len(pd.unique(groups))
    n_valid, n_test = round(valid_ratio * n_queries), round(test_ratio * n_queries)
    empty = frame.iloc[0:0]
    if n_valid + n_test == 0:
        return frame, empty, empty
    keep, rest = next(GroupShuffleSplit(n_splits=1, test_size=n_valid + n_test, random_state=seed).split(frame, groups=groups))
    train, held = frame.iloc[keep], frame.iloc[rest]
    if n_test == 0 or n_valid == 0:
        return (train, held, empty) if n_test == 0 else (train, empty, held)
    held_groups = held[column].to_numpy()
    v, t = next(GroupShuffleSplit(n_splits=1, test_size=n_test, random_state=seed).split(held, groups=held_groups))
    return train, held.iloc[v], held.iloc[t]
