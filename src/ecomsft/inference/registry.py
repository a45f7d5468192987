"""The after-training registry, beside the task registry (``tasks/__init__.py``): a finished run's
task -> its after-training package (``ecomsft/readers/<task>/``), which holds what differs between
tasks once a run is trained, each part a module of a fixed name, each optional:

- ``reader.py``: ``READER``, the ``inference.base.Inference`` class that reads the run's model
  folder (load, predict a batch, describe, evaluate a labelled file, score a file; its ONNX graph);
- ``routes.py``: ``router(server)``, its HTTP routes as a FastAPI ``APIRouter``;
- ``report.py``: ``head(run, metrics)`` and ``details(run, metrics)``, its sections of report.html;
- ``terminal.py``: ``summary(run_dir, metrics)`` (after training) and ``answers(texts, results,
  as_json)`` (``ecomsft predict``), what the command line prints;
- the package's ``USE``: what a run is for when it has no reader (pretraining); its
  ``PIPELINE_TAG``: the Hugging Face pipeline its model folder loads in (the model card's header;
  per task where one package reads several).

The API, the server, evaluate, the report and the command line look the run's task up here instead
of branching on task names. A task defined outside ecomsft registers its own package with
``register_after_training`` (a plugin, a test). Parts are imported on first use, so that reading
this table loads neither torch nor FastAPI.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from ..errors import EcomsftError
from ..run_folder import task_of

AFTER_TRAINING: dict[str, str] = {
    "classification": "ecomsft.readers.classification",
    "relevance": "ecomsft.readers.ranking",
    "retrieval": "ecomsft.readers.ranking",
    "extraction": "ecomsft.readers.extraction",
    "generation": "ecomsft.readers.generation",
    "pretraining": "ecomsft.readers.pretraining",
    "aspects": "ecomsft.readers.aspects",
}


def register_after_training(task: str, package: str) -> None:
    """Serve, predict, evaluate, report and summarise runs of ``task`` with the modules of ``package``."""
    AFTER_TRAINING[task] = package


def package(task: str) -> ModuleType | None:
    """``task``'s after-training package itself (its ``USE``, ``PIPELINE_TAG``), or None."""
    name = AFTER_TRAINING.get(task)
    return importlib.import_module(name) if name else None


def pipeline_tag(task: str) -> str | None:
    """The Hugging Face pipeline a run of ``task`` loads in (its package's ``PIPELINE_TAG``, per task
    where one package reads several), or None."""
    tag = getattr(package(task), "PIPELINE_TAG", None)
    return tag.get(task) if isinstance(tag, dict) else tag


def part(task: str, name: str) -> ModuleType | None:
    """The module ``name`` (reader, routes, report, terminal) of ``task``'s after-training package,
    or None when the task has no package or the package no such module."""
    package = AFTER_TRAINING.get(task)
    if package is None:
        return None
    full = f"{package}.{name}"
    if full not in sys.modules:
        try:
            if importlib.util.find_spec(full) is None:
                return None
        except ModuleNotFoundError:
            return None
    return importlib.import_module(full)


def inference_class(task: str) -> type | None:
    """The class that reads runs of ``task``, or None when the task has none."""
    reader = part(task, "reader")
    return None if reader is None else reader.READER


def use_of(task: str) -> str:
    """What to do with a finished run of ``task`` (the other commands' one-line refusals)."""
    found = inference_class(task)
    if found is None:
        return getattr(package(task), "USE", None) or f"the {task} task's own commands"
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
