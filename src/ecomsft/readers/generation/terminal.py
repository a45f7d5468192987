"""What the command line prints of a generation run: the summary after training and the answers of
``ecomsft predict`` / ``ecomsft generate`` (whole or streamed)."""

from __future__ import annotations

import json

from rich.markup import escape

from ...metrics_file import RunMetrics
from ...report.terminal import console, fmt, timings_and_next_steps, versus_table


def summary(run_dir, metrics: RunMetrics) -> None:
    test, base = metrics.test or {}, (metrics.baselines or {}).get("most_frequent_answer") or {}
    table = versus_table(f"test generations ({test.get('rows', 0)} prompts, {metrics.data.get('completion_kind')} answers)",
                          metrics, "most frequent answer")
    for key in ("accuracy", "f1_macro", "unparseable", "valid_json", "field_f1", "exact_match", "rouge_l", "chrf",
                "stopped_by_eos", "loss"):
        if key in test:
            table.add_row(key, fmt(test.get(key)), fmt(base.get(key)))
    console.print(table)
    timings_and_next_steps(run_dir, metrics)


def answers(prompts: list[str], answers: list[dict], as_json: bool = False) -> None:
    if as_json:
        console.print_json(json.dumps([{"prompt": p, **a} for p, a in zip(prompts, answers)], ensure_ascii=False))
        return
    for prompt, answer in zip(prompts, answers):
        note = "" if answer["stopped"] else "  [dim](cut at max_new_tokens)[/dim]"
        console.print(f"[bold]{escape(prompt)}[/bold]\n{escape(answer['text'])}{note}", highlight=False)


def stream(events) -> None:
    """Pieces of text printed as they come; a note when the answer hit its token budget."""
    for event in events:
        if "text" in event:
            console.print(escape(event["text"]), end="", highlight=False, soft_wrap=True)
        elif event.get("done"):
            console.print("" if event["stopped"] else "  [dim](cut at max_new_tokens)[/dim]")
