"""What the command line prints: each function takes what an API call returned and renders it with
rich; what differs between tasks (the summary after training, the answers of ``ecomsft predict``) is
each task's ``terminal`` module in its after-training package, looked up in the registry. Metrics
are read through the typed schema (``metrics_file.RunMetrics``)."""

from __future__ import annotations

import json
import logging

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..inference.registry import part, use_of
from ..metrics_file import RunMetrics
from ..run_folder import task_of

console = Console(highlight=False)  # the highlighter is quadratic on a long line (a 100,000-character column name)
err_console = Console(stderr=True, highlight=False)


class LineHandler(logging.Handler):
    """ecomsft's log records as dim (info) or yellow (warning) lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("ecomsft"):
            style = "yellow" if record.levelno >= logging.WARNING else "dim"
            err_console.print(f"[{style}]{escape(record.getMessage())}[/{style}]")  # a label "[/x]" is text


def one_line(message: str, limit: int = 1000) -> str:
    """A message as one printable line of at most about ``limit`` characters, its markup escaped:
    a file's bytes, a 100,000-character column name or a list of 5,000 labels never flood a terminal."""
    text = "".join(c if c.isprintable() else "?" for c in " ".join(str(message).splitlines()))
    if len(text) > limit:
        text = f"{text[:limit - 200]} ... [{len(text) - limit + 50:,} characters left out] ... {text[-150:]}"
    return escape(text)


def error(message: str) -> None:
    err_console.print(f"[bold red]error:[/bold red] {one_line(message)}", soft_wrap=True)


def warning(message: str) -> None:
    err_console.print(f"[yellow]warning: {one_line(message)}[/yellow]")


def line(text: str) -> None:
    console.print(text, highlight=False)


def print_table(title: str, columns: tuple[str, ...], right: tuple[str, ...], rows) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def fmt(value, spec: str = ".4f") -> str:
    return "—" if value is None or value != value else format(value, spec)


def blend_line(blend: dict) -> str:
    """What predict, serve and evaluate use, and the validation figures that chose it (a classifier
    mixed with tfidf-lr, an aspects tagger with a character CRF: ``blend["with"]``)."""
    if not blend.get("used"):
        return escape(f"predictions: the fine-tuned model alone ({blend.get('why', 'no blend chosen')})")
    other = blend.get("with", "tfidf-lr")
    figures = f"validation {blend['metric']} {blend['model']:.4f} alone, " + (
        f"{blend['tfidf_lr']:.4f} tfidf-lr, " if blend.get("tfidf_lr") is not None else "") + f"{blend['blend']:.4f} blended"
    return escape(f"predictions: blended, {blend['weight']:.2f} fine-tuned + {1 - blend['weight']:.2f} {other}, "
                  f"chosen on {figures} (--no-blend: the model alone)")


def versus_table(title: str, metrics: RunMetrics, baseline: str) -> Table:
    """A table of test figures: the fine-tuned model's column beside a baseline's."""
    table = Table(title=title)
    for column in ("", f"fine-tuned {metrics.model.name}", baseline):
        table.add_column(column, justify="left" if not column else "right")
    return table


def timings_and_next_steps(run_dir, metrics: RunMetrics) -> None:
    console.print(f"trained {metrics.training.steps} steps in {metrics.timings.train_seconds:.0f} s; "
                  f"whole run {metrics.timings.total_seconds:.0f} s")
    next_steps(run_dir, metrics)


def next_steps(run_dir, metrics: RunMetrics) -> None:
    console.print(f"run folder: [bold]{run_dir}[/bold] (open report.html first)")
    console.print(f"use it: {use_of(metrics.task).replace('RUN', str(run_dir))}", highlight=False)


def run_summary(result) -> None:
    """The test metrics beside the baselines, timings and where to go next (the ``summary`` of the
    task's ``terminal`` module, looked up in the after-training registry; a task without one: its
    test figures)."""
    metrics = RunMetrics.model_validate(result.metrics)
    terminal = part(metrics.task, "terminal")
    (getattr(terminal, "summary", None) or figures_summary)(result.run_dir, metrics)


def answers(run, texts: list[str], results: list, as_json: bool = False) -> None:
    """``ecomsft predict``'s answers, as the run's task prints them (its ``terminal.answers``; else JSON)."""
    terminal = part(task_of(run), "terminal")
    show = getattr(terminal, "answers", None)
    if show is None:
        console.print_json(json.dumps([{"text": t, "answer": r} for t, r in zip(texts, results)], ensure_ascii=False))
        return
    show(texts, results, as_json)


def figures_summary(run_dir, metrics: RunMetrics) -> None:
    metric_table(f"test metrics ({metrics.task})", metrics.test or {})
    timings_and_next_steps(run_dir, metrics)


def leaderboard(board, output) -> None:
    table = Table(title=f"leaderboard ({output})")
    for column in ("candidate", "status", "accuracy", "macro-F1", "blend acc.", "blend F1", "train s", "infer/s", "params", "MB"):
        table.add_column(column, justify="left" if column in ("candidate", "status") else "right")
    for r in board.itertuples():
        table.add_row(r.candidate, r.status, fmt(r.accuracy), fmt(r.f1_macro), fmt(r.blend_accuracy), fmt(r.blend_f1_macro),
                      fmt(r.train_seconds, ".0f"),
                      fmt(r.infer_samples_per_second, ".0f"), fmt(r.parameters, ",.0f"), fmt(r.size_mb, ".1f"))
    console.print(table)
    console.print(f"wrote {output}/leaderboard.csv, leaderboard.png and report.html")


def metric_table(title: str, report: dict) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in report.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
    console.print(table)


def run_list(found: list[dict], folder) -> None:
    if not found:
        console.print(f"no finished runs under {folder}")
        return
    table = Table()
    for column in ("run", "finished", "task", "model", "test rows", "main test figure", "tfidf-lr acc.", "delivered"):
        table.add_column(column, justify="left" if column in ("run", "task", "model", "finished") else "right")
    names = {"accuracy": "acc.", "ndcg@10": "NDCG@10", "quadruple_f1": "quad. F1", "f1_macro": "macro-F1"}
    for r in found:
        main = f"{names[r['main_metric']]} {fmt(r['main'])}" if r["main_metric"] else "—"
        table.add_row(r["run"], r["finished"], str(r["task"]), str(r["model"]), str(r["test_rows"]), main,
                      fmt(r["baseline_accuracy"]), fmt(r["delivered"]))
    console.print(table)


def data_report(info: dict, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(info, ensure_ascii=False))
        return
    console.print(f"[bold]{info['source']}[/bold]  encoding {info['encoding']}  rows {info['rows']}  columns: {', '.join(info['columns'])}")
    console.print(f"text column '{info['text_column']}', label column '{info['label_column']}', empty texts {info['empty_texts']}")
    dup = info["duplicates"]
    console.print("duplicates: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in dup.items() if k != "rows"))
    lengths = Table(title="text length")
    for col in ("", "p50", "p90", "p95", "p99", "mean"):
        lengths.add_column(col, justify="right")
    lengths.add_row("characters", *(f"{info['chars'][k]:.0f}" for k in ("p50", "p90", "p95", "p99", "mean")))
    if "tokens" in info:
        lengths.add_row(f"{info['tokens']['model']} tokens", *(f"{info['tokens'][k]:.0f}" for k in ("p50", "p90", "p95", "p99", "mean")))
    console.print(lengths)
    if "tokens" in info:
        rate = info["tokens"]["unk_rate"]
        hint = " (high: training extends the vocabulary)" if rate > 0.02 else ""
        console.print(f"unknown-token rate with {info['tokens']['model']}: {100 * rate:.1f}%{hint}")
    if "labels" in info:
        labels = Table(title="labels")
        labels.add_column("label")
        labels.add_column("rows", justify="right")
        labels.add_column("share", justify="right")
        total = sum(info["labels"].values())
        for name, count in info["labels"].items():
            labels.add_row(name, str(count), f"{100 * count / total:.1f}%")
        console.print(labels)
