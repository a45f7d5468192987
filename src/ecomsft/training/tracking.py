"""Experiment tracking: TensorBoard event files in the run folder, MLflow when configured."""

from __future__ import annotations

import os
from pathlib import Path

from ..distributed import is_main_process


def tracking_callbacks(run_folder: Path) -> list:
    """TensorBoard logging into ``run_folder/tensorboard`` (the Trainer's default would write into
    the checkpoints, which are removed when the run finishes); none in the processes after the first."""
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
