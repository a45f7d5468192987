"""The report of an aspects run: quadruple, pair, span and complaint figures beside the classical
baseline, each category and polarity, and the reviews a person should read first (missed
complaints, then the most opinions wrong)."""

from __future__ import annotations

from pathlib import Path

from ...metrics_file import RunMetrics
from ...report.page import html_table, html_text

HEADLINE = ("quadruple_f1", "pair_f1_micro", "pair_f1_macro", "negative_recall", "aspect_f1", "opinion_f1")


def baseline_of(metrics: RunMetrics) -> tuple[str, dict]:
    baselines = metrics.baselines or {}
    if "crf_tfidf_lr" in baselines:
        return "CRF + tfidf-lr baseline", baselines["crf_tfidf_lr"]
    return "tfidf-lr pairs baseline", baselines.get("tfidf_lr_pairs") or {}


def head(run: Path, metrics: RunMetrics) -> list[str]:
    test, sizes, timings = metrics.test or {}, metrics.data.get("sizes", {}), metrics.timings
    name, base = baseline_of(metrics)
    blend = metrics.blend or {}
    mixed = blend.get("test") if blend.get("used") else None
    nan = float("nan")
    rows = [[key, test.get(key, nan), base.get(key) if base.get(key) is not None else nan,
             *([mixed.get(key, nan)] if mixed else [])] for key in HEADLINE if key in test]
    columns = ["test metric", "fine-tuned", name, *([f"blend: {blend['weight']:.2f} fine-tuned + "
                                                     f"{1 - blend['weight']:.2f} character CRF"] if mixed else [])]
    chose = [html_text("<p>The blend is what predict, serve and evaluate use (<code>--no-blend</code>: the tagger "
                       "alone), chosen on the validation quadruple F1: {:.4f} alone, {:.4f} blended.</p>",
                       blend["model"], blend["blend"])] if mixed else []
    return [
        html_text('<div class="headline"><b>aspects</b>: {} categories, polarities {}, with <b>{}</b>. Data: {} train, '
                  '{} validation, {} test reviews. Training: {:.1f} min ({} steps). A quadruple counts when aspect and '
                  'opinion spans, category and polarity all match; a pair is a (category, polarity) of a review.</div>',
                  len(metrics.data.get("categories", [])), ", ".join(metrics.data.get("polarities", [])), metrics.model.name,
                  sizes.get("train", 0), sizes.get("valid", 0), sizes.get("test", 0), timings.train_seconds / 60,
                  metrics.training.steps),
        html_table(rows, columns, (0,)),
        *chose,
    ]


def details(run: Path, metrics: RunMetrics) -> list[str]:
    test = metrics.test or {}
    _, base = baseline_of(metrics)
    per = lambda block, key: ((base.get(block) or {}).get(key) or {}).get("f1", float("nan"))  # noqa: E731
    categories = [[name, v["precision"], v["recall"], v["f1"], per("per_category", name), v["support"]]
                  for name, v in (test.get("per_category") or {}).items()]
    polarities = [[name, v["precision"], v["recall"], v["f1"], per("per_polarity", name), v["support"]]
                  for name, v in (test.get("per_polarity") or {}).items()]
    errors = (metrics.model_extra or {}).get("errors") or []
    return [
        "<h2>Pairs per category</h2>" + html_table(categories, ["category", "precision", "recall", "F1", "baseline F1", "support"], (0,)),
        "<h2>Pairs per polarity</h2>" + html_table(polarities, ["polarity", "precision", "recall", "F1", "baseline F1", "support"], (0,)),
        "<h2>Read these first: missed complaints, then the most opinions wrong</h2>" + html_table(
            [[e["text"], e["missed_negative"], "; ".join(e["gold"]), "; ".join(e["predicted"])] for e in errors],
            ["review", "complaints missed", "gold (aspect | opinion | category | polarity)", "predicted"], (0, 2, 3)),
    ]
