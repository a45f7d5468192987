"""Entity-level metrics for extraction, judged as the field judges them: an entity counts only when
its type and both boundaries match exactly (seqeval's strict span match), per type and micro/macro
over types, plus token accuracy; and what went wrong: boundary errors and type confusions.

Written here (tested against seqeval in tests/test_tagging.py) because it works on spans, whatever
scheme the tags came in, and reports the errors seqeval does not."""

from __future__ import annotations

from collections import Counter

Spans = list[tuple[int, int, str]]


def _prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def entity_report(gold: list[Spans], predicted: list[Spans], labels: list[str] | None = None) -> dict:
    """Micro and macro precision/recall/F1 over entity types, and per type with support."""
    types = sorted(set(labels or []) | {s[2] for doc in gold for s in doc} | {s[2] for doc in predicted for s in doc})
    tp, n_gold, n_pred = Counter(), Counter(), Counter()
    for g, p in zip(gold, predicted, strict=True):
        g_set, p_set = set(map(tuple, g)), set(map(tuple, p))
        for span in g_set:
            n_gold[span[2]] += 1
        for span in p_set:
            n_pred[span[2]] += 1
            if span in g_set:
                tp[span[2]] += 1
    per_type = {t: {**_prf(tp[t], n_pred[t], n_gold[t]), "support": n_gold[t]} for t in types}
    micro = _prf(sum(tp.values()), sum(n_pred.values()), sum(n_gold.values()))
    with_support = [per_type[t] for t in types if n_gold[t]]
    macro = {k: (sum(v[k] for v in with_support) / len(with_support) if with_support else 0.0)
             for k in ("precision", "recall", "f1")}
    return {"f1_micro": micro["f1"], "precision_micro": micro["precision"], "recall_micro": micro["recall"],
            "f1_macro": macro["f1"], "precision_macro": macro["precision"], "recall_macro": macro["recall"],
            "entities": sum(n_gold.values()), "predicted_entities": sum(n_pred.values()), "per_type": per_type}


def token_accuracy(gold_tags: list[list[str]], predicted_tags: list[list[str]]) -> float:
    pairs = [(g, p) for gs, ps in zip(gold_tags, predicted_tags, strict=True) for g, p in zip(gs, ps, strict=True)]
    return sum(g == p for g, p in pairs) / len(pairs) if pairs else 0.0


def error_analysis(gold: list[Spans], predicted: list[Spans], top: int = 10) -> dict:
    """The most frequent boundary errors (same type, overlapping, other boundaries), type confusions
    (same boundaries, other type), missed and spurious entities, by type."""
    boundary, confusion, missed, spurious = Counter(), Counter(), Counter(), Counter()
    for g, p in zip(gold, predicted, strict=True):
        g_set, p_set = set(map(tuple, g)), set(map(tuple, p))
        for gs in g_set - p_set:
            same_place = [ps for ps in p_set if ps[:2] == gs[:2]]
            overlapping = [ps for ps in p_set - g_set if ps[2] == gs[2] and ps[0] < gs[1] and gs[0] < ps[1]]
            if same_place:
                confusion[(gs[2], same_place[0][2])] += 1
            elif overlapping:
                ps = overlapping[0]
                side = "starts early" if ps[0] < gs[0] else "starts late" if ps[0] > gs[0] else "same start"
                side += ", ends early" if ps[1] < gs[1] else ", ends late" if ps[1] > gs[1] else ", same end"
                boundary[(gs[2], side)] += 1
            else:
                missed[gs[2]] += 1
        for ps in p_set - g_set:
            if not any(gs[0] < ps[1] and ps[0] < gs[1] for gs in g_set):
                spurious[ps[2]] += 1
    return {"boundary_errors": [{"type": t, "error": e, "count": n} for (t, e), n in boundary.most_common(top)],
            "type_confusions": [{"gold": a, "predicted": b, "count": n} for (a, b), n in confusion.most_common(top)],
            "missed": dict(missed), "spurious": dict(spurious)}
