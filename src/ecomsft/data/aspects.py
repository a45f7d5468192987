"""Aspect-level review data: what each review says about each aspect, read and checked at the edge.

Three forms shops and public sets use, each read into the same ``AspectData``:

- **Quadruples, two files** (the Zhijiang Cup / ``ecommerce_absa_zh`` form): a reviews file
  (``id``, text) and a labels file with one row per opinion: ``id, AspectTerms, A_start, A_end,
  OpinionTerms, O_start, O_end, Categories, Polarities`` (character offsets, end exclusive; an
  implicit aspect or opinion is ``_`` with blank offsets).
- **Quadruples, one JSONL file**: ``{"id": ..., "text": ..., "quadruples": [{"aspect": "香味",
  "aspect_start": 14, "aspect_end": 16, "opinion": "淡淡的", "opinion_start": 11, "opinion_end": 14,
  "category": "气味", "polarity": "正面"}]}`` (``aspect``/``opinion`` null or ``_`` when implicit).
- **One column per aspect category** (AI Challenger style): a text column and, per category, one of
  positive / negative / neutral / not mentioned (also 正面 / 负面 / 中性 / 未提及, or 1 / -1 / 0 / -2):
  (category, polarity) pairs per review, without spans.

Every offset is checked against its text (the term must be there); a label row for a review id the
reviews file does not hold, an unknown polarity, an empty file: one error naming file, line and
what. A review without any opinion is kept (it teaches the model that nothing is said) and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import EcomsftError
from .reading import Table, read_table

IMPLICIT = "_"
# Polarity spellings -> the canonical name; a data set's own spelling (正面) is kept as its label.
NOT_MENTIONED = {"not mentioned", "not_mentioned", "none", "未提及", "-2", ""}
CATEGORY_VALUES = {"positive": "positive", "negative": "negative", "neutral": "neutral",
                   "正面": "正面", "负面": "负面", "中性": "中性", "1": "positive", "-1": "negative", "0": "neutral"}
TEXT_GUESSES = ("text", "review", "reviews", "content", "comment", "评论", "内容")
LABEL_COLUMNS = {  # canonical -> accepted spellings (case-insensitive)
    "id": ("id", "review_id"),
    "aspect": ("aspectterms", "aspect", "aspect_term"),
    "aspect_start": ("a_start", "aspect_start"),
    "aspect_end": ("a_end", "aspect_end"),
    "opinion": ("opinionterms", "opinion", "opinion_term"),
    "opinion_start": ("o_start", "opinion_start"),
    "opinion_end": ("o_end", "opinion_end"),
    "category": ("categories", "category"),
    "polarity": ("polarities", "polarity"),
}


@dataclass(frozen=True)
class Quad:
    """One opinion of a review: the aspect and opinion spans (character offsets, end exclusive;
    None: implicit, or not given in a per-category file), its aspect category and polarity."""

    aspect: tuple[int, int] | None
    opinion: tuple[int, int] | None
    category: str
    polarity: str

    def pair(self) -> tuple[str, str]:
        return self.category, self.polarity


@dataclass
class AspectReview:
    id: str
    text: str
    quads: list[Quad]
    place: str  # file:line of the review, for messages


@dataclass
class AspectData:
    reviews: list[AspectReview]
    source: str
    spans: bool  # quadruples with offsets (False: per-category pairs only)
    notes: list[str] = field(default_factory=list)

    @property
    def categories(self) -> list[str]:
        return sorted({q.category for r in self.reviews for q in r.quads})

    @property
    def polarities(self) -> list[str]:
        return sorted({q.polarity for r in self.reviews for q in r.quads})

    def describe(self) -> dict:
        quads = [q for r in self.reviews for q in r.quads]
        return {"source": self.source, "reviews": len(self.reviews), "opinions": len(quads), "spans": self.spans,
                "reviews_without_opinion": sum(1 for r in self.reviews if not r.quads),
                "implicit_aspects": sum(1 for q in quads if q.aspect is None) if self.spans else None,
                "categories": {k: int(v) for k, v in pd.Series([q.category for q in quads]).value_counts().items()},
                "polarities": {k: int(v) for k, v in pd.Series([q.polarity for q in quads]).value_counts().items()}}


def _column(table: Table, names: tuple[str, ...], what: str, required: bool = True) -> str | None:
    lower = {str(c).strip().lower(): c for c in table.frame.columns}
    for name in names:
        if name in lower:
            return lower[name]
    if required:
        raise EcomsftError(f"no {what} column (looked for {', '.join(names)}; the file has "
                           f"{', '.join(map(str, table.frame.columns))})", where=table.source)
    return None


def _text_column(table: Table, text_column: str | None) -> str:
    if text_column is not None:
        if text_column not in table.frame.columns:
            raise EcomsftError(f"no column '{text_column}' (the file has {', '.join(map(str, table.frame.columns))})",
                               where=table.source)
        return text_column
    return _column(table, TEXT_GUESSES, "text")


def _span(value_start, value_end, term, text: str, what: str, place: str) -> tuple[int, int] | None:
    """The checked offsets of ``term`` in ``text``, or None for an implicit one."""
    term = "" if term is None or (isinstance(term, float) and pd.isna(term)) else str(term)
    blank = [v is None or (isinstance(v, float) and pd.isna(v)) or str(v).strip() == "" for v in (value_start, value_end)]
    if term in ("", IMPLICIT) and all(blank):
        return None
    try:
        start, end = int(float(str(value_start).strip())), int(float(str(value_end).strip()))
    except ValueError:
        raise EcomsftError(f"{what} '{term}' has offsets '{value_start}'-'{value_end}', not numbers "
                           f"(an implicit {what} is {IMPLICIT} with blank offsets)", where=place) from None
    if not 0 <= start < end <= len(text) or text[start:end] != term:
        there = text[max(start, 0):max(end, 0)] if 0 <= start < end else ""
        raise EcomsftError(f"{what} '{term}' is not at {start}-{end} of the review (there: '{there}'; the review has "
                           f"{len(text)} characters; offsets are characters, end exclusive)", where=place)
    return start, end


def _checked_text(value, place: str) -> str:
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    if not text.strip():
        raise EcomsftError("empty review text", where=place)
    return text


def read_quadruple_files(reviews: str | Path, labels: str | Path, *, text_column: str | None = None,
                         encoding: str | None = None) -> AspectData:
    """A reviews file and its labels file (one row per opinion) as ``AspectData``."""
    table, label_table = read_table(reviews, encoding), read_table(labels, encoding)
    id_column, text = _column(table, LABEL_COLUMNS["id"], "review id"), _text_column(table, text_column)
    by_id: dict[str, AspectReview] = {}
    for row, (rid, value) in enumerate(zip(table.frame[id_column], table.frame[text])):
        rid, place = str(rid).strip(), table.where(row)
        if rid in by_id:
            raise EcomsftError(f"review id '{rid}' appears twice (first at {by_id[rid].place})", where=place)
        by_id[rid] = AspectReview(rid, _checked_text(value, place), [], place)
    columns = {key: _column(label_table, names, key) for key, names in LABEL_COLUMNS.items()}
    frame = label_table.frame
    for row in range(len(frame)):
        values = {key: frame[column].iloc[row] for key, column in columns.items()}
        place, rid = label_table.where(row), str(values["id"]).strip()
        review = by_id.get(rid)
        if review is None:
            raise EcomsftError(f"labels for review id '{rid}', which {table.source} does not hold", where=place)
        review.quads.append(_quad(values, review.text, place))
    return _finish(list(by_id.values()), f"{table.source} + {label_table.source}", True)


def _quad(values: dict, text: str, place: str) -> Quad:
    category, polarity = (str(values[k]).strip() for k in ("category", "polarity"))
    if not category or category == "nan":
        raise EcomsftError("empty aspect category", where=place)
    if not polarity or polarity == "nan":
        raise EcomsftError("empty polarity", where=place)
    aspect = _span(values.get("aspect_start"), values.get("aspect_end"), values.get("aspect"), text, "aspect", place)
    opinion = _span(values.get("opinion_start"), values.get("opinion_end"), values.get("opinion"), text, "opinion", place)
    return Quad(aspect, opinion, category, polarity)


def read_quadruple_jsonl(path: str | Path, *, text_column: str | None = None, encoding: str | None = None) -> AspectData:
    """One JSONL file: a text and its list of quadruples per line."""
    table = read_table(path, encoding)
    text = _text_column(table, text_column)
    quads_column = _column(table, ("quadruples", "opinions", "labels"), "quadruples")
    id_column = _column(table, LABEL_COLUMNS["id"], "id", required=False)
    reviews = []
    for row in range(len(table.frame)):
        place = table.where(row)
        value = _checked_text(table.frame[text].iloc[row], place)
        items = table.frame[quads_column].iloc[row]
        if items is None or (isinstance(items, float) and pd.isna(items)):
            items = []
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise EcomsftError(f"'{quads_column}' must be a list of objects (aspect, opinion, category, polarity "
                               "and their offsets)", where=place)
        quads = [_quad({key: item.get(key) for key in LABEL_COLUMNS if key != "id"}, value, place) for item in items]
        rid = str(table.frame[id_column].iloc[row]) if id_column else str(row + 1)
        reviews.append(AspectReview(rid, value, quads, place))
    return _finish(reviews, table.source, True)


def read_category_columns(path: str | Path, *, text_column: str | None = None, categories: list[str] | None = None,
                          encoding: str | None = None) -> AspectData:
    """A text column and one column per aspect category (positive / negative / neutral / not mentioned)."""
    table = read_table(path, encoding)
    text = _text_column(table, text_column)
    columns = categories or [c for c in table.frame.columns if c != text and str(c).lower() not in LABEL_COLUMNS["id"]]
    if not columns:
        raise EcomsftError("no aspect category columns beside the text", where=table.source)
    reviews = []
    for row in range(len(table.frame)):
        place = table.where(row)
        quads = []
        for category in columns:
            raw = table.frame[category].iloc[row]
            value = "" if raw is None or (isinstance(raw, float) and pd.isna(raw)) else str(raw).strip()
            value = value[:-2] if value.endswith(".0") else value  # -1.0 from a spreadsheet
            if value.lower() in NOT_MENTIONED:
                continue
            if value.lower() not in CATEGORY_VALUES and value not in CATEGORY_VALUES:
                raise EcomsftError(f"'{value}' is not a polarity (positive, negative, neutral, not mentioned; "
                                   "正面, 负面, 中性, 未提及; 1, -1, 0, -2)", where=table.where(row, category))
            quads.append(Quad(None, None, str(category), CATEGORY_VALUES.get(value.lower(), CATEGORY_VALUES.get(value))))
        reviews.append(AspectReview(str(row + 1), _checked_text(table.frame[text].iloc[row], place), quads, place))
    return _finish(reviews, table.source, False)


def _finish(reviews: list[AspectReview], source: str, spans: bool) -> AspectData:
    if not reviews:
        raise EcomsftError("no reviews", where=source)
    data = AspectData(reviews, source, spans)
    if not any(r.quads for r in reviews):
        raise EcomsftError("no review has an opinion labelled", where=source)
    without = sum(1 for r in reviews if not r.quads)
    if without:
        data.notes.append(f"{without} reviews without any opinion (kept: they teach the model that nothing is said)")
    return data


def read_aspects(path: str | Path, labels: str | Path | None = None, *, text_column: str | None = None,
                 encoding: str | None = None) -> AspectData:
    """Whichever form ``path`` (and ``labels``) hold: two files of quadruples, JSONL quadruples, or
    one column per category."""
    if labels is not None:
        return read_quadruple_files(path, labels, text_column=text_column, encoding=encoding)
    table = read_table(path, encoding)
    if _column(table, ("quadruples", "opinions", "labels"), "quadruples", required=False) is not None:
        return read_quadruple_jsonl(path, text_column=text_column, encoding=encoding)
    return read_category_columns(path, text_column=text_column, encoding=encoding)
