"""The on-disk cache of tokenized splits: reused on the same texts and tokenizer, never otherwise."""

from __future__ import annotations

import logging

import pandas as pd
from transformers import AutoTokenizer

from ecomsft.config import build_config
from ecomsft.data import token_cache
from ecomsft.data.labels import LabelSet
from ecomsft.runner import run as train
from ecomsft.tasks.classification.model import encode

from .conftest import make_reviews, tiny_overrides


def _frame(n=40):
    return make_reviews(n).rename(columns={"review": "text"})


def test_second_encode_reads_the_cache_and_gives_the_same_rows(tiny_model_dir, caplog):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    frame, labels = _frame(), LabelSet.from_labels(_frame()["label"])
    first = encode(tokenizer, frame, labels, 32, cache=True)
    with caplog.at_level(logging.INFO, logger="ecomsft"):
        second = encode(tokenizer, frame, labels, 32, cache=True)
    assert "read from the cache" in caplog.text
    assert first.to_dict() == second.to_dict() == encode(tokenizer, frame, labels, 32).to_dict()
    assert second.cache_files  # memory-mapped from disk, not held in memory


def test_key_changes_with_texts_length_and_vocabulary(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    texts = _frame()["text"].tolist()
    key = token_cache.cache_key(tokenizer, 32, texts)
    assert key == token_cache.cache_key(AutoTokenizer.from_pretrained(tiny_model_dir), 32, list(texts))
    assert key != token_cache.cache_key(tokenizer, 16, texts)
    assert key != token_cache.cache_key(tokenizer, 32, texts[:-1] + [texts[-1] + " good"])
    assert key != token_cache.cache_key(tokenizer, 32, texts, pairs=texts)
    tokenizer.add_tokens(["赞"])  # vocabulary extension changes the ids, so the key
    assert key != token_cache.cache_key(tokenizer, 32, texts)


def test_damaged_entry_is_rebuilt(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    frame = _frame(30)
    encode(tokenizer, frame, None, 32, cache=True)
    folder = token_cache.cache_root() / token_cache.cache_key(tokenizer, 32, frame["text"].tolist())
    for arrow in folder.glob("*.arrow"):
        arrow.write_bytes(b"not arrow")
    rebuilt = encode(tokenizer, frame, None, 32, cache=True)
    assert rebuilt["input_ids"] == encode(tokenizer, frame, None, 32)["input_ids"]


def test_runs_share_the_cache(tiny_model_dir, tmp_path, reviews_csv, caplog):
    def run(name):
        return train(build_config(None, tiny_overrides(tiny_model_dir, reviews_csv, tmp_path / name)))

    first = run("a")
    with caplog.at_level(logging.INFO, logger="ecomsft"):
        second = run("b")
    assert caplog.text.count("read from the cache") == 3  # train, valid, test
    assert pd.read_csv(first.run_dir / "predictions.csv").equals(pd.read_csv(second.run_dir / "predictions.csv"))


def test_empty_split_encodes_to_an_empty_dataset(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    empty = _frame().iloc[:0]
    for cache in (False, True):
        dataset = encode(tokenizer, empty, LabelSet.from_labels(_frame()["label"]), 32, cache=cache)
        assert len(dataset) == 0 and {"input_ids", "length", "labels"} <= set(dataset.column_names)
