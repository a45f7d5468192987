"""What the command line prints of an extraction run: the summary after training and the entities
of ``ecomsft predict`` / ``ecomsft extract``."""

from __future__ import annotations

import json

from ...metrics_file import RunMetrics
from ...report.terminal import console, fmt, print_table, timings_and_next_steps, versus_table


def summary(run_dir, metrics: RunMetrics) -> None:
    test, crf = metrics.test or {}, (metrics.baselines or {}).get("crf") or {}
    table = versus_table(f"test entities ({test.get('entities', 0)} in {metrics.data['sizes'].get('test', 0)} titles, "
                          "exact spans)", metrics, "CRF baseline")
    for key in ("f1_micro", "precision_micro", "recall_micro", "f1_macro", "token_accuracy"):
        table.add_row(key, fmt(test.get(key)), fmt(crf.get(key)))
    for name, values in (test.get("per_type") or {}).items():
        table.add_row(f"F1 {name} ({values['support']})", fmt(values["f1"]), fmt(((crf.get("per_type") or {}).get(name) or {}).get("f1")))
    console.print(table)
    timings_and_next_steps(run_dir, metrics)


def answers(texts: list[str], found: list[list[dict]], as_json: bool = False) -> None:
    if as_json:
        console.print_json(json.dumps([{"text": t, "entities": e} for t, e in zip(texts, found)], ensure_ascii=False))
        return
    for text, spans in zip(texts, found):
        print_table(text, ("label", "text", "start", "end"), ("start", "end"),
                     [(span["label"], span["text"], str(span["start"]), str(span["end"])) for span in spans])
