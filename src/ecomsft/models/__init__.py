"""Model resolution and adaptation (aliases, offline errors, vocabulary extension)."""

from .resolve import ALIASES, resolve_model
from .vocab import coverage, extend_vocabulary

__all__ = ["ALIASES", "coverage", "extend_vocabulary", "resolve_model"]
