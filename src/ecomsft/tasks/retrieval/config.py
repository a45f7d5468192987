"""The ``task:`` section of retrieval (a bi-encoder embedding queries and products)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...config_sections import GradedSection
from ..spec import CLASSIFICATION_ONLY, TaskSpec


class RetrievalSection(GradedSection):
    type: Literal["retrieval"] = "retrieval"
    shared_towers: bool = Field(default=True, description="one encoder for queries and products, or two")


_IN_BATCH = "the bi-encoder learns from in-batch negatives (MultipleNegativesRankingLoss), not class weights"


class RetrievalSpec(TaskSpec):
    name = "retrieval"
    section = RetrievalSection

    @classmethod
    def column_guesses(cls) -> dict[str, tuple[str, ...]]:
        from ...data.pairs import GRADE_GUESSES, PRODUCT_GUESSES, QUERY_GUESSES

        return {"text_column": QUERY_GUESSES, "text_pair_column": PRODUCT_GUESSES, "label_column": GRADE_GUESSES}
    unused = {
        "model.trim_vocab": "a bi-encoder keeps its sentence-transformers folder (pooling, normalisation) whole",
        "data.label_delimiter": "retrieval reads (query, product) pairs",
        "data.cache_tokenized": "sentence-transformers tokenizes each batch itself",
        "training.class_weight": _IN_BATCH,
        "training.focal_gamma": _IN_BATCH,
        "training.balanced_sampling": _IN_BATCH,
        "training.group_by_length": "batches are drawn without duplicate products (BatchSamplers.NO_DUPLICATES)",
        "training.lora_r": "LoRA is not wired for bi-encoders; train in full or use training.freeze_layers",
        "training.lora_layers": "LoRA is not wired for bi-encoders",
        **CLASSIFICATION_ONLY,
    }


SPEC = RetrievalSpec
