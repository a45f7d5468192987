"""Everything the command line prints, in one place: each function takes what an API call returned
and renders it with rich. Metrics are read through the typed schema (``schema.RunMetrics``)."""

from __future__ import annotations

import json
import logging

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .inference.registry import use_of
from .models.vocab import describe_extension
from .schema import RunMetrics

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


def _print_table(title: str, columns: tuple[str, ...], right: tuple[str, ...], rows) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def fmt(value, spec: str = ".4f") -> str:
    return "—" if value is None or value != value else format(value, spec)


def _ranking_summary(run_dir, metrics: RunMetrics) -> None:
    extra = metrics.model_extra or {}
    # A retrieval run's test is retrieval from its catalogue, with re-ranking beside it; a relevance
    # run's test is the re-ranking.
    retrieval = "catalog_products" in metrics.data
    sections = [("re-ranking each test query's candidates", extra.get("test_reranking") if retrieval else metrics.test,
                 extra.get("baselines_reranking") if retrieval else metrics.baselines)]
    if retrieval:
        sections.insert(0, (f"retrieval from {metrics.data['catalog_products']} products", metrics.test, metrics.baselines))
    for title, test, baselines in sections:
        if not test:
            continue
        baselines = {k: v for k, v in (baselines or {}).items() if v}
        if test is metrics.test and extra.get("test_blend"):
            baselines = {"blend with zero-shot": extra["test_blend"], **baselines}
        names = [k for k in test if isinstance(test[k], float) and not k.startswith(("precision@", "queries"))]
        table = Table(title=f"test: {title} ({test.get('ranked_queries', test.get('queries'))} queries)")
        table.add_column("metric")
        table.add_column(f"fine-tuned {metrics.model.name}", justify="right")
        for name in baselines:
            table.add_column(name.replace("_", " "), justify="right")
        for name in names:
            table.add_row(name, fmt(test.get(name)), *(fmt(b.get(name)) for b in baselines.values()))
        console.print(table)
    choice = extra.get("blend_choice") or {}
    if "metric" in choice:
        console.print(escape(f"ranking: {'blended with the zero-shot cosine' if choice['used'] else 'the cross-encoder alone'}"
                             f" (validation {choice['metric']} {choice['model']:.4f} alone, {choice['blend']:.4f} blended)"),
                      highlight=False)
    timings = metrics.timings
    console.print(f"trained {metrics.training.steps} steps in {timings.train_seconds:.0f} s "
                  f"({timings.train_samples_per_second or 0:.1f} pairs/s); whole run {timings.total_seconds:.0f} s; "
                  f"grading: {metrics.grading}")
    _next_steps(run_dir, metrics)


def _pretraining_summary(run_dir, metrics: RunMetrics) -> None:
    extra = metrics.model_extra or {}
    console.print(
        f"held-out masked-LM loss {extra['valid_loss_before']:.3f} -> {extra['valid_loss']:.3f} "
        f"(perplexity {extra['valid_perplexity_before']:.1f} -> {extra['valid_perplexity']:.1f}); "
        f"{metrics.training.steps} steps in {metrics.timings.train_seconds:.0f} s")
    console.print(f"model folder: [bold]{run_dir}/model[/bold]  (use it as --model for ecomsft train)")


def _versus_table(title: str, metrics: RunMetrics, baseline: str) -> Table:
    """A table of test figures: the fine-tuned model's column beside a baseline's."""
    table = Table(title=title)
    for column in ("", f"fine-tuned {metrics.model.name}", baseline):
        table.add_column(column, justify="left" if not column else "right")
    return table


def _timings_and_next_steps(run_dir, metrics: RunMetrics) -> None:
    console.print(f"trained {metrics.training.steps} steps in {metrics.timings.train_seconds:.0f} s; "
                  f"whole run {metrics.timings.total_seconds:.0f} s")
    _next_steps(run_dir, metrics)


def _next_steps(run_dir, metrics: RunMetrics) -> None:
    console.print(f"run folder: [bold]{run_dir}[/bold] (open report.html first)")
    console.print(f"use it: {use_of(metrics.task).replace('RUN', str(run_dir))}", highlight=False)


def run_summary(result) -> None:
    """The test metrics beside the baselines, timings and where to go next (each task's summary,
    looked up by its name; a task without one: its test figures)."""
    metrics = RunMetrics.model_validate(result.metrics)
    SUMMARIES.get(metrics.task, _figures_summary)(result.run_dir, metrics)


def _figures_summary(run_dir, metrics: RunMetrics) -> None:
    metric_table(f"test metrics ({metrics.task})", metrics.test or {})
    _timings_and_next_steps(run_dir, metrics)


def _generation_summary(run_dir, metrics: RunMetrics) -> None:
    test, base = metrics.test or {}, (metrics.baselines or {}).get("most_frequent_answer") or {}
    table = _versus_table(f"test generations ({test.get('rows', 0)} prompts, {metrics.data.get('completion_kind')} answers)",
                          metrics, "most frequent answer")
    for key in ("accuracy", "f1_macro", "unparseable", "valid_json", "field_f1", "exact_match", "rouge_l", "chrf",
                "stopped_by_eos", "loss"):
        if key in test:
            table.add_row(key, fmt(test.get(key)), fmt(base.get(key)))
    console.print(table)
    _timings_and_next_steps(run_dir, metrics)


def _classification_summary(run_dir, metrics: RunMetrics) -> None:
    test, base, names = metrics.test or {}, metrics.baseline_tfidf_lr, metrics.labels
    multi = metrics.multi_label
    keys = (["subset_accuracy", "f1_micro", "f1_macro", "hamming_loss"] if multi else
            ["accuracy", "precision_macro", "recall_macro", "f1_macro"])
    if not multi and len(names) == 2:
        keys += ["precision", "recall", "f1"]
    table = Table(title=f"test metrics ({metrics.data['sizes'].get('test', 0)} held-out rows)")
    table.add_column("metric")
    table.add_column(f"fine-tuned {metrics.model.name}", justify="right")
    blend = metrics.blend or {}
    mixed = blend.get("test") if blend.get("used") else None
    if base:
        table.add_column("tfidf-lr baseline", justify="right")
    if mixed:
        table.add_column(f"blend ({blend['weight']:.2f} / {1 - blend['weight']:.2f})", justify="right")
    for key in keys:
        label = key if multi or len(names) != 2 or key == "accuracy" or key.endswith("macro") else f"{key} ({names[1]})"
        table.add_row(label, fmt(test.get(key)), *([fmt(base.get(key))] if base else []), *([fmt(mixed.get(key))] if mixed else []))
    console.print(table)
    by_length = metrics.by_length or {}
    if by_length.get("buckets"):
        columns = [name for name in ("model", "tfidf_lr", "blend") if name in by_length]
        lengths = Table(title="test accuracy by review length (characters)")
        for column in ("length", "rows", *(name.replace("_", "-") for name in columns)):
            lengths.add_column(column, justify="left" if column == "length" else "right")
        for i, bucket in enumerate(by_length["buckets"]):
            lengths.add_row(bucket, str(by_length["rows"][i]), *(fmt(by_length[name][i]) for name in columns))
        console.print(lengths)
    if blend:
        console.print(_blend_line(blend), highlight=False)
    timings = metrics.timings
    console.print(f"trained {metrics.training.steps} steps in {timings.train_seconds:.0f} s "
                  f"({timings.train_samples_per_second or 0:.1f} samples/s); whole run {timings.total_seconds:.0f} s")
    if metrics.model.added_tokens:
        console.print(f"vocabulary: {describe_extension(metrics.model.model_dump())}")
    _next_steps(run_dir, metrics)


def _blend_line(blend: dict) -> str:
    """What predict, serve and evaluate use, and the validation figures that chose it."""
    if not blend.get("used"):
        return escape(f"predictions: the fine-tuned model alone ({blend.get('why', 'no blend chosen')})")
    figures = f"validation {blend['metric']} {blend['model']:.4f} alone, {blend['tfidf_lr']:.4f} tfidf-lr, {blend['blend']:.4f} blended"
    return escape(f"predictions: blended, {blend['weight']:.2f} fine-tuned + {1 - blend['weight']:.2f} tfidf-lr, "
                  f"chosen on {figures} (--no-blend: the model alone)")


def _extraction_summary(run_dir, metrics: RunMetrics) -> None:
    test, crf = metrics.test or {}, (metrics.baselines or {}).get("crf") or {}
    table = _versus_table(f"test entities ({test.get('entities', 0)} in {metrics.data['sizes'].get('test', 0)} titles, "
                          "exact spans)", metrics, "CRF baseline")
    for key in ("f1_micro", "precision_micro", "recall_micro", "f1_macro", "token_accuracy"):
        table.add_row(key, fmt(test.get(key)), fmt(crf.get(key)))
    for name, values in (test.get("per_type") or {}).items():
        table.add_row(f"F1 {name} ({values['support']})", fmt(values["f1"]), fmt(((crf.get("per_type") or {}).get(name) or {}).get("f1")))
    console.print(table)
    _timings_and_next_steps(run_dir, metrics)


# Each task's summary after training; a task not named here gets its test figures.
SUMMARIES = {"classification": _classification_summary, "relevance": _ranking_summary, "retrieval": _ranking_summary,
             "pretraining": _pretraining_summary, "extraction": _extraction_summary, "generation": _generation_summary}


def entities(texts: list[str], found: list[list[dict]], as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps([{"text": t, "entities": e} for t, e in zip(texts, found)], ensure_ascii=False))
        return
    for text, spans in zip(texts, found):
        _print_table(text, ("label", "text", "start", "end"), ("start", "end"),
                     [(span["label"], span["text"], str(span["start"]), str(span["end"])) for span in spans])


def generations(prompts: list[str], answers: list[dict], as_json: bool) -> None:
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


def predictions(texts: list[str], results: list[dict]) -> None:
    for text, result in zip(texts, results):
        label = "|".join(result["label"]) if isinstance(result["label"], list) else result["label"]
        probs = "  ".join(f"{k}={v:.3f}" for k, v in result["probabilities"].items())
        console.print(f"[bold]{label}[/bold]\t{probs}\t{text}", highlight=False)


def search_results(queries: list[str], results: list[list[dict]], as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps([{"query": q, "results": r} for q, r in zip(queries, results)], ensure_ascii=False))
        return
    for query, hits in zip(queries, results):
        _print_table(query, ("rank", "id", "product", "score"), ("rank", "score"),
                     [(str(hit["rank"]), hit["id"] if hit["id"] != hit["text"] else "", hit["text"], f"{hit['score']:.4f}")
                      for hit in hits])


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
    for column in ("run", "finished", "task", "model", "test rows", "accuracy", "macro-F1", "NDCG@10", "tfidf-lr acc."):
        table.add_column(column, justify="left" if column in ("run", "task", "model", "finished") else "right")
    for r in found:
        table.add_row(r["run"], r["finished"], str(r["task"]), str(r["model"]), str(r["test_rows"]),
                      fmt(r["accuracy"]), fmt(r["f1_macro"]), fmt(r["ndcg@10"]), fmt(r["baseline_accuracy"]))
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
