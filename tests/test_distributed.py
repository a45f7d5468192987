"""Two training processes on this machine (torchrun, gloo on CPU) against one: same steps, same
test rows, a complete run folder written once, comparable accuracy."""

import json

import pandas as pd

from .conftest import failed_in_one_line, make_reviews, run_cli


def test_two_processes_match_one(tiny_model_dir, tmp_path):
    data = tmp_path / "reviews.csv"
    make_reviews(400, chinese_share=0.3).to_csv(data, index=False)
    common = ["--data", data, "--model", tiny_model_dir, "--epochs", "4", "--batch-size", "16", "--lr", "1e-3",
              "--max-length", "32", "--set", "training.progress_bar=false", "--set", "training.device=cpu"]
    code, _, stderr = run_cli("train", *common, "--output", tmp_path / "one")
    assert code == 0, stderr
    code, stdout, stderr = run_cli("train", *common, "--output", tmp_path / "two", "--nproc", "2")
    assert code == 0, stderr
    one, two = (json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("one", "two"))
    assert two["data"]["sizes"] == one["data"]["sizes"]
    assert two["training"]["steps"] == one["training"]["steps"]  # the batch size stays global
    for name in ("config.yaml", "model/model.safetensors", "report.html", "training_log.json"):
        assert (tmp_path / "two" / name).is_file()
    assert not (tmp_path / "two.partial").exists()
    predictions = pd.read_csv(tmp_path / "two" / "predictions.csv")
    assert len(predictions) == two["data"]["sizes"]["test"]  # gathered from both, no duplicates, none lost
    assert (predictions["text"].to_numpy() == pd.read_csv(tmp_path / "one" / "predictions.csv")["text"].to_numpy()).all()
    # The same training loss (the mean over the global batch), not twice it (transformers #47688).
    first_loss = [json.loads((tmp_path / name / "training_log.json").read_text())[0]["loss"] for name in ("one", "two")]
    assert 0.8 < first_loss[1] / first_loss[0] < 1.25, first_loss
    assert two["test"]["accuracy"] >= 0.9 and abs(two["test"]["accuracy"] - one["test"]["accuracy"]) <= 0.1


def test_nproc_errors_are_one_line(tiny_model_dir, tmp_path):
    code, _, stderr = run_cli("train", "--data", tmp_path / "missing.csv", "--model", tiny_model_dir,
                              "--output", tmp_path / "out", "--nproc", "0")
    assert failed_in_one_line(code, stderr) and "--nproc must be 1 or more" in stderr


def test_more_processes_than_gpus_is_one_line(tiny_model_dir, tmp_path, monkeypatch):
    """On a machine with one GPU, --nproc 2 would put both processes on GPU 0 (an NCCL traceback)."""
    from ecomsft import api

    data = tmp_path / "reviews.csv"
    make_reviews(40).to_csv(data, index=False)
    monkeypatch.setattr(api, "_gpu_count", lambda: 1)
    code, _, stderr = run_cli("train", "--data", data, "--model", tiny_model_dir, "--output", tmp_path / "out",
                              "--nproc", "2")
    assert failed_in_one_line(code, stderr) and "this machine has 1" in stderr and "training.device=cpu" in stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_pretraining_in_two_processes_is_written_once(tiny_model_dir, tmp_path):
    corpus = tmp_path / "corpus.csv"
    pd.DataFrame({"text": [f"物流很快 质量不错 第{i}次购买" for i in range(120)]}).to_csv(corpus, index=False)
    code, _, stderr = run_cli("pretrain", "--data", corpus, "--model", tiny_model_dir, "--output", tmp_path / "dapt",
                              "--max-steps", "4", "--batch-size", "8", "--max-length", "32",
                              "--set", "training.progress_bar=false", "--set", "training.device=cpu", "--nproc", "2")
    assert code == 0, stderr
    metrics = json.loads((tmp_path / "dapt" / "metrics.json").read_text())
    assert metrics["task"] == "pretraining" and metrics["training"]["steps"] == 4
    assert (tmp_path / "dapt" / "model" / "model.safetensors").is_file() and not (tmp_path / "dapt.partial").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.csv", "dapt"]
