"""Augmentation: each operation deterministic under a seed, labels kept, never an empty text."""

import random

import pandas as pd
import pytest

from ecomsft.data import augment
from ecomsft.data.augment import OPERATIONS, augment_frame, augment_text, chinese_synonyms

from .conftest import failed_in_one_line, make_reviews, run_cli

TEXTS = ["物流很快，质量不错，非常喜欢这件衣服", "the delivery was very fast and the quality is great", "好", "ok"]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_each_operation_is_seeded_and_never_empty(operation):
    for text in TEXTS:
        first = augment_text(text, operation, 0.3, random.Random(7))
        assert first == augment_text(text, operation, 0.3, random.Random(7))
        assert first.strip()
    changed = {augment_text(TEXTS[0], operation, 0.3, random.Random(seed)) for seed in range(20)}
    assert len(changed - {TEXTS[0]}) >= 1  # it does change text (Chinese has synonyms and characters)


def test_word_operations_on_english_and_deletion_keeps_a_word():
    rng = random.Random(0)
    words = "the delivery was fast".split()
    assert sorted(augment.random_swap(words, 2, rng)) == sorted(words)
    assert augment.random_delete(words, 1.0, rng)  # deleting everything keeps one word
    inserted = augment.random_insert(words, 2, rng)
    assert len(inserted) == 6 and set(inserted) == set(words)


def test_chinese_synonyms_come_from_cilin():
    synonyms = chinese_synonyms()
    assert len(synonyms) > 10_000 and "快速" in synonyms["迅速"]


def test_augment_frame_keeps_labels_and_is_deterministic():
    frame = make_reviews(30, chinese_share=0.5).rename(columns={"review": "text"})
    rates = {op: 0.2 for op in OPERATIONS}
    out = augment_frame(frame, rates, copies=2, seed=3)
    assert len(out) == 90 and (out["augmented"].iloc[:30] == "").all()
    assert set(out["label"]) == set(frame["label"])
    copies = out.iloc[30:]
    assert list(copies["label"]) == [label for label in frame["label"] for _ in range(2)]
    assert copies["text"].str.strip().ne("").all()
    pd.testing.assert_frame_equal(out, augment_frame(frame, rates, copies=2, seed=3))
    assert not out.equals(augment_frame(frame, rates, copies=2, seed=4))


def test_train_with_augmentation_and_the_augment_command(tiny_model_dir, reviews_csv, tmp_path):
    from ecomsft.config import build_config
    from ecomsft.runner import run as train

    from .conftest import tiny_overrides

    result = train(build_config(None, tiny_overrides(tiny_model_dir, reviews_csv, tmp_path / "run",
                                                     **{"augment.copies": 1, "training.max_steps": 2, "baseline": False})))
    sizes = result.metrics["data"]
    assert sizes["augmented_rows"] == sizes["sizes"]["train"] // 2 and sizes["sizes"]["test"] == 12  # test untouched
    out = tmp_path / "augmented.jsonl"
    code, stdout, stderr = run_cli("data", "augment", reviews_csv, "--output", out, "--copies", "2",
                                   "--set", "augment.synonym=0.3")
    assert code == 0, stderr
    written = pd.read_json(out, lines=True)
    assert len(written) == 360 and {"review", "label", "augmented"} == set(written.columns)
    code, _, stderr = run_cli("data", "augment", reviews_csv, "--output", out, "--set", "augment.swap=2")
    assert failed_in_one_line(code, stderr) and "augment options" in stderr
