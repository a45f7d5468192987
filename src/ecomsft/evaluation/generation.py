"""Scoring generated text against references: exact match, ROUGE-L (rouge-score) and chrF
(sacrebleu) for free text, Chinese scored on characters; for label answers, the output parsed into
the label set and scored like a classifier (unparseable outputs counted, and wrong); for JSON
answers, the share of valid JSON and field-level F1."""

from __future__ import annotations

import json
import re
from collections import Counter

import numpy as np

_WORD = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]|[^\W_]+", re.UNICODE)
UNPARSEABLE = "(unparseable)"


def normalize(text: str) -> str:
    return " ".join(str(text).split()).strip().lower()


class _Tokens:
    """rouge-score's default tokenizer keeps only [a-z0-9]: Chinese would score nothing. Here
    every CJK character is a token, and other text splits into words."""

    @staticmethod
    def tokenize(text: str) -> list[str]:
        return _WORD.findall(str(text).lower())


def rouge_l(references: list[str], generations: list[str]) -> list[float]:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Tokens())
    return [scorer.score(ref, gen)["rougeL"].fmeasure for ref, gen in zip(references, generations)]


def chrf(references: list[str], generations: list[str]) -> list[float]:
    """Sentence chrF (0-1): character n-grams, so Chinese is scored on characters as is."""
    from sacrebleu.metrics import CHRF

    metric = CHRF()
    return [metric.sentence_score(gen, [ref]).score / 100 for ref, gen in zip(references, generations)]


def text_scores(references: list[str], generations: list[str]) -> dict:
    """Per-row ``exact``, ``rouge_l``, ``chrf`` and their means."""
    exact = [float(normalize(r) == normalize(g)) for r, g in zip(references, generations)]
    rouge, chr_f = rouge_l(references, generations), chrf(references, generations)
    return {"rows": {"exact": exact, "rouge_l": rouge, "chrf": chr_f},
            "exact_match": float(np.mean(exact)) if exact else 0.0,
            "rouge_l": float(np.mean(rouge)) if rouge else 0.0, "chrf": float(np.mean(chr_f)) if chr_f else 0.0}


def parse_label(text: str, labels: list[str]) -> str:
    """The label an output names: the whole output (normalized), else the one label it contains
    (the longest, where one contains another), else ``UNPARSEABLE``."""
    wanted = normalize(text)
    by_norm = {normalize(label): label for label in labels}
    if wanted in by_norm:
        return by_norm[wanted]
    found = [label for norm, label in by_norm.items() if norm and norm in wanted]
    if not found:
        return UNPARSEABLE
    longest = max(len(normalize(f)) for f in found)
    found = [f for f in found if len(normalize(f)) == longest]
    return found[0] if len(found) == 1 else UNPARSEABLE


def label_scores(references: list[str], generations: list[str], labels: list[str]) -> dict:
    """Accuracy, macro/micro precision, recall and F1 over the label set of parsed outputs."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    parsed = [parse_label(g, labels) for g in generations]
    gold = [parse_label(r, labels) for r in references]
    out = {"accuracy": float(accuracy_score(gold, parsed)) if gold else 0.0,
           "unparseable": int(sum(p == UNPARSEABLE for p in parsed)), "labels": labels}
    for average in ("macro", "micro"):
        p, r, f, _ = precision_recall_fscore_support(gold, parsed, labels=labels, average=average, zero_division=0)
        out.update({f"precision_{average}": float(p), f"recall_{average}": float(r), f"f1_{average}": float(f)})
    return {**out, "rows": {"parsed": parsed, "correct": [float(a == b) for a, b in zip(gold, parsed)]}}


def _fields(value, prefix: str = "") -> set[tuple[str, str]]:
    """(path, value) pairs of a JSON value: lists count each item, objects nest by key."""
    if isinstance(value, dict):
        return {pair for key, item in value.items() for pair in _fields(item, f"{prefix}{key}.")}
    if isinstance(value, list):
        return {pair for item in value for pair in _fields(item, prefix)}
    return {(prefix.rstrip("."), normalize(json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value))}


def parse_json(text: str):
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None


def json_scores(references: list[str], generations: list[str]) -> dict:
    """The share of generations that are valid JSON, and micro field-level precision, recall, F1
    (an invalid output has no fields)."""
    tp = n_pred = n_gold = valid = 0
    row_f1 = []
    for ref, gen in zip(references, generations):
        gold = _fields(parse_json(ref)) if parse_json(ref) is not None else set()
        parsed = parse_json(gen)
        valid += parsed is not None
        guess = _fields(parsed) if parsed is not None else set()
        hit = len(gold & guess)
        tp, n_pred, n_gold = tp + hit, n_pred + len(guess), n_gold + len(gold)
        row_f1.append(2 * hit / (len(gold) + len(guess)) if gold or guess else 1.0)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"valid_json": valid / len(generations) if generations else 0.0, "field_precision": precision,
            "field_recall": recall, "field_f1": f1, "rows": {"field_f1": row_f1}}


def guess_kind(completions: list[str]) -> str:
    """json when (nearly) every answer is a JSON object or list; label when few distinct short
    answers repeat; else text."""
    if not completions:
        return "text"
    parsed = [parse_json(c) for c in completions]
    if sum(isinstance(p, (dict, list)) for p in parsed) >= 0.95 * len(completions):
        return "json"
    counts = Counter(normalize(c) for c in completions)
    if len(counts) <= max(2, min(50, len(completions) // 10)) and max(map(len, counts)) <= 40:
        return "label"
    return "text"


def generation_report(references: list[str], generations: list[str], kind: str, labels: list[str] | None = None) -> tuple[dict, list[float]]:
    """The metrics of one split and each row's score (for the worst-first examples): exact match,
    ROUGE-L and chrF always; label or JSON metrics by ``kind``."""
    scores = text_scores(references, generations)
    metrics = {k: v for k, v in scores.items() if k != "rows"}
    row_score = scores["rows"]["chrf"]
    if kind == "label":
        labelled = label_scores(references, generations, labels or sorted(set(references)))
        metrics.update({k: v for k, v in labelled.items() if k != "rows"})
        row_score = labelled["rows"]["correct"]
    elif kind == "json":
        checked = json_scores(references, generations)
        metrics.update({k: v for k, v in checked.items() if k != "rows"})
        row_score = checked["rows"]["field_f1"]
    metrics["rows"] = len(references)
    return metrics, row_score
