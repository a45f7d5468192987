"""The report of a generation run: its metrics beside the most frequent answer, then examples
worst first."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ...metrics_file import RunMetrics
from ...report.page import html_table, html_text


def head(run: Path, metrics: RunMetrics) -> list[str]:
    return _generation_sections(run, metrics)


def details(run: Path, metrics: RunMetrics) -> list[str]:
    return []


def _generation_sections(run: Path, metrics: RunMetrics) -> list[str]:
    """Generation metrics beside the most frequent answer, then examples worst first: prompt,
    reference, generation, score."""
    test, base = metrics.test or {}, (metrics.baselines or {}).get("most_frequent_answer") or {}
    sizes, timings, extra = metrics.data.get("sizes", {}), metrics.timings, metrics.training.model_extra or {}
    keys = [k for k in ("accuracy", "f1_macro", "unparseable", "valid_json", "field_f1", "exact_match", "rouge_l", "chrf",
                        "stopped_by_eos", "loss", "perplexity") if k in test]
    rows = [[key, test.get(key, float("nan")), base.get(key, float("nan")) if key not in ("loss", "perplexity", "stopped_by_eos")
             else float("nan")] for key in keys]
    cut = extra.get("prompts_cut") or {}
    sections = [
        html_text('<div class="headline"><b>generation</b> ({} answers, {} data) with <b>{}</b>. Data: {} train, {} '
                  'validation, {} test rows ({} test prompts generated); prompts cut to fit: {}. Training: {:.1f} min '
                  '({} steps); chat template: {}.</div>', metrics.data.get("completion_kind"), metrics.data.get("format"),
                  metrics.model.name, sizes.get("train", 0), sizes.get("valid", 0), sizes.get("test", 0),
                  test.get("rows", 0), sum(cut.values()) if cut else 0, timings.train_seconds / 60,
                  metrics.training.steps, extra.get("chat_template")),
        html_table(rows, ["test metric", "fine-tuned", "most frequent answer"], (0,)),
    ]
    predictions = run / "predictions.csv"
    if predictions.is_file():
        frame = pd.read_csv(predictions, keep_default_na=False).head(20)
        sections.append("<h2>Examples, worst first</h2>" + html_table(
            [[r.prompt, r.reference, r.generation, r.score] for r in frame.itertuples()],
            ["prompt", "reference", "generation", "score"], (0, 1, 2)))
    return sections
