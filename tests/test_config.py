import pytest

from ecomsft.config import build_config, parse_set_option
from ecomsft.errors import EcomsftError


def test_unknown_key_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  train: x.csv\ntraining:\n  learning_rate: 0.1\n")
    with pytest.raises(EcomsftError, match=r"unknown config key 'training.learning_rate'"):
        build_config(path)


def test_wrong_type_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  train: x.csv\ntraining:\n  epochs: many\n")
    with pytest.raises(EcomsftError, match=r"config key 'training.epochs'.*'many'"):
        build_config(path)


def test_overrides_beat_the_file_and_keep_types(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  train: x.csv\ntraining:\n  lr: 0.1\n  epochs: 5\n")
    key, value = parse_set_option("training.warmup_ratio=0.2")
    cfg = build_config(path, {"training.lr": 3e-5, key: value})
    assert cfg.training.lr == 3e-5 and cfg.training.epochs == 5 and cfg.training.warmup_ratio == 0.2
    # The resolved YAML round-trips to the same config.
    again = tmp_path / "resolved.yaml"
    again.write_text(cfg.to_yaml())
    assert build_config(again) == cfg


def test_bad_set_option():
    with pytest.raises(EcomsftError, match="expected KEY=VALUE"):
        parse_set_option("training.lr")
