"""Shop recipes for generative SFT: converters from the files shops have (labelled reviews,
tagged titles, categorised titles) to prompt/completion rows, with the prompt wording each recipe
trains on. ``configs/generation-*.yaml`` train on their output (``ecomsft data recipe``)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from ..errors import EcomsftError
from .examples import LABEL_COLUMN_GUESSES, TEXT_COLUMN_GUESSES, is_missing, label_name, load_table, table_column


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    prompt: str  # with {text}


RECIPES = {
    "review-sentiment": Recipe("review-sentiment", "review -> its sentiment as a label (好评/差评 for 1/0 labels)",
                               "判断这条商品评论的情感，回答好评或差评。\n评论：{text}"),
    "title-attributes": Recipe("title-attributes", "product title -> its brand and product as JSON (from tagged titles)",
                               "从商品标题中抽取品牌和产品，以 JSON 回答。\n标题：{text}"),
    "category": Recipe("category", "title or review -> its category as a label", "这条商品文本属于哪个类目？\n文本：{text}"),
}
# The NER set's tags (HP brand, HC product) as JSON keys; other types keep their own names.
ATTRIBUTE_NAMES = {"HP": "brand", "HC": "product"}
SENTIMENT_NAMES = {"1": "好评", "0": "差评", "positive": "好评", "negative": "差评", "pos": "好评", "neg": "差评"}


def convert(recipe: str, source: str, *, text_column: str | None = None, label_column: str | None = None,
            encoding: str | None = None, max_chars: int | None = 200) -> pd.DataFrame:
    """The ``prompt``/``completion`` rows of ``recipe`` from ``source`` (empty texts dropped; texts
    cut to ``max_chars`` characters, an SFT prompt need not hold a whole essay)."""
    if recipe not in RECIPES:
        raise EcomsftError(f"unknown recipe '{recipe}' (choose from {', '.join(RECIPES)})")
    template = RECIPES[recipe].prompt
    if recipe == "title-attributes":
        from .tagging import read_tagged

        rows = []
        for item in read_tagged(source, encoding=encoding).items:
            glue = "" if all(len(t) == 1 for t in item.tokens) else " "
            text = glue.join(item.tokens)
            answer: dict[str, list[str]] = {}
            for span in item.spans:
                name = ATTRIBUTE_NAMES.get(span.label, span.label)
                value = glue.join(item.tokens[span.start:span.end]).strip()
                if value not in answer.setdefault(name, []):
                    answer[name].append(value)
            rows.append({"prompt": template.format(text=text[:max_chars] if max_chars else text),
                         "completion": json.dumps({k: answer.get(k, []) for k in sorted(set(ATTRIBUTE_NAMES.values()) | set(answer))},
                                                  ensure_ascii=False)})
        return pd.DataFrame(rows)
    table = load_table(source, encoding)
    text_col = table_column(table, text_column, TEXT_COLUMN_GUESSES, "text", "--text-column")
    guesses = ("cat", "category", *LABEL_COLUMN_GUESSES) if recipe == "category" else LABEL_COLUMN_GUESSES
    label_col = table_column(table, label_column, guesses, "label", "--label-column")
    rows = []
    for text, label in zip(table.frame[text_col], table.frame[label_col]):
        if is_missing(text) or is_missing(label):
            continue
        text = " ".join(str(text).replace("\ufeff", "").split())
        label = label_name(label)
        answer = SENTIMENT_NAMES.get(label.lower(), label) if recipe == "review-sentiment" else label
        rows.append({"prompt": template.format(text=text[:max_chars] if max_chars else text), "completion": answer})
    if not rows:
        raise EcomsftError("no rows with both a text and a label", where=source)
    return pd.DataFrame(rows)
