"""The report of an extraction run: entity F1 per type beside the CRF, boundary errors, type
confusions and the titles with the most wrong spans."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ...metrics_file import RunMetrics
from ...report.page import html_table, html_text


def head(run: Path, metrics: RunMetrics) -> list[str]:
    return _extraction_sections(run, metrics)


def details(run: Path, metrics: RunMetrics) -> list[str]:
    return []


def _extraction_sections(run: Path, metrics: RunMetrics) -> list[str]:
    """Entity F1 per type with support beside the CRF, the most frequent boundary errors and type
    confusions, and the titles with the most wrong spans."""
    test, crf = metrics.test or {}, (metrics.baselines or {}).get("crf") or {}
    sizes, timings = metrics.data.get("sizes", {}), metrics.timings
    rows = [[key, test.get(key, float("nan")), crf.get(key, float("nan"))]
            for key in ("f1_micro", "precision_micro", "recall_micro", "f1_macro", "token_accuracy")]
    per_type = [[name, v["precision"], v["recall"], v["f1"], ((crf.get("per_type") or {}).get(name) or {}).get("f1", float("nan")),
                 v["support"]] for name, v in (test.get("per_type") or {}).items()]
    errors = test.get("errors") or {}
    sections = [
        html_text('<div class="headline"><b>extraction</b> of {} entity types with <b>{}</b>. Data: {} train, {} '
                  'validation, {} test titles. Training: {:.1f} min ({} steps). Entities count when type and both '
                  'boundaries match exactly.</div>', len(metrics.labels or []), metrics.model.name, sizes.get("train", 0),
                  sizes.get("valid", 0), sizes.get("test", 0), timings.train_seconds / 60, metrics.training.steps),
        html_table(rows, ["test metric", "fine-tuned", "CRF baseline"], (0,)),
        "<h2>Per entity type</h2>" + html_table(per_type, ["type", "precision", "recall", "F1", "CRF F1", "support"], (0,)),
        "<h2>Most frequent boundary errors</h2>" + html_table(
            [[e["type"], e["error"], e["count"]] for e in errors.get("boundary_errors", [])], ["type", "error", "count"], (0, 1)),
        "<h2>Type confusions</h2>" + html_table(
            [[e["gold"], e["predicted"], e["count"]] for e in errors.get("type_confusions", [])], ["gold", "predicted as", "count"], (0, 1)),
    ]
    predictions = run / "predictions.csv"
    if predictions.is_file():
        frame = pd.read_csv(predictions, keep_default_na=False)

        def shown(value: str) -> set:
            return {(s["start"], s["end"], s["label"], s["text"]) for s in json.loads(value)}

        worst = []
        for text, gold, guess in zip(frame["text"], frame["gold"], frame["predicted"]):
            g, p = shown(gold), shown(guess)
            if g != p:
                worst.append((len(g ^ p), text, "; ".join(f"{t} {lab}" for _, _, lab, t in sorted(g)),
                              "; ".join(f"{t} {lab}" for _, _, lab, t in sorted(p))))
        worst.sort(key=lambda row: -row[0])
        sections.append("<h2>Titles with the most wrong spans</h2>" + html_table(
            [list(row) for row in worst[:15]], ["wrong spans", "title", "gold", "predicted"], (1, 2, 3)))
    return sections
