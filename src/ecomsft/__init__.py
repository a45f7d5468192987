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
    "RunResult": ("ecomsft.run", "RunResult"),
    "RunConfig": ("ecomsft.config", "RunConfig"),
    "build_config": ("ecomsft.config", "build_config"),
    "evaluate": ("ecomsft.evaluation", "evaluate"),
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
