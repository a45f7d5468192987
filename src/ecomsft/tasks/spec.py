"""What checking a configuration needs to know of a task, apart from its training code: its
``task:`` section, the shared keys it does not use, its defaults and its checks. Each task's spec
lives in its light ``tasks/<name>/config.py`` (pydantic and ``sections.py`` only), so that
``config.py`` validates a run's configuration without importing any task's training code; the
task class (``tasks/<name>/task.py``) inherits it."""

from __future__ import annotations

from typing import Any, ClassVar

from ..config_sections import AugmentConfig, TaskSection

# Shared keys that only classification uses, for the other tasks' ``unused``.
CLASSIFICATION_ONLY: dict[str, str] = {
    "data.memory_mapped": "memory-mapped data is for single-label classification",
    "data.num_proc": "memory-mapped data is for single-label classification",
    "model.head_share": "head+tail truncation is for classification's single texts",
    "model.blend": "blends are for classification (with tfidf-lr) and relevance (with the zero-shot encoder)",
    **{f"augment.{key}": "augmentation is for classification" for key in AugmentConfig.model_fields},
}


class TaskSpec:
    """A task's configuration rules (the registry's ``task_spec(name)``)."""

    name: ClassVar[str]
    section: ClassVar[type[TaskSection]] = TaskSection
    # Shared config keys (dotted) this task does not use -> why; set to anything but their default,
    # they are refused before any work starts.
    unused: ClassVar[dict[str, str]] = {}
    # Defaults of shared keys that differ for this task (applied where the configuration is silent).
    defaults: ClassVar[dict[str, Any]] = {}

    @classmethod
    def column_guesses(cls) -> dict[str, tuple[str, ...]]:
        """The column names tried, in order, for each ``data.*_column`` the user leaves unnamed (the
        web interface's first guess; the task's reader applies the same when it loads the data)."""
        from ..data.examples import LABEL_COLUMN_GUESSES, TEXT_COLUMN_GUESSES

        return {"text_column": TEXT_COLUMN_GUESSES, "label_column": LABEL_COLUMN_GUESSES}

    @classmethod
    def check(cls, cfg) -> None:
        """Checks of the whole configuration (a ``config.RunConfig``, which is built on this spec
        and so not imported here) for this task; raise ``ValueError`` with the key."""
        if isinstance(cfg.data.train, list):
            raise ValueError(f"data.train: task '{cls.name}' takes one training file")
