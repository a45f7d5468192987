"""``report.html``: what a person reads first about a run, self-contained (plots embedded as PNG).

Built from the run folder alone (metrics.json, predictions.csv, training_log.json), so
``ecomsft report RUN`` re-creates it at any time. Each task's sections are the ``report`` module of
its after-training package (``inference/registry.py``) with ``head(run, metrics)`` (above the
learning curves) and ``details(run, metrics)`` (below them); a task without one gets ``figures``.
What the command line prints is ``terminal.py`` here, each task's part in its package likewise.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..files import write_text_atomic
from ..inference.registry import part
from ..metrics_file import RunMetrics

def write_report(run: str | Path, name: str | None = None) -> Path:
    """Render ``RUN/report.html`` from the run folder (titled ``name``, default its folder name)."""
    import matplotlib

    from . import figures  # numpy, pandas: not at import, so that the CLI's terminal.py starts fast
    from .page import CSS, html_text, learning_curves

    matplotlib.use("Agg")
    run = Path(run)
    metrics = RunMetrics.read(run)
    name = name or run.name
    sections = part(metrics.task, "report") or figures
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
