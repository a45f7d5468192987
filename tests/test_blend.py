"""The run's tfidf-lr kept without pickle, and its blend with the fine-tuned model: chosen on the
validation split, used by every reader after training, refused in one line when damaged."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest

import ecomsft
from ecomsft.config import build_config
from ecomsft.evaluation.baselines import build_tfidf_lr, fit_tfidf_lr
from ecomsft.evaluation.blend import choose_blend
from ecomsft.models.lexical import LexicalModel
from ecomsft.runner import run as train

from .conftest import failed_in_one_line, make_reviews, run_cli, tiny_overrides

WORDS = ["good", "great", "bad", "awful", "slow", "fast", "price", "box", "好", "差", "物流", "质量"]


def _texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 8))) for _ in range(n)]


@pytest.mark.parametrize("classes,multi_label", [(2, False), (4, False), (3, True)])
def test_reloaded_lexical_model_gives_the_pipelines_probabilities_exactly(tmp_path, classes, multi_label):
    texts = _texts(300, 0)
    rng = np.random.default_rng(1)
    if multi_label:
        y = rng.integers(0, 2, size=(300, classes))
        y[:, 2] = 0  # a label never seen positive: sklearn's constant predictor
    else:
        y = np.array([(len(t) + i) % classes for i, t in enumerate(texts)])
    pipeline = build_tfidf_lr(texts, multi_label)
    pipeline.fit(texts, y)
    model, _ = fit_tfidf_lr(texts, y, classes, multi_label)
    model.save(tmp_path)
    again = LexicalModel.load(tmp_path)
    probe = _texts(80, 2) + ["", "词 never seen"]
    probs = again.predict_proba(probe)
    assert np.allclose(probs, pipeline.predict_proba(probe), rtol=0, atol=1e-12)  # numpy's scoring, not sklearn's
    assert (probs.argmax(1) == pipeline.predict_proba(probe).argmax(1)).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lexical.json", "lexical.safetensors"]


def test_chinese_texts_score_through_the_character_analyzer_as_the_pipeline_does(tmp_path):
    rng = np.random.default_rng(4)
    chars = list("物流很快质量不错包装破了价格便宜味道难闻客服态度好   ，！")
    texts = ["".join(rng.choice(chars, size=rng.integers(1, 30))) for _ in range(300)]
    y = np.array([i % 3 for i in range(300)])
    pipeline = build_tfidf_lr(texts)
    pipeline.fit(texts, y)
    assert pipeline[0].analyzer == "char"
    model, _ = fit_tfidf_lr(texts, y, 3)
    probe = texts[:50] + ["", "  物流  很快 ", "未见过的字"]
    assert np.allclose(model.predict_proba(probe), pipeline.predict_proba(probe), rtol=0, atol=1e-12)


def test_a_class_absent_from_training_gets_probability_zero(tmp_path):
    texts = _texts(100, 3)
    y = np.array([i % 2 for i in range(100)])  # labels 0 and 1 of 3
    model, _ = fit_tfidf_lr(texts, y, 3)
    probs = model.predict_proba(texts[:5])
    assert probs.shape == (5, 3) and (probs[:, 2] == 0).all() and np.allclose(probs.sum(axis=1), 1)


def test_damaged_lexical_files_are_one_line_and_never_executed(tmp_path):
    texts = _texts(100, 4)
    model, _ = fit_tfidf_lr(texts, np.array([i % 2 for i in range(100)]), 2)
    model.save(tmp_path)
    (tmp_path / "lexical.safetensors").write_bytes(b"\x00" * 40)
    with pytest.raises(ecomsft.EcomsftError, match="lexical model .* cannot be read") as err:
        LexicalModel.load(tmp_path)
    assert err.value.where.endswith("lexical.safetensors")
    model.save(tmp_path)
    meta = json.loads((tmp_path / "lexical.json").read_text())
    meta["terms"] = meta["terms"][:-1]  # arrays that no longer fit the vocabulary
    (tmp_path / "lexical.json").write_text(json.dumps(meta))
    with pytest.raises(ecomsft.EcomsftError, match="do not fit together"):
        LexicalModel.load(tmp_path)
    # A pickle put in its place is never unpickled: it is not JSON.
    (tmp_path / "lexical.json").write_bytes(pickle.dumps({"settings": {}}))
    with pytest.raises(ecomsft.EcomsftError, match="cannot be read"):
        LexicalModel.load(tmp_path)
    meta["terms"] = meta["terms"] + ["x"]
    meta["settings"]["analyzer"] = "os.system"
    (tmp_path / "lexical.json").write_text(json.dumps(meta))
    with pytest.raises(ecomsft.EcomsftError, match="cannot be read"):
        LexicalModel.load(tmp_path)


def test_the_weight_is_chosen_on_validation_and_kept_only_where_it_helps():
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 2, size=400)
    noisy = np.where(rng.random(400) < 0.3, 1 - gold, gold)  # the model: right 70% of the time, sure of itself
    model = np.eye(2)[noisy] * 0.98 + 0.01
    lexical = np.eye(2)[gold] * 0.3 + 0.35  # the lexical model: always right, unsure (0.65)
    helped = choose_blend(gold, model, lexical, multi_label=False, metric="f1_macro")
    assert helped["used"] and helped["weight"] < 1.0 and helped["blend"] > helped["model"]
    assert helped["tfidf_lr"] == pytest.approx(1.0) and helped["metric"] == "f1_macro"
    useless = choose_blend(gold, np.eye(2)[gold] * 0.9 + 0.05, np.full((400, 2), 0.5), multi_label=False, metric="accuracy")
    assert not useless["used"] and useless["weight"] == 1.0 and "beats" in useless["why"]
    small = choose_blend(gold[:20], model[:20], lexical[:20], multi_label=False, metric="f1_macro")
    assert not small["used"] and "too few" in small["why"]


@pytest.fixture(scope="module")
def blended_run(tiny_model_dir, tmp_path_factory):
    """A tiny run whose weak model gains from the lexical one (a validation split of 60 rows)."""
    folder = tmp_path_factory.mktemp("blend")
    data = folder / "reviews.csv"
    make_reviews(600, seed=3).to_csv(data, index=False)
    return train(build_config(None, tiny_overrides(tiny_model_dir, data, folder / "run", **{
        "training.max_steps": 3, "training.lr": 1e-5})))


def test_a_run_keeps_its_tfidf_lr_and_the_blend_chosen_on_validation(blended_run):
    run, metrics = blended_run.run_dir, blended_run.metrics
    blend = metrics["blend"]
    assert blend["used"] and 0.0 <= blend["weight"] < 1.0 and blend["rows"] == 60
    assert blend["blend"] > blend["model"]  # validation figures
    assert set(metrics["by_length"]) >= {"model", "tfidf_lr", "blend"}
    assert (run / "model" / "lexical.json").is_file() and (run / "model" / "lexical.safetensors").is_file()
    assert not list(run.rglob("*.pkl"))
    marker = json.loads((run / ".ecomsft").read_text())
    assert {"model/lexical.json", "model/lexical.safetensors"} <= set(marker["files"])
    # predictions.csv is what the run delivers: the blend's.
    frame = pd.read_csv(run / "predictions.csv")
    assert (frame["gold"] == frame["predicted"]).mean() == pytest.approx(blend["test"]["accuracy"])


def test_every_reader_uses_the_blend_and_no_blend_turns_it_off(blended_run, tmp_path):
    run = blended_run.run_dir
    frame = pd.read_csv(run / "predictions.csv", keep_default_na=False)
    texts = frame["text"].tolist()
    blended = ecomsft.load(run).predict_proba(texts)
    alone = ecomsft.load(run, blend=False).predict_proba(texts)
    assert np.allclose(blended, frame[["prob_negative", "prob_positive"]].to_numpy(), atol=1e-6)
    assert not np.allclose(blended, alone)
    predictor = ecomsft.load(run)
    assert predictor.describe()["blend"] == {"used": True, "weight": blended_run.metrics["blend"]["weight"], "with": "tfidf-lr"}
    assert ecomsft.load(run, blend=False).describe()["blend"] == {"used": False}
    # evaluate and batch scoring, with and without --no-blend
    source = tmp_path / "test.csv"
    frame[["text"]].assign(label=frame["gold"]).to_csv(source, index=False)
    code, out, err = run_cli("evaluate", run, "--data", source, "--output", tmp_path / "eval.json")
    assert code == 0, err
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["accuracy"] == pytest.approx(blended_run.metrics["blend"]["test"]["accuracy"])
    assert report["blend"]["used"]
    code, out, err = run_cli("evaluate", run, "--data", source, "--no-blend", "--output", tmp_path / "alone.json")
    assert code == 0, err
    alone_report = json.loads((tmp_path / "alone.json").read_text())
    assert alone_report["accuracy"] == pytest.approx(blended_run.metrics["test"]["accuracy"])
    assert not alone_report["blend"]["used"]
    code, _, err = run_cli("predict", run, "--input", source, "--output", tmp_path / "scored.csv")
    assert code == 0, err
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert np.allclose(scored["prob_positive"], blended[:, 1], atol=1e-6)


def test_a_run_without_its_lexical_files_says_so_unless_no_blend(blended_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(blended_run.run_dir, copy)
    (copy / "model" / "lexical.json").unlink()
    code, _, err = run_cli("predict", copy, "good")
    assert failed_in_one_line(code, err) and "lexical" in err
    (copy / "model" / "lexical.safetensors").unlink()
    code, _, err = run_cli("predict", copy, "good")
    assert failed_in_one_line(code, err) and "--no-blend" in err
    code, out, err = run_cli("predict", copy, "good", "--no-blend")
    assert code == 0, err


def test_a_run_from_before_blends_predicts_as_before(blended_run, tmp_path):
    """A run folder with neither the lexical files nor a blend in its metrics: the model alone."""
    import shutil

    copy = tmp_path / "old"
    shutil.copytree(blended_run.run_dir, copy)
    for name in ("lexical.json", "lexical.safetensors"):
        (copy / "model" / name).unlink()
    metrics = json.loads((copy / "metrics.json").read_text())
    metrics.pop("blend")
    (copy / "metrics.json").write_text(json.dumps(metrics))
    texts = ["good fast", "awful slow box"]
    assert np.allclose(ecomsft.load(copy).predict_proba(texts), ecomsft.load(blended_run.run_dir, blend=False).predict_proba(texts))


def test_blend_off_keeps_the_model_alone(tiny_model_dir, tmp_path):
    data = tmp_path / "reviews.csv"
    make_reviews(600, seed=3).to_csv(data, index=False)
    result = train(build_config(None, tiny_overrides(tiny_model_dir, data, tmp_path / "run", **{
        "training.max_steps": 3, "training.lr": 1e-5, "model.blend": "off"})))
    assert result.metrics["blend"] == {"used": False, "weight": 1.0, "why": "model.blend: off"}
    assert ecomsft.load(result.run_dir).describe()["blend"] == {"used": False}
    assert (result.run_dir / "model" / "lexical.json").is_file()  # kept all the same


def test_onnx_serve_and_report_follow_the_blend(blended_run, tmp_path):
    from fastapi.testclient import TestClient

    from ecomsft.readers.classification.reader import Predictor
    from ecomsft.inference.server import ServeSettings, create_app

    run = blended_run.run_dir
    texts = ["good fast 好", "awful slow box", "x"]
    code, _, err = run_cli("export", run, "--int8")
    assert code == 0, err
    torch_probs = Predictor(run).predict_proba(texts)
    assert np.allclose(Predictor(run, backend="onnx").predict_proba(texts), torch_probs, atol=1e-4)
    assert np.abs(Predictor(run, backend="onnx-int8").predict_proba(texts) - torch_probs).max() < 0.05
    for blend, used in ((True, True), (False, False)):
        app = create_app(ServeSettings(run=str(run), blend=blend))
        with TestClient(app) as client:
            info = client.get("/v1/info").json()
            assert info["blend"]["used"] is used
            expected = blended_run.metrics["blend"]["test"] if used else blended_run.metrics["test"]
            assert info["test_metrics"]["accuracy"] == pytest.approx(expected["accuracy"])
            body = client.post("/v1/predict", json={"texts": texts}).json()
            probs = Predictor(run, blend=blend).predict_proba(texts)
            assert [p["probabilities"]["positive"] for p in body["predictions"]] == pytest.approx(probs[:, 1], abs=1e-5)
    page = (run / "report.html").read_text()
    assert "blend (delivered)" in page and "tfidf-lr" in page and "--no-blend" in page


def test_the_terminal_summary_shows_three_columns_and_the_choice(blended_run, monkeypatch):
    from ecomsft.report import terminal as render

    monkeypatch.setattr(render.console, "width", 200)
    with render.console.capture() as captured:
        render.run_summary(blended_run)
    text = captured.get()
    blend = blended_run.metrics["blend"]
    assert "tfidf-lr baseline" in text and f"blend ({blend['weight']:.2f} / {1 - blend['weight']:.2f})" in text
    assert "by review length" in text and "predictions: blended" in text and "--no-blend" in text
    assert f"{blend['blend']:.4f} blended" in text


def test_a_multi_label_blend_tunes_its_threshold_at_each_weight():
    rng = np.random.default_rng(5)
    gold = rng.integers(0, 2, size=(300, 4))
    model = np.clip(gold * 0.3 + rng.random((300, 4)) * 0.7, 0, 1)  # weak and noisy
    lexical = np.clip(gold * 0.6 + 0.2 + rng.normal(0, 0.05, (300, 4)), 0, 1)  # strong
    choice = choose_blend(gold, model, lexical, multi_label=True, metric="f1_macro")
    assert choice["used"] and choice["weight"] < 1.0 and 0.0 < choice["threshold"] < 1.0
    fixed = choose_blend(gold, model, lexical, multi_label=True, metric="f1_macro", threshold=0.5)
    assert fixed["threshold"] == 0.5


def test_a_multi_label_run_blends_with_its_own_threshold(tiny_model_dir, tmp_path):
    rows = []
    for _i, row in make_reviews(600, seed=4).iterrows():
        tags = [row["label"]] + (["delivery"] if "delivery" in row["review"] else [])
        rows.append({"review": row["review"], "tags": ",".join(tags)})
    data = tmp_path / "m.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    result = train(build_config(None, tiny_overrides(tiny_model_dir, data, tmp_path / "out", **{
        "task.multi_label": True, "data.label_column": "tags", "training.max_steps": 3, "training.lr": 1e-5})))
    blend = result.metrics["blend"]
    assert blend["used"] and "threshold" in blend and "f1_micro" in blend["test"]
    predictor = ecomsft.load(result.run_dir)
    assert predictor.threshold == blend["threshold"]
    assert ecomsft.load(result.run_dir, blend=False).threshold == result.metrics["threshold"]
    frame = pd.read_csv(result.run_dir / "predictions.csv", keep_default_na=False)
    probs = predictor.predict_proba(frame["text"].tolist())
    assert np.allclose(probs, frame[[f"prob_{n}" for n in result.metrics["labels"]]].to_numpy(), atol=1e-5)
