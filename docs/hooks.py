"""MkDocs hooks: the CLI and configuration references, generated at build time from the typer app
and the configuration schema (pydantic), so that they are never written twice and never go stale."""

from __future__ import annotations

from mkdocs.structure.files import File
from pydantic import BaseModel

GENERATED = {"reference/cli.md": "cli_reference", "reference/configuration.md": "config_reference"}


def _cell(text) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _command_md(command, path: str, depth: int) -> list[str]:
    """A command (typer's own click classes) as a heading, its help, usage and a table of its parameters."""
    ctx = command.context_class(command, info_name=path)
    lines = [f"{'#' * depth} `{path}`", "", (command.help or "").strip(), "",
             "```", command.get_usage(ctx).strip(), "```", ""]
    params = [p for p in command.params if p.name != "help"]
    if params:
        lines += ["| argument or option | type | default | what it does |", "|---|---|---|---|"]
        for p in params:
            option = p.param_type_name == "option"
            names = ", ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts]) if option else f"`{p.name.upper()}`"
            default = p.default if p.default not in (None, (), []) and not callable(p.default) else ""
            help_ = getattr(p, "help", None) or ""
            kind = getattr(p, "display_type", None) or getattr(getattr(p, "type", None), "name", "")
            lines.append(f"| {names} | {_cell(kind)} | {_cell(default)} | {_cell(help_)} |")
        lines.append("")
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            lines += _command_md(sub, f"{path} {name}", depth + 1)
    return lines


def cli_reference() -> str:
    from typer.main import get_command

    from ecomsft.cli import app

    root = get_command(app)
    lines = ["# CLI reference", "", "Generated from the command line's own definitions (`ecomsft --help`).", "",
             "```", root.get_usage(root.context_class(root, info_name="ecomsft")).strip(), "```", "",
             "| global option | what it does |", "|---|---|"]
    lines += [f"| {', '.join(f'`{o}`' for o in p.opts)} | {_cell(p.help or '')} |" for p in root.params if p.name != "help"]
    lines.append("")
    for name, command in root.commands.items():
        lines += _command_md(command, f"ecomsft {name}", 2)
    return "\n".join(lines)


def _fields_md(model: type[BaseModel], prefix: str) -> list[str]:
    lines = ["| key | type | default | what it does |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        if name == "type":
            continue
        annotation = getattr(field.annotation, "__name__", None) or str(field.annotation).replace("typing.", "")
        default = "required" if field.is_required() else ("" if field.default_factory else repr(field.default))
        lines.append(f"| `{prefix}{name}` | {_cell(annotation)} | {_cell(default)} | {_cell(field.description or '')} |")
    return lines + [""]


def config_reference() -> str:
    from ecomsft.config import AugmentConfig, DataConfig, ModelConfig, RunConfig, TrainingConfig
    from ecomsft.tasks import TASKS, task_spec

    lines = ["# Configuration reference", "",
             "Generated from the configuration schema. Every key goes in a YAML file (`ecomsft train config.yaml`) "
             "or on the command line as `--set key=value` (`null` sets null); `ecomsft config show` prints what a run "
             "would use, defaults and the task's own defaults applied.", "",
             "## Top level", ""]
    top = {k: v for k, v in RunConfig.model_fields.items() if k in ("output", "overwrite", "baseline")}
    lines += ["| key | type | default | what it does |", "|---|---|---|---|"]
    lines += [f"| `{k}` | {_cell(getattr(v.annotation, '__name__', v.annotation))} | {_cell(repr(v.default))} | "
              f"{_cell(v.description or '')} |" for k, v in top.items()] + [""]
    for section, model in (("data", DataConfig), ("model", ModelConfig), ("training", TrainingConfig), ("augment", AugmentConfig)):
        lines += [f"## `{section}`", ""] + _fields_md(model, f"{section}.")
    lines += ["## `task`: each task's own keys", "", "`task.type` names the task; each task takes its own keys, "
              "refuses the shared keys it does not use (set to anything but their default) and has its own defaults.", ""]
    for name in TASKS:
        spec = task_spec(name)
        lines += [f"### `task.type: {name}`", ""]
        own = [f for f in spec.section.model_fields if f != "type"]
        lines += _fields_md(spec.section, "task.") if own else ["No keys of its own.", ""]
        if spec.defaults:
            lines += ["Its defaults: " + ", ".join(f"`{k}: {v!r}`" for k, v in spec.defaults.items()) + ".", ""]
        if spec.unused:
            lines += ["Keys it does not use: " + ", ".join(f"`{k}`" for k in spec.unused) + ".", ""]
    return "\n".join(lines)


def on_files(files, config):
    for path, function in GENERATED.items():
        files.append(File.generated(config, path, content=globals()[function]()))
    return files
