"""``report.html``: what a person reads first about a run, self-contained (plots embedded as PNG).

Built from the run folder alone (metrics.json, predictions.csv, training_log.json), so
``ecomsft report RUN`` re-creates it at any time. Each task's sections are a module here with
``head(run, metrics)`` (above the learning curves) and ``details(run, metrics)`` (below them),
looked up by the run's task in ``SECTIONS``; a task without a module gets ``figures``.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from ..files import write_text_atomic
from ..schema import RunMetrics
from .page import CSS, html_text, learning_curves

SECTIONS: dict[str, str] = {
    "classification": "ecomsft.report.classification",
    "relevance": "ecomsft.report.ranking",
    "retrieval": "ecomsft.report.ranking",
    "extraction": "ecomsft.report.extraction",
    "generation": "ecomsft.report.generation",
    "pretraining": "ecomsft.report.figures",
}


def register_sections(task: str, module: str) -> None:
    """Report runs of ``task`` with ``module`` (its ``head`` and ``details``; a plugin, a test)."""
    SECTIONS[task] = module


def write_report(run: str | Path, name: str | None = None) -> Path:
    """Render ``RUN/report.html`` from the run folder (titled ``name``, default its folder name)."""
    import matplotlib

    matplotlib.use("Agg")
    run = Path(run)
    metrics = RunMetrics.read(run)
    name = name or run.name
    sections = importlib.import_module(SECTIONS.get(metrics.task, "ecomsft.report.figures"))
    page = [html_text("<h1>ecomsft run: {}</h1>", name), *sections.head(run, metrics)]
    log_file = run / "training_log.json"
    if log_file.is_file():
        page.append("<h2>Learning curves</h2>" + learning_curves(json.loads(log_file.read_text(encoding="utf-8"))))
    page += sections.details(run, metrics)
    text = (html_text('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ecomsft: {}</title>', name)
            + f'<style>{CSS}</style></head><body>{"".join(page)}</body></html>')
    target = run / "report.html"
    write_text_atomic(target, text)
    return target
