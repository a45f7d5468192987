"""Task ``retrieval`` (a bi-encoder for search and recommendation)."""

from .task import RetrievalTask

TASK = RetrievalTask
