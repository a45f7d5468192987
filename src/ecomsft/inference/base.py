"""What every reader of a finished run offers (the classes of ``inference/registry.py``), so that
the API, the server, evaluate and the reports use a run without knowing its task."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, ClassVar

from ..errors import EcomsftError
from ..metrics_file import metrics_of
from .onnx_export import model_folder
from .registry import require_task, use_of


def results_array(results: list) -> Any:
    """One result per item (a list of spans, of opinions) as the object array the server's
    micro-batcher splits and joins."""
    import numpy as np

    found = np.empty(len(results), dtype=object)
    found[:] = results
    return found


class Inference:
    """A finished run's model, loaded for prediction.

    Class attributes say what the run offers; a subclass fills in those it has:

    - ``tasks``: the task names whose runs it reads; ``use``: the command for such a run (per task
      when it reads several).
    - ``route`` and ``serves``: its HTTP route (its package's ``routes.py`` serves it) and what the
      404 of another route says.
    - ``backends``: ``torch`` and, where it exports, ``onnx`` / ``onnx-int8``; ``onnx_graph``: what
      ``ecomsft export`` traces (the transformers model class, the inputs the graph takes, the
      logits' dynamic axes; None: no export); ``batched``: its
      requests go through the server's micro-batcher (``predict_batch``); ``served_limits``: the
      serve settings it adds to ``/v1/info``'s limits.
    """

    tasks: ClassVar[tuple[str, ...]] = ()
    use: ClassVar[str | dict[str, str]] = ""
    route: ClassVar[str | None] = None
    serves: ClassVar[str] = ""
    backends: ClassVar[tuple[str, ...]] = ("torch",)
    onnx_graph: ClassVar[tuple[str, tuple[str, ...], dict] | None] = None
    batched: ClassVar[bool] = True
    served_limits: ClassVar[tuple[str, ...]] = ()
    run_dir: Path | None = None

    def __init_subclass__(cls, **kwargs):
        """Every reader's ``__init__(run, ...)`` loads with the errors of a damaged or foreign model
        folder (a truncated tokenizer.json, a bad weights header, code it asks to run) as one line."""
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "_loading", False):
            @functools.wraps(init)
            def loading_init(self, run, *args, **options):
                from ..models.resolve import loading

                with loading(str(run)):
                    init(self, run, *args, **options)

            loading_init._loading = True
            cls.__init__ = loading_init

    @classmethod
    def require(cls, run: str | Path) -> str:
        """The run's task when this class reads it, else one line saying what to do instead."""
        return require_task(run, *cls.tasks)

    @classmethod
    def load(cls, run: str | Path, *, batch_size: int = 64, backend: str = "torch", blend: bool = True,
             **options: Any) -> "Inference":
        """The run loaded as the server and the batch commands use it (``blend``: a classifier's
        mix with its tfidf-lr, where training chose one; ``options`` a reader may take, such as a
        classifier's ``calibrated``, others ignore)."""
        return cls(run, batch_size=batch_size)

    @classmethod
    def check_run(cls, run: str | Path, backend: str = "torch", blend: bool = True) -> None:
        """Fail in one line, before a server starts, when the run cannot be served (default: load it)."""
        cls.load(run, backend=backend)

    @property
    def metrics(self) -> dict:
        """The run's metrics.json ({} for a bare model folder)."""
        return metrics_of(self.run_dir)

    lexical = None  # the lexical model a reader mixes in where training chose a blend (a classifier's
    # tfidf-lr, an aspects tagger's character CRF); None: the fine-tuned model alone

    def test_metrics(self) -> dict:
        """The run's test metrics of what this reader predicts (``/v1/info``): the blend's where it
        mixes one in."""
        if self.lexical is not None:
            return (self.metrics.get("blend") or {}).get("test") or {}
        return self.metrics.get("test") or {}

    def predict_batch(self, items: list) -> Any:
        """One result per item, as an array the micro-batcher can split and join."""
        raise NotImplementedError

    def describe(self) -> dict:
        """``/v1/info``'s ``task`` and ``labels``."""
        return {"task": self.tasks[0], "labels": None}

    @classmethod
    def evaluate_file(cls, run: str | Path, data: str, **options: Any) -> dict:
        """The run's metrics on another labelled file."""
        raise EcomsftError(f"{cls.tasks[0]} runs have no labelled evaluation", where=str(run))

    @classmethod
    def predict_file(cls, run: str | Path, input: str | Path, output: str | Path, **options: Any) -> int:
        """Score every row of ``input`` into ``output`` (``ecomsft predict --input``)."""
        task = cls.require(run)
        raise EcomsftError(f"ecomsft predict does not score {task} runs; use: {use_of(task)}", where=str(run))

    def answer(self, texts: list[str]) -> list:
        """``ecomsft predict RUN TEXT...``: one JSON-able answer per text (its package's
        ``terminal.answers`` prints them)."""
        task = self.tasks[0]
        raise EcomsftError(f"ecomsft predict does not answer texts for {task} runs; use: {use_of(task)}", where=str(self.run_dir))


class ExportableInference(Inference):
    """A reader whose model also runs as its ONNX export (``ecomsft export``; classifiers and
    extraction): loaded with the backend asked for, checked before serving by its folder alone."""

    backends = ("torch", "onnx", "onnx-int8")

    @classmethod
    def load(cls, run: str | Path, *, batch_size: int = 64, backend: str = "torch", blend: bool = True,
             **options: Any) -> "Inference":
        return cls(run, batch_size=batch_size, backend=backend)

    @classmethod
    def check_run(cls, run: str | Path, backend: str = "torch", blend: bool = True) -> None:
        model_folder(run)
