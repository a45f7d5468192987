"""Using a finished run: loading, batched prediction."""

from .predictor import Predictor, load

__all__ = ["Predictor", "load"]
