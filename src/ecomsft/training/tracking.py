"""Experiment tracking: ``progress.jsonl`` and TensorBoard event files in the run folder, MLflow
when configured."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from transformers import TrainerCallback

from ..distributed import is_main_process


PROGRESS_FILE = "progress.jsonl"


class ProgressFile(TrainerCallback):
    """One JSON line per Trainer log in ``progress.jsonl``: the step, the steps planned, the seconds
    since training began and the logged figures (loss, learning rate, validation metrics). Written
    as it goes (a line at a time, flushed), so that another process (``ecomsft ui``) draws the curves
    of a training it did not start, and reads them back after a refresh or a restart; TensorBoard's
    event files would need TensorBoard to read."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / PROGRESS_FILE
        self.started = time.time()

    def _write(self, line: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.time()
        self._write({"event": "begin", "step": state.global_step, "max_steps": state.max_steps, "time": self.started})

    def on_log(self, args, state, control, logs=None, **kwargs):
        figures = {k: v for k, v in (logs or {}).items() if isinstance(v, (int, float)) and v == v}
        self._write({"step": state.global_step, "max_steps": state.max_steps,
                     "seconds": round(time.time() - self.started, 2), **figures})


def read_progress(folder: Path) -> list[dict]:
    """The lines of ``progress.jsonl`` in ``folder`` (none when absent); a line cut short by a
    writer mid-way is left out."""
    path = Path(folder) / PROGRESS_FILE
    lines = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def tracking_callbacks(run_folder: Path) -> list:
    """``progress.jsonl``, and TensorBoard logging into ``run_folder/tensorboard`` (the Trainer's
    default would write into the checkpoints, which are removed when the run finishes); none in the
    processes after the first."""
    if not is_main_process():
        return []
    callbacks = [ProgressFile(run_folder)]
    try:
        from torch.utils.tensorboard import SummaryWriter
        from transformers.integrations import TensorBoardCallback
    except ImportError:
        return callbacks
    return callbacks + [TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(run_folder / "tensorboard")))]


def report_to() -> list[str]:
    """MLflow when it is installed and a tracking server is configured; nothing else by default."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        try:
            import mlflow  # noqa: F401
        except ImportError:
            return []
        return ["mlflow"]
    return []
