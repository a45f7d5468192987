"""ecomsft: supervised fine-tuning of pretrained transformers on e-commerce text.

``ecomsft.train(config)`` fine-tunes and evaluates; ``ecomsft.load(run).predict(texts)`` uses the
result. Heavy libraries (torch, transformers) load on first use, so the CLI starts fast.
"""

from .errors import EcomsftError

__version__ = "0.1.0"

_LAZY = {
    "train": ("ecomsft.api", "train"),
    "load": ("ecomsft.inference.predictor", "load"),
    "Predictor": ("ecomsft.inference.predictor", "Predictor"),
    "pretrain": ("ecomsft.api", "pretrain"),
    "compare": ("ecomsft.api", "compare"),
    "predict_file": ("ecomsft.api", "predict_file"),
    "rank_file": ("ecomsft.api", "rank_file"),
    "search": ("ecomsft.api", "search"),
    "export": ("ecomsft.api", "export"),
    "show_config": ("ecomsft.api", "show_config"),
    "RunResult": ("ecomsft.runner", "RunResult"),
    "RunMetrics": ("ecomsft.schema", "RunMetrics"),
    "RunConfig": ("ecomsft.config", "RunConfig"),
    "build_config": ("ecomsft.config", "build_config"),
    "register_task": ("ecomsft.tasks", "register"),
    "register_inference": ("ecomsft.inference.registry", "register_inference"),
    "register_report_sections": ("ecomsft.report", "register_sections"),
    "Inference": ("ecomsft.inference.base", "Inference"),
    "evaluate": ("ecomsft.api", "evaluate"),
    "Ranker": ("ecomsft.inference.ranker", "Ranker"),
    "Index": ("ecomsft.inference.index", "Index"),
    "build_index": ("ecomsft.inference.index", "build_index"),
}

__all__ = ["EcomsftError", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'ecomsft' has no attribute {name!r}")
