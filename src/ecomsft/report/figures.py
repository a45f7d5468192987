"""The report of a run whose task has no section of its own (pretraining, a task registered from
outside): its own numeric fields and validation figures, as they are."""

from __future__ import annotations

from pathlib import Path

from ..metrics_file import RunMetrics
from ..models.vocab import describe_extension
from .page import html_table, html_text


def head(run: Path, metrics: RunMetrics) -> list[str]:
    return [_other_headline(metrics)]


def details(run: Path, metrics: RunMetrics) -> list[str]:
    return []


def _other_headline(metrics: RunMetrics) -> str:
    model, timings = metrics.model, metrics.timings
    figures = [[key, value] for key, value in (metrics.model_extra or {}).items() if isinstance(value, (int, float))]
    figures += [[f"validation {key}", value] for key, value in (metrics.validation or {}).items() if isinstance(value, (int, float))]
    vocab = f" Vocabulary: {describe_extension(model.model_dump())}." if model.added_tokens else ""
    return (html_text('<div class="headline"><b>{}</b> of <b>{}</b>. Training: {:.1f} min ({} steps).{}</div>',
                      metrics.task, model.name, timings.train_seconds / 60, metrics.training.steps, vocab)
            + html_table(figures, ["figure", "value"], (0,)))
