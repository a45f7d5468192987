"""The ``task:`` section of extraction (token classification of attributes in titles)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...config_sections import TaskSection
from ..spec import CLASSIFICATION_ONLY, TaskSpec


class ExtractionSection(TaskSection):
    type: Literal["extraction"] = "extraction"
    scheme: Literal["auto", "IO", "BIO", "BIOES"] = Field(
        default="auto", description="tag scheme of the files (auto: detected); the model is trained in BIOES")
    repair: bool = Field(default=True, description="read tags that break their scheme as seqeval does (counted); false: an error")
    label_all_subtokens: bool = Field(default=False, description="label every sub-word of a word, not only its first")
    stride: int = Field(default=32, ge=0, description="tokens shared by consecutive windows of a title longer than max_length")
    # Measured with me5 on ecommerce_ner_zh (3 epochs, lr 3e-4): validation micro-F1 0.721 with it, 0.717 without.
    crf: bool = Field(default=True, description="a CRF layer learns the tag transitions (pytorch-crf) and trains on whole "
                      "tag sequences; decoding adds its scores (models/crf_head.py); false: per-head cross-entropy")


_NOT_CLASSES = "extraction tags entity spans; the class-imbalance keys are for classification"


class ExtractionSpec(TaskSpec):
    name = "extraction"
    section = ExtractionSection
    # Whole jieba words as tokens would cut across entity boundaries: characters only. The learning
    # rate: me5 on ecommerce_ner_zh's validation share, 3 epochs: micro-F1 0.717 at 3e-4 against 0.676
    # at 1e-4 (benchmarks/extraction.py); the shared default, 5e-5, leaves it further behind. Batches
    # at random, not grouped by length: validation 0.721 against 0.714 grouped (dev 0.738 against
    # 0.708), at 596 s against 423 s of training (3 epochs alone, 2-core AMD EPYC); true is the fast setting.
    defaults = {"model.add_words": False, "training.lr": 3e-4, "training.group_by_length": False}
    unused = {
        **{f"data.{key}": "extraction reads tagged titles (CoNLL or character spans)" for key in
           ("text_column", "text_pair_column", "label_column", "label_delimiter", "negative_column", "catalog")},
        "data.drop_conflicts": "extraction has no conflicting labels to drop",
        "data.empty_text": "an empty title is always an error in a tagged file",
        "data.cache_tokenized": "titles are cut into windows in memory",
        "training.class_weight": _NOT_CLASSES,
        "training.focal_gamma": _NOT_CLASSES,
        "training.balanced_sampling": _NOT_CLASSES,
        **CLASSIFICATION_ONLY,
    }


SPEC = ExtractionSpec
