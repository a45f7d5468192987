"""The ``task:`` section of generation (instruction tuning of a causal LM with TRL)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ...config_sections import TaskSection
from ...data.conversations import COLUMNS
from ...models.resolve import BUNDLED, E5_ALIASES
from ..spec import CLASSIFICATION_ONLY, TaskSpec


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


_NOT_CLASSES = "generation learns answers token by token; the class-imbalance keys are for classification"


class GenerationSpec(TaskSpec):
    name = "generation"
    section = GenerationSection
    # Decoders read any text through byte-level tokens: no vocabulary extension by default.
    # Batches at random by default: the measured recipes (README) were trained so. Grouped by length,
    # the short rows of a shop recipe pad 28% less (titles: 1.29 padded tokens per real one at random).
    defaults = {"model.extend_vocab": "never", "model.max_length": 256, "training.group_by_length": False}
    unused = {
        "model.trim_vocab": "a decoder predicts over its whole vocabulary",
        **{f"data.{key}": "generation reads prompt/completion, messages or instruction/output columns (task.*_column)"
           for key in ("text_column", "text_pair_column", "label_column", "label_delimiter", "negative_column", "catalog")},
        "data.drop_conflicts": "generation has no conflicting labels to drop",
        "data.empty_text": "an empty prompt or completion is always an error",
        "data.cache_tokenized": "TRL tokenizes the conversations in memory",
        "training.class_weight": _NOT_CLASSES,
        "training.focal_gamma": _NOT_CLASSES,
        "training.balanced_sampling": _NOT_CLASSES,
        "training.freeze_layers": "freezing layers is for encoders; use training.lora_r",
        "training.freeze_embeddings": "freezing is for encoders; use training.lora_r",
        "training.embedding_lr": "decoders read any text through byte-level tokens: no rows are added to learn apart",
        "training.head_lr": "a decoder's head is its pretrained output layer, not a new one",
        **CLASSIFICATION_ONLY,
    }

    @classmethod
    def check(cls, cfg) -> None:
        super().check(cfg)
        if cfg.model.name in (BUNDLED, *E5_ALIASES):
            raise ValueError("model.name: generation fine-tunes a decoder, not an encoder: auto or gemma3-270m (the "
                             "bundled Gemma 3 270M), a hub id or folder such as Qwen/Qwen2.5-0.5B-Instruct, or a .gguf file")
        if cfg.task.quantization == "4bit" and not cfg.training.lora_r:
            raise ValueError("task.quantization: 4bit (QLoRA) trains LoRA adapters; set training.lora_r (e.g. 16)")


SPEC = GenerationSpec
