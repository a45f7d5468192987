"""Data larger than memory: the memory-mapped Arrow path (data/arrow_splits.py) against the pandas one."""

import json
import logging

import numpy as np
import pandas as pd
import pytest

from ecomsft.config import build_config
from ecomsft.data.quality import duplicate_report
from ecomsft.errors import EcomsftError
from ecomsft.runner import run as train
from ecomsft.tasks.classification.arrow_splits import duplicates, read_arrow_splits, wants_memory_mapped

from .conftest import make_reviews, run_cli, tiny_overrides


def _config(tiny_model_dir, data, output, **extra):
    return build_config(None, tiny_overrides(tiny_model_dir, data, output, **{"data.memory_mapped": True, **extra}))


def test_duplicates_from_hashes_match_the_pandas_report():
    rng = np.random.default_rng(0)
    texts = rng.integers(0, 300, 2000).astype(str)
    labels = rng.integers(0, 3, 2000).astype(str)
    frame = pd.DataFrame({"text": texts, "label": labels})
    hashes = np.array([hash(t) for t in texts], dtype=np.int64).view(np.uint64)
    keep, report = duplicates(hashes, labels.astype(int), drop_conflicts=True)
    assert report == duplicate_report(frame)
    from ecomsft.data.quality import drop_duplicates

    assert np.flatnonzero(keep).tolist() == drop_duplicates(frame, True).index.tolist()
    keep_all, _ = duplicates(hashes, labels.astype(int), drop_conflicts=False)
    assert np.flatnonzero(keep_all).tolist() == drop_duplicates(frame, False).index.tolist()


def test_generated_file_trains_with_parallel_tokenization_like_the_pandas_path(tiny_model_dir, tmp_path):
    data = tmp_path / "generated.csv"
    frame = make_reviews(24_000, seed=3)
    frame.loc[7, "review"] = "   "
    frame.to_csv(data, index=False)
    extra = {"training.max_steps": 120, "data.num_proc": 2, "data.valid_ratio": 0.05, "data.test_ratio": 0.05}
    arrow = train(_config(tiny_model_dir, data, tmp_path / "arrow", **extra)).metrics
    pandas = train(build_config(None, tiny_overrides(tiny_model_dir, data, tmp_path / "pandas", **extra))).metrics
    assert arrow["data"]["memory_mapped"] is True and "memory_mapped" not in pandas["data"]
    for key in ("sizes", "duplicates", "dropped_duplicates", "dropped_empty", "overlap_with_train"):
        assert arrow["data"][key] == pandas["data"][key], key
    assert arrow["labels"] == pandas["labels"] == ["negative", "positive"]
    assert arrow["test"]["accuracy"] > 0.9 and pandas["test"]["accuracy"] > 0.9
    assert sum(map(sum, arrow["test"]["confusion_matrix"]["matrix"])) == arrow["data"]["sizes"]["test"]
    sizes = arrow["data"]["sizes"]
    assert arrow["baseline_tfidf_lr"]["sampled_rows"] == {f"{name}_rows": sizes[name] for name in ("train", "valid", "test")}
    assert arrow["blend"]["rows"] == sizes["valid"]  # chosen on the validation rows the baseline scored
    predictions = pd.read_csv(tmp_path / "arrow" / "predictions.csv")
    assert len(predictions) == arrow["data"]["sizes"]["test"]
    delivered = arrow["blend"]["test"] if arrow["blend"]["used"] else arrow["test"]
    assert (predictions["gold"] == predictions["predicted"]).mean() == pytest.approx(delivered["accuracy"])
    assert set(predictions["text"]) <= set(frame["review"])


def test_chunked_predictions_and_sampled_baseline(tiny_model_dir, tmp_path, monkeypatch):
    from ecomsft.tasks.classification import arrow_splits

    monkeypatch.setattr(arrow_splits, "SAMPLE_ROWS", 50)
    data = tmp_path / "reviews.csv"
    make_reviews(600).to_csv(data, index=False)
    cfg = _config(tiny_model_dir, data, tmp_path / "out", **{"training.max_steps": 5})
    splits = read_arrow_splits(cfg, progress=False)
    assert len(splits.vocab_texts()) == 50
    inputs, sampled = splits.baseline_inputs()
    assert sampled == {"train_rows": 50, "valid_rows": 50, "test_rows": 50}
    texts, ids, positions = inputs["test"]
    assert len(texts) == len(ids) == len(positions) == 50 and len(inputs["train"][1]) == 50
    assert (ids == splits.codes["test"][positions]).all()
    from transformers import AutoTokenizer

    splits.encode(AutoTokenizer.from_pretrained(tiny_model_dir))
    probs = np.tile([0.25, 0.75], (splits.sizes()["test"], 1))
    path = tmp_path / "predictions.csv"
    splits.write_predictions(path, probs, 0.5, chunk=7)
    written = pd.read_csv(path)
    assert len(written) == splits.sizes()["test"] == 60
    assert list(written.columns) == ["text", "gold", "predicted", "prob_negative", "prob_positive"]
    assert (written["predicted"] == "positive").all()
    assert written["gold"].tolist() == [splits.labels.names[c] for c in splits.codes["test"]]


def test_second_run_reads_the_tokenized_splits_from_the_cache(tiny_model_dir, tmp_path, caplog):
    data = tmp_path / "reviews.csv"
    make_reviews(300).to_csv(data, index=False)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    cfg = _config(tiny_model_dir, data, tmp_path / "out")
    first = read_arrow_splits(cfg, progress=False).encode(tokenizer)
    with caplog.at_level(logging.INFO, logger="ecomsft"):
        second = read_arrow_splits(cfg, progress=False).encode(tokenizer)
    assert caplog.text.count("read from the cache") == 3
    for name in first:
        assert first[name].cache_files == second[name].cache_files
        assert first[name]["input_ids"][:5] == second[name]["input_ids"][:5]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ecomsft"):  # another length limit: tokenized again
        read_arrow_splits(cfg.model_copy(update={"model": cfg.model.model_copy(update={"max_length": 16})}),
                          progress=False).encode(tokenizer)
    assert "read from the cache" not in caplog.text


def test_given_test_file_gbk_and_jsonl(tiny_model_dir, tmp_path):
    train_path, test_path = tmp_path / "train.jsonl", tmp_path / "test.csv"
    make_reviews(200).to_json(train_path, orient="records", lines=True, force_ascii=False)
    test = make_reviews(40, seed=9)
    test["review"] = test["review"] + " 好评"
    test_path.write_bytes(test.to_csv(index=False).encode("gbk"))
    cfg = _config(tiny_model_dir, train_path, tmp_path / "out", **{"data.test": str(test_path)})
    splits = read_arrow_splits(cfg, progress=False)
    assert splits.sizes() == {"train": 180, "valid": 20, "test": 40}
    assert all(t.endswith("好评") for t in splits._sample("test", 5)[0])


@pytest.mark.parametrize(("content", "message", "where"), [
    ("review,label\ngood,positive\nbad,\n", "empty label", "reviews.csv:3 column 'label'"),
    ("review,label\ngood,positive\nbad,negative,extra\n", "cannot read the file", "reviews.csv"),
    ("body,stars\ngood,positive\n", "cannot tell which column holds the text", "reviews.csv"),
    ("review,label\ngood,positive\ngood,positive\n", "single class", "reviews.csv"),
])
def test_bad_files_give_one_line_errors(tiny_model_dir, tmp_path, content, message, where):
    data = tmp_path / "reviews.csv"
    data.write_text(content, encoding="utf-8")
    with pytest.raises(EcomsftError) as err:
        read_arrow_splits(_config(tiny_model_dir, data, tmp_path / "out"), progress=False)
    assert message in str(err.value) and where in str(err.value)


def test_unknown_test_label_is_named_with_its_line(tiny_model_dir, tmp_path):
    train_path, test_path = tmp_path / "train.csv", tmp_path / "test.csv"
    make_reviews(100).to_csv(train_path, index=False)
    test_path.write_text("review,label\ngood,positive\nso so,neutral\n", encoding="utf-8")
    with pytest.raises(EcomsftError, match=r"test.csv:3 column 'label': label 'neutral' not among"):
        read_arrow_splits(_config(tiny_model_dir, train_path, tmp_path / "out", **{"data.test": str(test_path)}), progress=False)


def test_cli_run_and_options_it_refuses(tiny_model_dir, tmp_path):
    data = tmp_path / "reviews.csv"
    make_reviews(200).to_csv(data, index=False)
    args = ["train", "--data", data, "--model", tiny_model_dir, "--output", tmp_path / "run", "--set", "data.memory_mapped=true",
            "--set", "training.max_steps=5", "--set", "training.progress_bar=false", "--set", "model.max_length=32"]
    code, _, err = run_cli(*args)
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["data"]["memory_mapped"] is True
    code, _, err = run_cli(*args[:6], tmp_path / "run2", *args[7:], "--set", "augment.copies=2")
    assert code != 0 and "augmentation is for small training sets" in err and "Traceback" not in err
    assert not (tmp_path / "run2.partial").exists() and not (tmp_path / "run2").exists()


def test_auto_switches_on_file_size(tmp_path, monkeypatch):
    from ecomsft.tasks.classification import arrow_splits

    data = tmp_path / "reviews.csv"
    make_reviews(50).to_csv(data, index=False)
    cfg = build_config(None, {"data.train": str(data)})
    assert cfg.data.memory_mapped == "auto" and not wants_memory_mapped(cfg)
    monkeypatch.setattr(arrow_splits, "AUTO_BYTES", 100)
    assert wants_memory_mapped(cfg)
    assert not wants_memory_mapped(build_config(None, {"data.train": str(data), "data.memory_mapped": False}))


def test_empty_text_fail_and_a_bad_byte_past_the_sniffed_megabyte(tiny_model_dir, tmp_path):
    data = tmp_path / "reviews.csv"
    data.write_text("review,label\ngood,positive\n  ,negative\nbad,negative\n", encoding="utf-8")
    with pytest.raises(EcomsftError, match=r"reviews.csv:3 column 'review': empty or whitespace-only text"):
        read_arrow_splits(_config(tiny_model_dir, data, tmp_path / "out", **{"data.empty_text": "fail"}), progress=False)
    late = tmp_path / "late.csv"
    late.write_bytes(b"review,label\n" + b"good review here,positive\nbad review here,negative\n" * 30_000
                     + "差评,negative\n".encode("utf-16-le"))
    with pytest.raises(EcomsftError, match=r"late.csv: cannot read the file \(UnicodeDecodeError.*data.encoding"):
        read_arrow_splits(_config(tiny_model_dir, late, tmp_path / "out"), progress=False)
