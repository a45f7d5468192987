"""End-to-end runs on the tiny model: run folder, predict, evaluate, and the user-caused failures."""

import json

import numpy as np
import pandas as pd
import pytest
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import ecomsft
from ecomsft.config import build_config
from ecomsft.errors import EcomsftError
from ecomsft.runner import run as train

from .conftest import failed_in_one_line, make_reviews, run_cli, tiny_overrides


@pytest.fixture
def finished_run(tiny_run):
    return tiny_run


def test_run_folder_is_complete_and_loads_with_plain_transformers(finished_run):
    run = finished_run.run_dir
    for name in ("config.yaml", "metrics.json", "predictions.csv", "training_log.json", "model/config.json", "model/model.safetensors"):
        assert (run / name).is_file(), name
    assert not (run / "checkpoints").exists()
    assert not run.with_name(run.name + ".partial").exists()
    # No pickle in a folder other tools load: the Trainer's arguments are JSON.
    assert not list(run.rglob("*.bin")) and not list(run.rglob("*.pkl"))
    assert json.loads((run / "model" / "training_args.json").read_text())["learning_rate"] > 0
    model = AutoModelForSequenceClassification.from_pretrained(run / "model")
    tokenizer = AutoTokenizer.from_pretrained(run / "model")
    assert model.config.id2label == {0: "negative", 1: "positive"}
    assert len(tokenizer) == model.get_input_embeddings().weight.shape[0]


def test_metrics_json_has_everything(finished_run):
    metrics = json.loads((finished_run.run_dir / "metrics.json").read_text())
    test = metrics["test"]
    for key in ("accuracy", "precision_macro", "recall_macro", "f1_macro", "f1_micro", "f1_weighted", "roc_auc", "log_loss"):
        assert 0.0 <= test[key] <= max(1.0, test["log_loss"]), key
    assert test["confusion_matrix"]["labels"] == ["negative", "positive"]
    assert sum(map(sum, test["confusion_matrix"]["matrix"])) == metrics["data"]["sizes"]["test"] == 20
    assert metrics["data"]["sizes"] == {"train": 160, "valid": 20, "test": 20}
    assert metrics["model"]["added_tokens"] > 0 and metrics["model"]["unk_rate_after"] < metrics["model"]["unk_rate_before"]
    assert metrics["model"]["new_rows_shift"] > metrics["model"]["pretrained_rows_shift"] > 0
    assert metrics["baseline_tfidf_lr"]["accuracy"] > 0.5
    assert {"transformers", "torch", "ecomsft"} <= set(metrics["versions"])
    # The separable toy task is learnt.
    assert test["accuracy"] >= 0.8


def test_predictions_csv_matches_metrics(finished_run):
    frame = pd.read_csv(finished_run.run_dir / "predictions.csv")
    assert list(frame.columns) == ["text", "gold", "predicted", "prob_negative", "prob_positive"]
    assert (frame["gold"] == frame["predicted"]).mean() == pytest.approx(finished_run.test["accuracy"])
    assert np.allclose(frame[["prob_negative", "prob_positive"]].sum(axis=1), 1.0, atol=1e-4)


def test_python_api_predict_keeps_order(finished_run):
    predictor = ecomsft.load(finished_run.run_dir, batch_size=3)
    texts = ["the product is great and fast", "bad", "it was broken and slow very slow indeed the price", "love it"]
    results = predictor.predict(texts)
    one_by_one = [predictor.predict([t])[0] for t in texts]
    assert [r["label"] for r in results] == [r["label"] for r in one_by_one]
    for r, single in zip(results, one_by_one):
        assert r["probabilities"]["positive"] == pytest.approx(single["probabilities"]["positive"], abs=1e-5)


def test_cli_predict_texts_and_file(finished_run, tmp_path):
    code, out, err = run_cli("predict", finished_run.run_dir, "great product love it")
    assert code == 0, err
    [expected] = ecomsft.load(finished_run.run_dir).predict(["great product love it"])
    assert out.split()[0] == expected["label"] and out.rstrip().endswith("great product love it")
    assert f"positive={expected['probabilities']['positive']:.3f}" in out
    source = tmp_path / "in.csv"
    pd.DataFrame({"id": [7, 8, 9], "review": ["love it", "", "awful broken"]}).to_csv(source, index=False)
    code, out, err = run_cli("predict", finished_run.run_dir, "--input", source, "--output", tmp_path / "out.csv")
    assert code == 0, err
    scored = pd.read_csv(tmp_path / "out.csv")
    assert scored["id"].tolist() == [7, 8, 9]
    assert {"predicted", "prob_negative", "prob_positive"} <= set(scored.columns)
    assert pd.isna(scored["predicted"][1]) and scored["predicted"][0] in {"positive", "negative"}


def test_evaluate_matches_labels_by_name(finished_run, tmp_path):
    data = tmp_path / "eval.csv"
    make_reviews(30, seed=5).to_csv(data, index=False)
    report = ecomsft.evaluate(finished_run.run_dir, str(data))
    assert report["rows"] == 30 and 0 <= report["accuracy"] <= 1
    code, out, err = run_cli("evaluate", finished_run.run_dir, "--data", data, "--output", tmp_path / "m.json")
    assert code == 0, err
    assert json.loads((tmp_path / "m.json").read_text())["accuracy"] == pytest.approx(report["accuracy"])


def test_unknown_label_at_evaluation(finished_run, tmp_path):
    data = tmp_path / "eval.csv"
    pd.DataFrame({"review": ["good", "bad"], "label": ["positive", "neutral"]}).to_csv(data, index=False)
    code, out, err = run_cli("evaluate", finished_run.run_dir, "--data", data)
    assert failed_in_one_line(code, err)
    assert "'neutral' not among the model's labels (negative, positive)" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_finished_run_is_not_overwritten(finished_run, tiny_model_dir, tmp_path):
    data = tmp_path / "d.csv"
    make_reviews(40).to_csv(data, index=False)
    cfg = build_config(None, tiny_overrides(tiny_model_dir, data, finished_run.run_dir))
    with pytest.raises(EcomsftError, match="already holds a finished run; pass --overwrite"):
        train(cfg)


@pytest.mark.parametrize(
    "frame, extra, message",
    [
        (pd.DataFrame({"review": ["a", "b", "c"], "label": ["x", "x", "x"]}), {}, "single class"),
        (make_reviews(40), {"model.max_length": 1000}, "above the model's limit of 64 tokens"),
        (make_reviews(40), {"data.text_column": "body"}, r"no text column 'body' \(columns: review, label\)"),
    ],
)
def test_user_errors_leave_nothing_behind(tiny_model_dir, tmp_path, frame, extra, message):
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "out"
    with pytest.raises(EcomsftError, match=message):
        train(build_config(None, tiny_overrides(tiny_model_dir, data, out, **extra)))
    assert not out.exists() and not (tmp_path / "out.partial").exists()


def test_cli_train_errors_are_one_line(tiny_model_dir, tmp_path):
    code, out, err = run_cli("train", "--data", tmp_path / "missing.csv", "--model", tiny_model_dir)
    assert failed_in_one_line(code, err) and "missing.csv: file not found" in err and "Traceback" not in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  train: x.csv\nmodel:\n  nmae: minilm\n")
    code, out, err = run_cli("train", bad)
    assert failed_in_one_line(code, err) and "unknown config key 'model.nmae'" in err
    code, out, err = run_cli("train", "--data", tmp_path / "x.csv", "--model", tmp_path / "no-such-model")
    assert failed_in_one_line(code, err)


def test_missing_model_is_explained(tmp_path, reviews_csv):
    cfg = build_config(None, tiny_overrides("some-org/not-a-model-here", reviews_csv, tmp_path / "o"))
    with pytest.raises(EcomsftError, match="hub is unreachable.*--model /path/to/model"):
        train(cfg)


def test_multi_label_run(tiny_model_dir, tmp_path):
    rows = []
    for _i, row in make_reviews(160).iterrows():
        tags = ["positive" if row["label"] == "positive" else "negative"] + (["delivery"] if "delivery" in row["review"] else [])
        rows.append({"review": row["review"], "tags": ",".join(tags)})
    data = tmp_path / "m.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    result = train(build_config(None, tiny_overrides(tiny_model_dir, data, tmp_path / "out", **{
        "task.multi_label": True, "data.label_column": "tags", "training.epochs": 3})))
    metrics = result.metrics
    assert metrics["task"] == "classification" and metrics["multi_label"]
    assert metrics["labels"] == ["delivery", "negative", "positive"]
    assert 0.05 <= metrics["threshold"] <= 0.95
    for key in ("subset_accuracy", "hamming_loss", "f1_micro", "f1_macro"):
        assert key in metrics["test"]
    predicted = ecomsft.load(result.run_dir).predict(["the delivery was fast and good"])[0]
    assert isinstance(predicted["label"], list) and set(predicted["probabilities"]) == set(metrics["labels"])


def test_interrupted_run_resumes(tiny_model_dir, tmp_path, monkeypatch):
    from transformers import TrainerCallback

    import ecomsft.tasks.classification.task as training  # where the classification task builds its Trainer

    data = tmp_path / "d.csv"
    make_reviews(96).to_csv(data, index=False)
    values = tiny_overrides(tiny_model_dir, data, tmp_path / "out", **{
        "training.max_steps": 6, "training.eval_strategy": "steps", "training.eval_steps": 2, "baseline": False})

    class StopAtStep3(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:
                raise KeyboardInterrupt

    original = training.build_trainer

    def build_and_break(*args, **kwargs):
        trainer = original(*args, **kwargs)
        trainer.add_callback(StopAtStep3())
        return trainer

    monkeypatch.setattr(training, "build_trainer", build_and_break)
    with pytest.raises(EcomsftError, match="continue with --resume"):
        train(build_config(None, values))
    partial = tmp_path / "out.partial"
    assert (partial / "checkpoints" / "checkpoint-2").is_dir() and not (tmp_path / "out").exists()
    monkeypatch.setattr(training, "build_trainer", original)
    # Another recipe cannot continue these checkpoints: refused naming the keys, before any work.
    changed = {**values, "model.max_length": 24, "training.lr": 5e-4}
    with pytest.raises(EcomsftError, match=r"these keys differ: model.max_length \(32 -> 24\), training.lr"):
        train(build_config(None, changed), resume=True)
    result = train(build_config(None, values), resume=True)
    assert result.metrics["training"]["steps"] == 6
    # Throughput counts only the steps the resumed process trained (from checkpoint-2).
    timings = result.metrics["timings"]
    assert timings["trained_steps"] == 4
    assert timings["train_samples_per_second"] == pytest.approx(4 * 16 / timings["train_seconds"])
    log = json.loads((result.run_dir / "training_log.json").read_text())
    assert any(entry.get("step") == 2 for entry in log)
    assert not partial.exists()


def test_a_run_terminated_before_its_first_checkpoint_is_replaced_by_overwrite(tiny_model_dir, tmp_path, monkeypatch):
    """SIGTERM (kill, a scheduler) ends a run as Ctrl-C does: what training wrote (config.yaml, the
    tensorboard events) is listed as ecomsft's, so --overwrite replaces the folder; the handler is
    put back afterwards."""
    import os
    import signal

    from transformers import TrainerCallback

    import ecomsft.tasks.classification.task as training

    data = tmp_path / "d.csv"
    make_reviews(96).to_csv(data, index=False)
    values = tiny_overrides(tiny_model_dir, data, tmp_path / "out", **{"training.max_steps": 4, "baseline": False})

    class TerminatedAtStep1(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 1:
                os.kill(os.getpid(), signal.SIGTERM)

    original = training.build_trainer

    def build_and_terminate(*args, **kwargs):
        trainer = original(*args, **kwargs)
        trainer.add_callback(TerminatedAtStep1())
        return trainer

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(training, "build_trainer", build_and_terminate)
    with pytest.raises(EcomsftError, match="interrupted"):
        train(build_config(None, values))
    assert signal.getsignal(signal.SIGTERM) is before
    assert (tmp_path / "out.partial" / "config.yaml").is_file() and not (tmp_path / "out").exists()
    monkeypatch.setattr(training, "build_trainer", original)
    result = train(build_config(None, {**values, "overwrite": True}))
    assert result.metrics["training"]["steps"] == 4 and not (tmp_path / "out.partial").exists()


def test_wall_clock_budget_stops_training(tiny_model_dir, tmp_path, reviews_csv):
    cfg = build_config(None, tiny_overrides(tiny_model_dir, reviews_csv, tmp_path / "o", **{
        "training.epochs": 20, "training.max_seconds": 0.001, "baseline": False}))
    result = train(cfg)
    assert result.metrics["training"]["steps"] == 1


def test_progress_bar_false_shows_no_bar_at_all(tiny_model_dir, tmp_path, capfd):
    """training.progress_bar false: no training bar, and none of transformers' loading/writing bars."""
    from transformers.utils import logging as hf_logging

    data = tmp_path / "reviews.csv"
    make_reviews(40).to_csv(data, index=False)
    before = hf_logging.is_progress_bar_enabled()  # the CLI tests turn them off for the process
    hf_logging.enable_progress_bar()
    try:
        train(build_config(None, tiny_overrides(tiny_model_dir, data, tmp_path / "run", **{"training.epochs": 1,
                                                                                            "baseline": False})))
        _, err = capfd.readouterr()
        assert "it/s]" not in err and "Loading weights" not in err and "Writing model shards" not in err
        assert hf_logging.is_progress_bar_enabled()  # as it was before the run
    finally:
        (hf_logging.enable_progress_bar if before else hf_logging.disable_progress_bar)()


def test_quiet_by_default_and_verbose_on_request(tiny_model_dir, tmp_path, capfd, monkeypatch):
    """A run and a prediction print ecomsft's lines only: no Trainer log dicts, no loading bars, no
    transformers warnings; ECOMSFT_VERBOSE=1 (ecomsft --verbose) shows them."""
    from ecomsft import api

    data = tmp_path / "reviews.csv"
    make_reviews(40).to_csv(data, index=False)
    values = tiny_overrides(tiny_model_dir, data, tmp_path / "run", **{"training.epochs": 1, "baseline": False,
                                                                     "training.progress_bar": True, "training.logging_steps": 1})
    result = train(build_config(None, values))
    api.predict(result.run_dir, ["good"])
    out, err = capfd.readouterr()
    for noise in ("'loss'", "train_runtime", "Loading weights", "[transformers]", "LOAD REPORT"):
        assert noise not in out + err, noise
    assert "it/s]" in err  # the training bar itself stays
    monkeypatch.setenv("ECOMSFT_VERBOSE", "1")
    train(build_config(None, {**values, "output": str(tmp_path / "run2")}))
    out, err = capfd.readouterr()
    assert "'loss'" in out + err or "train_runtime" in out + err
