"""The task registry: each task is a package under ``tasks/`` with two modules, ``config`` (its
spec: the ``task:`` section, unused keys, defaults, checks; light, ``SPEC``) and ``task`` (its
training code, ``TASK``, a subclass of both its spec and ``tasks.base.Task``); this table names
them. Adding a task is one package and one line here (or ``register`` from outside, as a plugin or
a test does). Docs: docs/adding-a-task.md.

Checking a configuration (``config.RunConfig``) reads only the spec, so it never imports a task's
training code, and nothing here imports ecomsft until a task is asked for: no import loop.
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
    "aspects": "ecomsft.tasks.aspects",
}
_LOADED: dict[str, type] = {}


def register(task_class: type) -> type:
    """Add (or replace) a task under ``task_class.name``; usable as a class decorator. The class
    is its own spec."""
    _LOADED[task_class.name] = task_class
    return task_class


def task_names() -> list[str]:
    return list(dict.fromkeys([*TASKS, *_LOADED]))


def _module(name: str, part: str):
    if name not in TASKS:
        raise ValueError(f"unknown task '{name}' (choose from {', '.join(task_names())})")
    return importlib.import_module(f"{TASKS[name]}.{part}")


def task_spec(name: str) -> type:
    """The task's configuration rules (``tasks.spec.TaskSpec``), without its training code."""
    return _LOADED[name] if name in _LOADED else _module(name, "config").SPEC


def get_task(name: str) -> type:
    """The task's class (its spec and its training code)."""
    if name not in _LOADED:
        _LOADED[name] = _module(name, "task").TASK
    return _LOADED[name]


__all__ = ["TASKS", "get_task", "register", "task_names", "task_spec"]
