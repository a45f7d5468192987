"""The ``task:`` section of extraction (token classification of attributes in titles)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...config import TaskSection


class ExtractionSection(TaskSection):
    type: Literal["extraction"] = "extraction"
    scheme: Literal["auto", "IO", "BIO", "BIOES"] = Field(
        default="auto", description="tag scheme of the files (auto: detected); the model is trained in BIOES")
    repair: bool = Field(default=True, description="read tags that break their scheme as seqeval does (counted); false: an error")
    label_all_subtokens: bool = Field(default=False, description="label every sub-word of a word, not only its first")
    stride: int = Field(default=32, ge=0, description="tokens shared by consecutive windows of a title longer than max_length")
