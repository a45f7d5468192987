"""Metrics of aspect-level review analysis, each over the set of items per review, micro-averaged
over reviews (an item found twice in one review counts once):

- ``quadruple``: (aspect span, opinion span, category, polarity) exactly (offsets included; an
  implicit aspect or opinion matches only an implicit one);
- ``pair``: (category, polarity) per review, micro and macro over the pair classes of the gold data
  (what a shop's dashboard counts; also what a per-category file can be scored on);
- ``aspect`` / ``opinion``: the explicit spans alone;
- ``per_category``: the pairs of each category; ``per_polarity``: the pairs of each polarity, whose
  ``negative_recall`` (complaints found) is reported on its own.

Written here: no library scores opinion quadruples (seqeval scores tag sequences, not tuples).
"""

from __future__ import annotations

from ..data.aspects import Quad

NEGATIVE = ("负面", "negative", "neg")


def _prf(tp: int, predicted: int, gold: int) -> dict[str, float]:
    precision = tp / predicted if predicted else 0.0
    recall = tp / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": gold}


def _micro(gold: list[set], predicted: list[set]) -> dict[str, float]:
    tp = sum(len(g & p) for g, p in zip(gold, predicted))
    return _prf(tp, sum(map(len, predicted)), sum(map(len, gold)))


def _by_key(gold: list[set], predicted: list[set], key) -> dict[str, dict]:
    """P/R/F1 of the items whose ``key(item)`` is each value seen in the gold data."""
    values = sorted({key(item) for items in gold for item in items})
    return {value: _micro([{i for i in g if key(i) == value} for g in gold],
                          [{i for i in p if key(i) == value} for p in predicted]) for value in values}


def aspect_report(gold: list[list[Quad]], predicted: list[list[Quad]], spans: bool = True) -> dict:
    """The metrics above for reviews in the same order (``spans=False``: pairs only)."""
    gold_pairs = [{q.pair() for q in quads} for quads in gold]
    predicted_pairs = [{q.pair() for q in quads} for quads in predicted]
    pair = _micro(gold_pairs, predicted_pairs)
    per_pair = _by_key(gold_pairs, predicted_pairs, lambda p: p)
    per_polarity = _by_key(gold_pairs, predicted_pairs, lambda p: p[1])
    report = {
        "reviews": len(gold),
        "pair_f1_micro": pair["f1"], "pair_precision_micro": pair["precision"], "pair_recall_micro": pair["recall"],
        "pair_f1_macro": sum(m["f1"] for m in per_pair.values()) / len(per_pair) if per_pair else 0.0,
        "per_category": _by_key(gold_pairs, predicted_pairs, lambda p: p[0]),
        "per_polarity": per_polarity,
        "negative_recall": next((m["recall"] for name, m in per_polarity.items() if name.lower() in NEGATIVE), None),
    }
    if spans:
        gold_quads = [set(quads) for quads in gold]
        predicted_quads = [set(quads) for quads in predicted]
        quadruple = _micro(gold_quads, predicted_quads)
        report.update({"quadruple_f1": quadruple["f1"], "quadruple_precision": quadruple["precision"],
                       "quadruple_recall": quadruple["recall"], "quadruples": quadruple["support"]})
        for part in ("aspect", "opinion"):
            found = _micro([{getattr(q, part) for q in quads if getattr(q, part)} for quads in gold],
                           [{getattr(q, part) for q in quads if getattr(q, part)} for quads in predicted])
            report[f"{part}_f1"] = found["f1"]
    return report


def worst_reviews(texts: list[str], gold: list[list[Quad]], predicted: list[list[Quad]], top: int = 20) -> list[dict]:
    """The reviews a person should read first: missed complaints, then the most items wrong."""
    def missed_negative(g, p) -> int:
        return sum(1 for q in set(g) - set(p) if q.polarity.lower() in NEGATIVE)

    rows = []
    for i, (text, g, p) in enumerate(zip(texts, gold, predicted)):
        wrong = len(set(g) ^ set(p))
        if wrong:
            rows.append({"row": i, "text": text, "missed_negative": missed_negative(g, p), "wrong": wrong,
                         "gold": [describe(text, q) for q in g], "predicted": [describe(text, q) for q in p]})
    rows.sort(key=lambda r: (-r["missed_negative"], -r["wrong"], r["row"]))
    return rows[:top]


def describe(text: str, quad: Quad) -> str:
    """``香味 | 淡淡的 | 气味 | 正面`` (``_`` for an implicit part)."""
    part = lambda span: text[span[0]:span[1]] if span else "_"  # noqa: E731
    return f"{part(quad.aspect)} | {part(quad.opinion)} | {quad.category} | {quad.polarity}"
