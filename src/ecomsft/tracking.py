"""Experiment tracking: TensorBoard event files in the run folder, MLflow when configured, and the
list of runs under a folder."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path


def tracking_callbacks(run_folder: Path) -> list:
    """TensorBoard logging into ``run_folder/tensorboard`` (the Trainer's default would write into
    the checkpoints, which are removed when the run finishes); none in the processes after the first."""
    from .distributed import is_main_process

    if not is_main_process():
        return []
    try:
        from torch.utils.tensorboard import SummaryWriter
        from transformers.integrations import TensorBoardCallback
    except ImportError:
        return []
    return [TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(run_folder / "tensorboard")))]


def report_to() -> list[str]:
    """MLflow when it is installed and a tracking server is configured; nothing else by default."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        try:
            import mlflow  # noqa: F401
        except ImportError:
            return []
        return ["mlflow"]
    return []


def list_runs(folder: str | Path) -> list[dict]:
    """Finished runs under ``folder`` (any depth), newest first, with their main test metrics."""
    rows = []
    for marker in Path(folder).rglob("metrics.json"):
        run = marker.parent
        if not (run / "model").is_dir():
            continue
        try:
            metrics = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        test = metrics.get("test") or {}
        base = metrics.get("baseline_tfidf_lr") or {}
        rows.append({
            "run": str(run),
            "finished": datetime.fromtimestamp(marker.stat().st_mtime).strftime("%Y-%m-%d %H:%M"),
            "task": metrics.get("task"),
            "model": (metrics.get("model") or {}).get("name"),
            "test_rows": (metrics.get("data") or {}).get("sizes", {}).get("test"),
            "accuracy": test.get("accuracy", test.get("subset_accuracy")),
            "f1_macro": test.get("f1_macro"),
            "ndcg@10": test.get("ndcg@10"),
            "baseline_accuracy": base.get("accuracy", base.get("subset_accuracy")),
            "_mtime": marker.stat().st_mtime,
        })
    rows.sort(key=lambda r: r["_mtime"], reverse=True)
    for row in rows:
        del row["_mtime"]
    return rows
