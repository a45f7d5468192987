"""``metrics.json``: the typed record of a finished run, written by the runner and read by every
reader (the report, ``ecomsft runs``, ``compare``, ``/v1/info``, the CLI summary).

The fields every task writes are typed here; each task's own fields are declared below too
(optional), and a field no declaration knows is kept as it is (``extra="allow"``), so that a task
added later, or a run written by a later version, still reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from .errors import EcomsftError
from .files import write_text_atomic


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ModelInfo(_Open):
    name: str
    chosen: str | None = None  # model.name auto: why this bundled encoder was chosen
    path: str | None = None
    max_length: int | None = None
    added_tokens: int = 0
    vocab_rows: int | None = None  # model.trim_vocab: embedding rows kept, of vocab_rows_before
    vocab_rows_before: int | None = None
    parameters: int | None = None
    trainable_parameters: int | None = None


class Timings(_Open):
    train_seconds: float
    eval_seconds: float | None = None
    total_seconds: float
    # Samples (pairs, texts) per second over the steps this process trained: a resumed run counts
    # only the steps it took after its checkpoint.
    train_samples_per_second: float | None = None
    trained_steps: int | None = None


class TrainingInfo(_Open):
    steps: int
    epochs: float | None = None
    best_checkpoint_metric: float | None = None
    embedding_lr: float | None = None
    loss: str | dict[str, Any] | None = None  # a name, or the class-imbalance loss with its weights
    precision: str | None = None


def metrics_of(run_dir: Path | None) -> dict:
    """The metrics.json of the run a loaded model came from, as a dict; {} for a bare model folder."""
    if run_dir is None or not (Path(run_dir) / "metrics.json").is_file():
        return {}
    return RunMetrics.read(run_dir).as_dict()


# What metrics.json said of its task before it recorded the task's name (task.type) alone.
_OLDER_TASK_NAMES = {"multi_label_classification": ("classification", {"multi_label": True}),
                     "masked_lm_pretraining": ("pretraining", {})}


class RunMetrics(_Open):
    task: str  # the run's task.type, as in config.yaml
    model: ModelInfo
    data: dict[str, Any] = {}
    validation: dict[str, Any] | None = None
    test: dict[str, Any] | None = None
    timings: Timings
    training: TrainingInfo
    versions: dict[str, str] = {}
    device: str = "cpu"
    # classification
    multi_label: bool = False
    labels: list[str] | None = None
    threshold: float | None = None
    baseline_tfidf_lr: dict[str, Any] | None = None
    calibration: dict[str, Any] | None = None
    by_length: dict[str, Any] | None = None  # single-label: test accuracy per review-length bucket, model, tfidf-lr, blend
    # the fine-tuned model mixed with tfidf-lr (evaluation/blend.py; aspects: the tagger with a
    # character CRF): used, weight, the validation figures that chose it, the blend's test metrics
    blend: dict[str, Any] | None = None
    # relevance and retrieval
    ks: list[int] | None = None
    grading: str | None = None
    baselines: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _older_task_names(cls, values: Any) -> Any:
        if isinstance(values, dict) and values.get("task") in _OLDER_TASK_NAMES:
            name, implied = _OLDER_TASK_NAMES[values["task"]]
            values = {**values, "task": name, **implied}
        return values

    @classmethod
    def read(cls, run: str | Path) -> "RunMetrics":
        path = Path(run) / "metrics.json"
        try:
            return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise EcomsftError("not a finished run folder (no metrics.json)", where=str(run)) from None
        except (OSError, ValueError) as err:  # ValidationError is a ValueError
            first = err.errors()[0]["loc"] if isinstance(err, ValidationError) else None
            detail = f"field {'.'.join(map(str, first))}" if first else type(err).__name__
            raise EcomsftError(f"metrics.json cannot be read ({detail})", where=str(path)) from None

    def write(self, run: str | Path) -> None:
        write_text_atomic(Path(run) / "metrics.json", self.to_json())

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, ensure_ascii=False)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def headline(self) -> dict[str, float | None]:
        """The main test figures: accuracy (subset accuracy for multi-label), macro-F1, NDCG@10,
        quadruple F1 (aspects), the tfidf-lr baseline's accuracy, and what the run delivers (the
        blend's accuracy or quadruple F1 where training chose a blend)."""
        test, base, blend = self.test or {}, self.baseline_tfidf_lr or {}, self.blend or {}
        delivered = (blend.get("test") or {}) if blend.get("used") else {}
        figures = {"accuracy": test.get("accuracy", test.get("subset_accuracy")), "f1_macro": test.get("f1_macro"),
                   "ndcg@10": test.get("ndcg@10"), "quadruple_f1": test.get("quadruple_f1")}
        # the run's main figure, the first its task has: what the runs lists show
        main = next((key for key in ("accuracy", "ndcg@10", "quadruple_f1", "f1_macro") if figures[key] is not None), None)
        return {**figures, "main_metric": main, "main": figures[main] if main else None,
                "baseline_accuracy": base.get("accuracy", base.get("subset_accuracy")),
                "delivered": delivered.get("accuracy", delivered.get("quadruple_f1"))}


def list_runs(folder: str | Path) -> list[dict]:
    """Finished runs under ``folder`` (any depth), newest first, with their main test metrics."""
    from datetime import datetime

    from .run_folder import is_finished_run

    rows = []
    for marker in Path(folder).rglob("metrics.json"):
        run = marker.parent
        if not is_finished_run(run):
            continue
        try:
            metrics = RunMetrics.read(run)
        except EcomsftError:
            continue
        mtime = marker.stat().st_mtime
        rows.append({"run": str(run), "finished": datetime.fromtimestamp(mtime).strftime("%Y-%m-%d %H:%M"),
                     "task": metrics.task, "model": metrics.model.name,
                     "test_rows": metrics.data.get("sizes", {}).get("test"), **metrics.headline(), "_mtime": mtime})
    rows.sort(key=lambda r: r["_mtime"], reverse=True)
    for row in rows:
        del row["_mtime"]
    return rows
