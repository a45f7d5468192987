"""Task ``classification`` (single- and multi-label)."""

from .task import ClassificationTask

TASK = ClassificationTask
