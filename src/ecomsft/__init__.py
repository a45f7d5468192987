"""ecomsft: supervised fine-tuning of pretrained transformers on e-commerce text.

``ecomsft.train(config)`` fine-tunes and evaluates; ``ecomsft.load(run)`` reads the result with its
task's reader (``.predict(texts)`` for a classifier, ``.answer(texts)`` for any task). Heavy libraries (torch, transformers) load on first use, so the CLI starts fast.
"""

from .errors import EcomsftError

__version__ = "0.1.0"

_LAZY = {
    "train": ("ecomsft.api", "train"),
    "load": ("ecomsft.api", "load"),
    "predict": ("ecomsft.api", "predict"),
    "Predictor": ("ecomsft.readers.classification.reader", "Predictor"),
    "pretrain": ("ecomsft.api", "pretrain"),
    "compare": ("ecomsft.api", "compare"),
    "predict_file": ("ecomsft.api", "predict_file"),
    "rank_file": ("ecomsft.api", "rank_file"),
    "search": ("ecomsft.api", "search"),
    "export": ("ecomsft.api", "export"),
    "show_config": ("ecomsft.api", "show_config"),
    "RunResult": ("ecomsft.runner", "RunResult"),
    "RunMetrics": ("ecomsft.metrics_file", "RunMetrics"),
    "RunConfig": ("ecomsft.config", "RunConfig"),
    "build_config": ("ecomsft.config", "build_config"),
    "register_task": ("ecomsft.tasks", "register"),
    "register_after_training": ("ecomsft.inference.registry", "register_after_training"),
    "Inference": ("ecomsft.inference.base", "Inference"),
    "evaluate": ("ecomsft.api", "evaluate"),
    "Ranker": ("ecomsft.readers.ranking.reader", "Ranker"),
    "Index": ("ecomsft.readers.ranking.index", "Index"),
    "build_index": ("ecomsft.readers.ranking.index", "build_index"),
}

__all__ = ["EcomsftError", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'ecomsft' has no attribute {name!r}")
