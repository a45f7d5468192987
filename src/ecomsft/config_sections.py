"""The shared sections of a run's configuration (data, model, training, augment) and the base of
every task's ``task:`` section: pydantic models that import nothing of ecomsft, so that the tasks'
light config modules (``tasks/<name>/config.py``) and ``config.py``, which assembles a run's
configuration with its task's spec, both build on them without an import loop.
"""

from __future__ import annotations

from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    def to_yaml(self) -> str:
        """Every key, defaults included: the resolved configuration written beside a run."""
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


class TaskSection(_Strict):
    """The base of every task's ``task:`` section; ``type`` names the task in the registry
    (``ecomsft.tasks``), and each task adds its own keys (``tasks/<name>/config.py``)."""

    type: str = "classification"


class GradedSection(TaskSection):
    """Keys of the tasks whose labels are relevance grades (relevance, retrieval): how a label
    becomes a gain and a relevant-or-not decision (``models/heads.Grading``)."""

    gains: dict[str, float] | None = Field(default=None, description="named grades -> gain, e.g. {Exact: 1, Irrelevant: 0}")
    gain: Literal["exponential", "linear"] = Field(default="exponential", description="numeric grades: 2^(g-floor)-1 or g-floor")
    grade_floor: float | None = Field(default=None, description="numeric grades: the grade of zero gain; None: the lowest seen")
    relevant_min: float | None = Field(
        default=None, description="grade (or gain, for named grades) from which a product counts as relevant; "
        "None: the middle of the grade scale (named grades: any gain above 0)")
    ks: list[int] = Field(default=[5, 10], min_length=1, description="cut-offs of NDCG@k, Precision@k, Recall@k")

    @model_validator(mode="after")
    def _grading(self) -> "GradedSection":
        if any(k < 1 for k in self.ks):
            raise ValueError("ks must be positive")
        if self.gains is not None and any(v < 0 for v in self.gains.values()):
            raise ValueError("gains must be 0 or more")
        return self


class DataConfig(_Strict):
    train: str | list[str] = Field(description="training file, or the only file (then split), or builtin:NAME; "
                                   "pretraining: one or several text files")
    valid: str | None = None
    test: str | None = None
    text_column: str | None = None
    text_pair_column: str | None = Field(default=None, description="a second text; relevance and retrieval: the product")
    label_column: str | None = None
    negative_column: str | None = Field(default=None, description="retrieval: a hard-negative product per row")
    catalog: str | None = Field(default=None, description="retrieval: products to retrieve from (None: every product in the data)")
    label_delimiter: str | None = Field(
        default=None, description="multi-label: split string labels on this (None: '|' or ',' or ';')"
    )
    encoding: str | None = Field(default=None, description="force a text encoding instead of sniffing")
    valid_ratio: float = Field(default=0.1, ge=0.0, lt=1.0)
    test_ratio: float = Field(default=0.1, ge=0.0, lt=1.0)
    empty_text: Literal["drop", "fail"] = "drop"
    deduplicate: bool = Field(default=True, description="drop exact duplicate rows before splitting")
    drop_conflicts: bool = Field(default=True, description="drop texts that carry different labels")
    max_samples: int | None = Field(default=None, gt=0, description="stratified sample of the data first")
    cache_tokenized: bool = Field(default=True, description="keep tokenized splits on disk for the next run ($ECOMSFT_CACHE)")
    memory_mapped: bool | Literal["auto"] = Field(
        default="auto", description="read the data as memory-mapped Arrow files, for data larger than memory "
        "(single-label classification); auto: when a data file is 256 MB or more")
    num_proc: int | None = Field(default=None, gt=0, description="memory-mapped data: tokenizing processes (None: one per core, up to 8)")

    @model_validator(mode="after")
    def _ratios(self) -> "DataConfig":
        if self.valid_ratio + self.test_ratio >= 1.0:
            raise ValueError("valid_ratio + test_ratio must be below 1")
        return self


class ModelConfig(_Strict):
    name: str = "auto"  # the bundled encoder that reads the training texts: minilm (English) or me5
    max_length: int = Field(default=128, gt=8)
    blend: Literal["auto", "off"] = Field(
        default="auto", description="classification: mix the fine-tuned model's probabilities with the run's own "
        "tfidf-lr by a weight chosen on the validation split, where that beats the model alone there (aspects: the "
        "span tagger's with a character CRF's; relevance: the score with the zero-shot cosine); off: never")
    # 0.25: Sun et al. 2019's best split; on the quickstart's validation split +1.1 points over the head alone.
    head_share: float = Field(
        default=0.25, gt=0, le=1, description="a text longer than max_length keeps this share of the budget from its "
        "start and the rest from its end (head+tail, Sun et al. 2019); 1: the start only")
    # Vocabulary extension for text the base vocabulary does not cover (Chinese on an English model).
    # The defaults (gloss rows, whole words) won benchmarks/vocab_extension.py (README, "Vocabulary extension").
    extend_vocab: Literal["auto", "always", "never"] = "auto"
    unk_threshold: float = Field(default=0.02, ge=0.0, le=1.0, description="'auto' extends above this unk rate")
    new_token_min_count: int = Field(default=2, ge=1)
    max_new_tokens: int = Field(default=8000, ge=0)
    new_embedding_init: Literal["mean", "cooccurrence", "gloss", "gloss_topk"] = Field(
        default="gloss", description="how added rows start: the mean row, placed by co-occurrence, or from "
        "the model's embeddings of their English dictionary glosses (gloss_topk: WECHSEL's top-k mix)")
    add_words: bool = Field(default=True, description="when extending, also add frequent multi-character jieba words as tokens")
    word_min_count: int = Field(default=5, ge=1, description="add_words: a word's least count in the training texts")
    max_new_words: int = Field(default=5000, ge=0, description="add_words: at most this many words, most frequent first")
    trim_vocab: bool | Literal["auto"] = Field(
        default="auto", description="keep only the embedding rows of the pieces the training texts use, every special "
        "token and the single characters of their scripts (models/trim.py); auto: vocabularies of 100k rows or more (me5)")


class TrainingConfig(_Strict):
    epochs: float = Field(default=3.0, gt=0)
    max_steps: int = Field(default=-1, description="overrides epochs when > 0")
    batch_size: int = Field(default=32, gt=0)
    eval_batch_size: int = Field(default=64, gt=0)
    lr: float = Field(default=5e-5, gt=0)
    # The word-embedding matrix gets its own rate: rows added by vocabulary extension start from
    # nothing and learn too slowly at the rate that suits the pretrained layers.
    embedding_lr: float | None = Field(default=None, gt=0, description="None: 20x lr when vocab was extended")
    head_lr: float | Literal["auto"] | None = Field(
        default="auto", description="the rate of the layers the pretrained model lacks (a classifier's new head, "
        "and BERT's pooler where the checkpoint has none, as e5's); auto: 30 x lr for an e5-family encoder (me5) "
        "in classification, else lr; None: lr")
    weight_decay: float = Field(default=0.01, ge=0)
    warmup_ratio: float = Field(default=0.1, ge=0, lt=1)
    max_grad_norm: float = Field(default=1.0, gt=0)
    gradient_accumulation_steps: int = Field(default=1, gt=0)
    seed: int = 42
    eval_strategy: Literal["epoch", "steps"] = "epoch"
    eval_steps: int | None = Field(default=None, gt=0)
    early_stopping_patience: int | None = Field(default=None, gt=0)
    max_seconds: float | None = Field(default=None, gt=0, description="stop training after this wall-clock budget")
    metric_for_best_model: str | None = Field(default=None, description="None: the task's own (f1_macro, ndcg@<largest k>, loss)")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    device: Literal["auto", "cpu"] = Field(default="auto", description="auto: a CUDA GPU when there is one; cpu: the CPU anyway")
    group_by_length: bool = True
    save_total_limit: int = Field(default=2, gt=0)
    logging_steps: int = Field(default=20, gt=0)
    progress_bar: bool = True
    # Speed options (see training/trainable.py and the README's Performance section for what each one buys).
    freeze_embeddings: bool | Literal["auto"] = Field(
        default="auto", description="train everything but the embedding layer; auto: frozen for a multilingual "
        "vocabulary (100k rows or more, trimmed or not) to which no tokens were added")
    freeze_layers: int = Field(default=0, ge=0, description="also freeze the lowest N transformer layers")
    lora_r: int = Field(default=0, ge=0, description="LoRA adapters of this rank (peft) instead of full fine-tuning; 0: off")
    lora_alpha: int = Field(default=32, gt=0)
    lora_dropout: float = Field(default=0.1, ge=0, lt=1)
    lora_target_modules: list[str] | None = Field(default=None, description="None: peft's choice for the model type")
    lora_layers: int | None = Field(default=None, gt=0, description="LoRA in the last N layers only: the backward pass "
                                    "stops below them (faster on a CPU); None: every layer")
    threads: int | None = Field(default=None, gt=0, description="CPU threads for torch; None: one per physical core")
    # Class imbalance (single-label): see losses.py.
    class_weight: Literal["none", "balanced"] = Field(default="none", description="balanced: weight classes by n / (k * count)")
    focal_gamma: float = Field(default=0.0, ge=0, description="> 0: focal loss with this gamma (with class_weight as alpha)")
    balanced_sampling: bool = Field(default=False, description="draw training rows so that every class is equally likely")

    @model_validator(mode="after")
    def _steps(self) -> "TrainingConfig":
        if self.eval_strategy == "steps" and self.eval_steps is None:
            raise ValueError("eval_strategy 'steps' needs eval_steps")
        if self.lora_layers and not self.lora_r:
            raise ValueError("lora_layers chooses where LoRA adapters go: set training.lora_r too")
        return self


class AugmentConfig(_Strict):
    """Augmentation of the training split (data/augment.py): each copy applies one operation, drawn
    among those with a rate above 0, to about that share of the words."""

    copies: int = Field(default=0, ge=0, description="augmented copies of each training row; 0: off")
    swap: float = Field(default=0.1, ge=0, le=1, description="random swap of words")
    delete: float = Field(default=0.1, ge=0, le=1, description="random deletion of words")
    insert: float = Field(default=0.1, ge=0, le=1, description="insertion of a word from the same text")
    synonym: float = Field(default=0.1, ge=0, le=1, description="synonym replacement (Chinese: HIT Cilin)")
    char_noise: float = Field(default=0.05, ge=0, le=1, description="Chinese: character deletion, repetition, swap")

    def rates(self) -> dict[str, float]:
        return {k: v for k, v in self.model_dump().items() if k != "copies"}
