"""What the command line prints after a pretraining run."""

from __future__ import annotations

from ...metrics_file import RunMetrics
from ...report.terminal import console


def summary(run_dir, metrics: RunMetrics) -> None:
    extra = metrics.model_extra or {}
    console.print(
        f"held-out masked-LM loss {extra['valid_loss_before']:.3f} -> {extra['valid_loss']:.3f} "
        f"(perplexity {extra['valid_perplexity_before']:.1f} -> {extra['valid_perplexity']:.1f}); "
        f"{metrics.training.steps} steps in {metrics.timings.train_seconds:.0f} s")
    console.print(f"model folder: [bold]{run_dir}/model[/bold]  (use it as --model for ecomsft train)")
