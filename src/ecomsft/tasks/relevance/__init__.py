"""Task ``relevance`` (a cross-encoder grading (query, product) pairs)."""

from .task import RelevanceTask

TASK = RelevanceTask
