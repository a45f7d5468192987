"""What the command line prints of a classification run: the summary after training (test metrics
beside tfidf-lr and the blend, by length, what predict uses) and the answers of ``ecomsft predict``."""

from __future__ import annotations

import json

from rich.table import Table

from ...metrics_file import RunMetrics
from ...models.vocab import describe_extension
from ...report.terminal import blend_line, console, fmt, next_steps


def summary(run_dir, metrics: RunMetrics) -> None:
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
        console.print(blend_line(blend), highlight=False)
    timings = metrics.timings
    console.print(f"trained {metrics.training.steps} steps in {timings.train_seconds:.0f} s "
                  f"({timings.train_samples_per_second or 0:.1f} samples/s); whole run {timings.total_seconds:.0f} s")
    if metrics.model.added_tokens:
        console.print(f"vocabulary: {describe_extension(metrics.model.model_dump())}")
    next_steps(run_dir, metrics)


def answers(texts: list[str], results: list[dict], as_json: bool = False) -> None:
    if as_json:
        console.print_json(json.dumps([{"text": t, **r} for t, r in zip(texts, results)], ensure_ascii=False))
        return
    for text, result in zip(texts, results):
        label = "|".join(result["label"]) if isinstance(result["label"], list) else result["label"]
        probs = "  ".join(f"{k}={v:.3f}" for k, v in result["probabilities"].items())
        console.print(f"[bold]{label}[/bold]\t{probs}\t{text}", highlight=False)
