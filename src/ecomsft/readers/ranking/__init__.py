"""A relevance (cross-encoder) or retrieval (bi-encoder) run after training: ``Ranker``, the
product index of ``ecomsft index``/``search``, ``POST /v1/rank``, its report sections and summary."""

PIPELINE_TAG = {"relevance": "text-ranking", "retrieval": "sentence-similarity"}
