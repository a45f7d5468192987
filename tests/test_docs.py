"""The documentation site: built with ``mkdocs build --strict`` (a broken link fails), offline, and
its CLI and configuration references generated from the code cover every command and every key."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _hooks():
    pytest.importorskip("mkdocs")
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_references_name_every_command_and_every_configuration_key():
    from typer.main import get_command

    from ecomsft.cli import app
    from ecomsft.config import AugmentConfig, DataConfig, ModelConfig, TrainingConfig
    from ecomsft.tasks import TASKS, task_spec

    hooks = _hooks()
    cli, config = hooks.cli_reference(), hooks.config_reference()
    root = get_command(app)
    for name, command in root.commands.items():
        assert f"`ecomsft {name}`" in cli, name
        for sub in getattr(command, "commands", {}):
            assert f"`ecomsft {name} {sub}`" in cli, sub
        for param in command.params:
            if param.param_type_name == "option" and param.name != "help":
                assert f"`{param.opts[0]}`" in cli, (name, param.opts)
    assert "`--verbose`" in cli
    for section, model in (("data", DataConfig), ("model", ModelConfig), ("training", TrainingConfig), ("augment", AugmentConfig)):
        for key in model.model_fields:
            assert f"`{section}.{key}`" in config, key
    for name in TASKS:
        assert f"`task.type: {name}`" in config
        for key in task_spec(name).section.model_fields:
            assert key == "type" or f"`task.{key}`" in config, (name, key)


def test_the_site_builds_strict_and_offline(tmp_path):
    _hooks()
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(tmp_path / "site")], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").is_file()
    assert (tmp_path / "site" / "tasks" / "aspects" / "index.html").is_file()
    page = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "fonts.googleapis.com" not in page  # nothing fetched from outside when the site is read
