"""What the command line prints of an aspects run: the summary after training, each review's
opinions, and the summary over a whole file."""

from __future__ import annotations

import json

from rich.table import Table

from ...metrics_file import RunMetrics
from ...report.terminal import blend_line, console, fmt, print_table, timings_and_next_steps, versus_table
from .report import HEADLINE, baseline_of


def summary(run_dir, metrics: RunMetrics) -> None:
    test = metrics.test or {}
    name, base = baseline_of(metrics)
    table = versus_table(f"test opinions ({test.get('reviews', 0)} reviews, {test.get('quadruples', '—')} quadruples)",
                         metrics, name)
    blend = metrics.blend or {}
    mixed = blend.get("test") if blend.get("used") else None
    if mixed:
        table.add_column(f"blend ({blend['weight']:.2f} / {1 - blend['weight']:.2f} CRF)", justify="right")
    for key in HEADLINE:
        if key in test:
            table.add_row(key, fmt(test.get(key)), fmt(base.get(key)), *([fmt(mixed.get(key))] if mixed else []))
    console.print(table)
    if blend:
        console.print(blend_line(blend), highlight=False)
    timings_and_next_steps(run_dir, metrics)


def answers(texts: list[str], results: list[list[dict]], as_json: bool = False) -> None:
    if as_json:
        console.print_json(json.dumps([{"text": t, "opinions": r} for t, r in zip(texts, results)], ensure_ascii=False))
        return
    for text, opinions in zip(texts, results):
        print_table(text, ("aspect", "opinion", "category", "polarity", "score"), ("score",),
                    [(o["aspect"] or "_", o["opinion"] or "_", o["category"], o["polarity"], f"{o['score']:.3f}")
                     for o in opinions])


def file_summary(found: dict) -> None:
    """Per category: mentions, reviews, the share of each polarity and the most frequent phrases."""
    polarities = found["polarities"]
    table = Table(title=f"opinions in {found['reviews']} reviews ({found['reviews_with_opinion']} with at least one)")
    for column in ("category", "mentions", "reviews", *polarities, "most frequent opinions"):
        table.add_column(column, justify="left" if column in ("category", "most frequent opinions") else "right")
    for row in found["categories"]:
        table.add_row(row["category"], str(row["mentions"]), str(row["reviews"]),
                      *(f"{100 * row['share'][p]:.0f}%" for p in polarities),
                      ", ".join(f"{p['opinion']} {p['polarity']} ({p['count']})" for p in row["phrases"][:5]))
    console.print(table)
