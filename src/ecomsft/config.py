"""The configuration of a run: pydantic models, YAML in, fully resolved YAML out.

Every key mirrors an argument of the object it builds (the Trainer's arguments, the tokenizer's
max length, the split ratios), and a misspelt key or a value of the wrong type fails before any work
starts, with the key's dotted path in the message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, SerializeAsAny, ValidationError, field_validator, model_validator

from .config_sections import AugmentConfig, DataConfig, GradedSection, ModelConfig, TaskSection, TrainingConfig, _Strict
from .errors import EcomsftError
from .tasks import task_spec

__all__ = ["AugmentConfig", "DataConfig", "GradedSection", "ModelConfig", "RunConfig", "TaskSection", "TrainingConfig",
           "build_config", "build_config_of", "flatten_config", "parse_set_option", "read_config_tree", "validate_config"]


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
    """The spec of the task the configuration names (its section, unused keys, defaults, checks)."""
    section = tree.get("task") or {}
    name = section.get("type", "classification") if isinstance(section, dict) else section.type
    return task_spec(name or "classification")


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
