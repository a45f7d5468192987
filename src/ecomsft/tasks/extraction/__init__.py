"""Task ``extraction`` (attributes from titles: token classification, entity-level metrics, CRF baseline)."""

from .task import ExtractionTask

TASK = ExtractionTask
