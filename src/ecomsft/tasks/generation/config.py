"""The ``task:`` section of generation (instruction tuning of a causal LM with TRL)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...config import TaskSection
from ...data.conversations import COLUMNS


class GenerationSection(TaskSection):
    type: Literal["generation"] = "generation"
    format: Literal["auto", "prompt_completion", "messages", "alpaca"] = Field(
        default="auto", description="data shape; auto: a messages column, else prompt/completion, else instruction/output")
    prompt_column: str = COLUMNS["prompt_column"]
    completion_column: str = COLUMNS["completion_column"]
    messages_column: str = Field(default=COLUMNS["messages_column"], description="chat turns: a list of {role, content} (JSONL, or JSON text)")
    instruction_column: str = Field(default=COLUMNS["instruction_column"], description="alpaca: the instruction")
    input_column: str = Field(default=COLUMNS["input_column"], description="alpaca: the optional input, appended to the instruction")
    output_column: str = Field(default=COLUMNS["output_column"], description="alpaca: the answer")
    system: str | None = Field(default=None, description="a system turn put before every conversation that has none")
    long_prompts: Literal["truncate", "refuse"] = Field(
        default="truncate", description="a row longer than max_length: cut the prompt from its left (counted), or an error; "
        "the completion is never cut")
    template_fallback: bool = Field(
        default=True, description="when the tokenizer's chat template cannot mark assistant turns: use the default "
        "marked template (saved with the model); false: an error")
    packing: bool = Field(default=False, description="pack rows into max_length blocks (TRL bfd); off: no FlashAttention here")
    neftune_alpha: float | None = Field(default=None, gt=0, description="NEFTune noise on the embeddings (e.g. 5)")
    gradient_checkpointing: bool = False
    quantization: Literal["none", "4bit"] = Field(default="none", description="4bit: QLoRA (bitsandbytes, CUDA GPU, with training.lora_r)")
    keep_adapter: bool = Field(default=False, description="LoRA: also keep the adapter alone in adapter/ beside the merged model/")
    completion_kind: Literal["auto", "text", "label", "json"] = Field(
        default="auto", description="how generations are judged: label (parsed into the training answers), JSON "
        "(validity, field F1) or free text (ROUGE-L, chrF); auto: guessed from the training completions")
    max_new_tokens: int = Field(default=64, gt=0, description="generation budget in evaluation (and the default for generate)")
    do_sample: bool = Field(default=False, description="evaluation decoding: greedy (false) or sampling")
    temperature: float = Field(default=1.0, gt=0)
    top_p: float = Field(default=1.0, gt=0, le=1)
    top_k: int = Field(default=50, ge=0)
    eval_samples: int | None = Field(default=500, gt=0, description="rows of each held-out split whose generations are "
                                     "scored (None: all; generation is slow on a CPU); the loss uses every row")
