"""What the command line prints of a relevance or retrieval run: the summary after training and
``ecomsft search``'s results."""

from __future__ import annotations

import json

from rich.markup import escape
from rich.table import Table

from ...metrics_file import RunMetrics
from ...report.terminal import console, fmt, next_steps, print_table


def summary(run_dir, metrics: RunMetrics) -> None:
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
    next_steps(run_dir, metrics)


def search_results(queries: list[str], results: list[list[dict]], as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps([{"query": q, "results": r} for q, r in zip(queries, results)], ensure_ascii=False))
        return
    for query, hits in zip(queries, results):
        print_table(query, ("rank", "id", "product", "score"), ("rank", "score"),
                     [(str(hit["rank"]), hit["id"] if hit["id"] != hit["text"] else "", hit["text"], f"{hit['score']:.4f}")
                      for hit in hits])
