"""The inference registry, beside the task registry (``tasks/__init__.py``): a finished run's task
-> the class that reads its model folder (``inference.base.Inference``: load, predict a batch,
describe, evaluate a labelled file, score a file, its HTTP routes). The API, the server, evaluate
and the reports look a run's task up here instead of branching on task names. A task defined
outside ecomsft registers its class with ``register_inference`` (a plugin, a test).

Classes are imported on first use, so that reading this table loads neither torch nor FastAPI.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import EcomsftError
from ..run_folder import task_of

INFERENCE: dict[str, str] = {
    "classification": "ecomsft.inference.predictor:Predictor",
    "relevance": "ecomsft.inference.ranker:Ranker",
    "retrieval": "ecomsft.inference.ranker:Ranker",
    "extraction": "ecomsft.inference.extractor:Extractor",
    "generation": "ecomsft.inference.generator:Generator",
}
# Tasks whose runs are not predictors, and what their runs are for instead.
NOT_PREDICTORS: dict[str, str] = {
    "pretraining": "ecomsft train --model RUN/model (a starting point for fine-tuning, not a predictor)",
}
_LOADED: dict[str, type] = {}


def register_inference(task: str, inference_class: type) -> type:
    """Serve, predict and evaluate runs of ``task`` with ``inference_class`` (an ``Inference``)."""
    _LOADED[task] = inference_class
    return inference_class


def inference_class(task: str) -> type | None:
    """The class that reads runs of ``task``, or None when the task has none."""
    if task not in _LOADED and task in INFERENCE:
        module, name = INFERENCE[task].split(":")
        _LOADED[task] = getattr(importlib.import_module(module), name)
    return _LOADED.get(task)


def use_of(task: str) -> str:
    """What to do with a finished run of ``task`` (the other commands' one-line refusals)."""
    found = inference_class(task)
    if found is None:
        return NOT_PREDICTORS.get(task, f"the {task} task's own commands")
    return found.use.get(task, "") if isinstance(found.use, dict) else found.use  # one class may read several tasks


def _a_run(task: str) -> str:
    return f"{'an' if task[:1] in 'aeiou' else 'a'} {task} run"


def refusal(run: str | Path, task: str, wanted: tuple[str, ...]) -> EcomsftError:
    return EcomsftError(f"this is {_a_run(task)}, not {' or '.join(wanted)}; use: {use_of(task)}", where=str(run))


def require_task(run: str | Path, *tasks: str) -> str:
    """The run's task, or one line saying what the run is and what to do with it instead."""
    task = task_of(run)
    if task not in tasks:
        raise refusal(run, task, tasks)
    return task


def inference_for(run: str | Path) -> type:
    """The class that reads ``run``, or one line saying what the run is for instead."""
    task = task_of(run)
    found = inference_class(task)
    if found is None:
        raise EcomsftError(f"this is {_a_run(task)}, which predicts nothing; use: {use_of(task)}", where=str(run))
    return found
