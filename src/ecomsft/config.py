"""The configuration of a run: pydantic models, YAML in, fully resolved YAML out.

Every key mirrors an argument of the object it builds (the Trainer's arguments, the tokenizer's
max length, the split ratios), and a misspelt key or a value of the wrong type fails before any work
starts, with the key's dotted path in the message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator, model_validator

from .errors import EcomsftError


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
    # Speed options (see speed.py and the README's Performance section for what each one buys).
    freeze_embeddings: bool | Literal["auto"] = Field(
        default="auto", description="train everything but the embedding layer; auto: frozen for a multilingual "
        "vocabulary (100k rows or more, trimmed or not) to which no tokens were added")
    freeze_layers: int = Field(default=0, ge=0, description="also freeze the lowest N transformer layers")
    lora_r: int = Field(default=0, ge=0, description="LoRA adapters of this rank (peft) instead of full fine-tuning; 0: off")
    lora_alpha: int = Field(default=32, gt=0)
    lora_dropout: float = Field(default=0.1, ge=0, lt=1)
    lora_target_modules: list[str] | None = Field(default=None, description="None: peft's choice for the model type")
    threads: int | None = Field(default=None, gt=0, description="CPU threads for torch; None: one per physical core")
    # Class imbalance (single-label): see losses.py.
    class_weight: Literal["none", "balanced"] = Field(default="none", description="balanced: weight classes by n / (k * count)")
    focal_gamma: float = Field(default=0.0, ge=0, description="> 0: focal loss with this gamma (with class_weight as alpha)")
    balanced_sampling: bool = Field(default=False, description="draw training rows so that every class is equally likely")

    @model_validator(mode="after")
    def _steps(self) -> "TrainingConfig":
        if self.eval_strategy == "steps" and self.eval_steps is None:
            raise ValueError("eval_strategy 'steps' needs eval_steps")
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


class RunConfig(_Strict):
    """A run of any task: the shared sections, and a ``task`` section of the task's own keys.

    The task named by ``task.type`` decides, before any work starts, which keys apply: its section
    takes only its own keys, a shared key it does not use is refused when set to anything but its
    default (naming the key and the task), and its defaults fill what the configuration leaves out.
    """

    data: DataConfig
    task: SerializeAsAny[TaskSection] = Field(default_factory=TaskSection, validate_default=True)
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    augment: AugmentConfig = AugmentConfig()
    output: str = "runs/run"
    overwrite: bool = False
    baseline: bool = Field(default=True, description="also score the task's classical baselines on the same split")

    @model_validator(mode="before")
    @classmethod
    def _task_shape(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        tree = {key: _as_tree(value) for key, value in values.items()}
        task = _task_of(tree)
        for dotted, value in task.defaults.items():
            if _get_dotted(tree, dotted) is _MISSING:
                _set_dotted(tree, dotted, value)
        for dotted, reason in task.unused.items():
            value = _get_dotted(tree, dotted)
            if value is not _MISSING and value != _shared_default(dotted):
                raise ValueError(f"config key '{dotted}' is not used by task '{task.name}': {reason}")
        return tree

    @field_validator("task", mode="before")
    @classmethod
    def _task_section(cls, value: Any) -> Any:
        if isinstance(value, TaskSection) and type(value) is not TaskSection:
            return value
        raw = _as_tree(value) or {}
        return _task_of({"task": raw}).section.model_validate(raw)

    @model_validator(mode="after")
    def _task_checks(self) -> "RunConfig":
        _task_of({"task": {"type": self.task.type}}).check(self)
        return self


_MISSING = object()


def _as_tree(value: Any) -> Any:
    """A section given as an object: the keys it was given (a task section keeps its type)."""
    if not isinstance(value, BaseModel):
        return value
    tree = value.model_dump(exclude_unset=True)
    if isinstance(value, TaskSection):
        tree["type"] = value.type
    return tree


def _task_of(tree: dict):
    from .tasks import get_task  # the registry: a name -> its task class, imported on first use

    section = tree.get("task") or {}
    name = section.get("type", "classification") if isinstance(section, dict) else section.type
    return get_task(name or "classification")


def _get_dotted(tree: dict, dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _shared_default(dotted: str) -> Any:
    section, key = dotted.split(".", 1) if "." in dotted else (None, dotted)
    model = RunConfig if section is None else RunConfig.model_fields[section].annotation
    return model.model_fields[key].get_default(call_default_factory=True)


def flatten_config(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as dotted keys: {"training": {"lr": 1}} -> {"training.lr": 1}."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten_config(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _format_validation_error(err: ValidationError, source: str, tree: dict | None = None) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        if first["loc"][0] == "task" and tree is not None:
            task = (tree.get("task") or {}).get("type", "classification")
            return f"{source}: config key '{key}' is not used by task '{task}'"
        return f"{source}: unknown config key '{key}'"
    if first["type"] == "value_error" and not first["loc"]:
        return f"{source}: {first['msg'].removeprefix('Value error, ')}"
    if first["type"] == "missing":
        return f"{source}: missing config key '{key}'"
    return f"{source}: config key '{key}': {first['msg']} (got {first.get('input')!r})"


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise EcomsftError(f"--set {dotted}: '{part}' is not a section")
        node = child
    node[parts[-1]] = value


def parse_set_option(item: str) -> tuple[str, Any]:
    """``key.sub=value`` -> (``key.sub``, value parsed as YAML so numbers and booleans keep their type)."""
    if "=" not in item:
        raise EcomsftError(f"--set {item!r}: expected KEY=VALUE, e.g. training.lr=3e-5")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def build_config(file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read a YAML file (optional), apply dotted-key overrides (None sets null), validate everything at once."""
    tree, source = read_config_tree(file, overrides)
    return validate_config(RunConfig, tree, source)


def build_config_of(model: type[BaseModel], file: str | Path | None = None, overrides: dict[str, Any] | None = None):
    """``build_config`` for any configuration model (a run, the server's settings)."""
    tree, source = read_config_tree(file, overrides)
    return validate_config(model, tree, source)


def read_config_tree(file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> tuple[dict, str]:
    """The YAML file's mapping with the overrides applied, unvalidated; and the name to blame."""
    tree: dict[str, Any] = {}
    source = "config"
    if file is not None:
        path = Path(file)
        source = str(path)
        if not path.is_file():
            raise EcomsftError("config file not found", where=source)
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            line = raw[:err.start].count(b"\n") + 1
            raise EcomsftError("a config file must be UTF-8 text (save it as UTF-8; this one is in another "
                               "encoding, or not text)", where=f"{source}:{line}") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"{source}:{mark.line + 1}" if mark else source
            raise EcomsftError(f"not valid YAML ({getattr(err, 'problem', err)})", where=where) from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise EcomsftError("a config file must be a mapping of keys", where=source)
        tree = loaded
    for key, value in (overrides or {}).items():  # None sets null (``--set key=null``)
        _set_dotted(tree, key, value)
    return tree, source


def validate_config(model: type[BaseModel], tree: dict, source: str = "config"):
    try:
        return model.model_validate(tree)
    except ValidationError as err:
        raise EcomsftError(_format_validation_error(err, source, tree)) from None
