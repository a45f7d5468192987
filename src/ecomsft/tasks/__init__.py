"""The task registry: each task is a package under ``tasks/`` whose module defines ``TASK``, a
subclass of ``tasks.base.Task``; this table names them. Adding a task is one package and one line
here (or ``register`` from outside, as a plugin or a test does). Docs: docs/tasks.md.

Modules are imported on first use, and a task's module imports only light libraries at its top,
so that a configuration is checked (``config.RunConfig`` asks the registry for the task's section)
before torch or transformers load.
"""

from __future__ import annotations

import importlib

TASKS: dict[str, str] = {
    "classification": "ecomsft.tasks.classification",
    "relevance": "ecomsft.tasks.relevance",
    "retrieval": "ecomsft.tasks.retrieval",
    "pretraining": "ecomsft.tasks.pretraining",
    "extraction": "ecomsft.tasks.extraction",
    "generation": "ecomsft.tasks.generation",
}
_LOADED: dict[str, type] = {}


def register(task_class: type) -> type:
    """Add (or replace) a task under ``task_class.name``; usable as a class decorator."""
    _LOADED[task_class.name] = task_class
    return task_class


def task_names() -> list[str]:
    return list(dict.fromkeys([*TASKS, *_LOADED]))


def get_task(name: str) -> type:
    if name not in _LOADED:
        if name not in TASKS:
            raise ValueError(f"unknown task '{name}' (choose from {', '.join(task_names())})")
        module = importlib.import_module(TASKS[name])
        _LOADED[name] = module.TASK
    return _LOADED[name]


__all__ = ["TASKS", "get_task", "register", "task_names"]
