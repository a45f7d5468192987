"""``ecomsft pretrain``'s configuration: a run configuration with ``task.type: pretraining``, and
the earlier shape of a pretraining config read into it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...config import RunConfig, read_config_tree, validate_config
from ...errors import EcomsftError


def build_pretrain_config(file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """A pretraining run's configuration: the file and overrides as for ``build_config``, with
    ``task.type: pretraining``. The earlier shape of a pretraining config still reads (and is
    turned into this one): ``data.files`` for ``data.train``, ``mlm_probability`` and
    ``whole_word_masking`` at the top level for ``task.*``."""
    tree, source = read_config_tree(file, overrides)
    data = tree.setdefault("data", {})
    if isinstance(data, dict) and "files" in data:
        files = data.pop("files")
        data.setdefault("train", files)
    task = tree.setdefault("task", {})
    if not isinstance(task, dict):
        raise EcomsftError("'task' must be a mapping of keys", where=source)
    for key in ("mlm_probability", "whole_word_masking"):
        if key in tree:
            task.setdefault(key, tree.pop(key))
    if task.setdefault("type", "pretraining") != "pretraining":
        raise EcomsftError(f"task.type is '{task['type']}': ecomsft pretrain runs task 'pretraining' (use ecomsft train)",
                           where=source)
    tree.setdefault("output", "runs/pretrain")
    return validate_config(RunConfig, tree, source)
