"""Model folders others understand: a model card in every run's model/, no pickle anywhere, and
``export --format hf`` a folder that plain transformers loads and predicts with as ecomsft does."""

import json
import subprocess
import sys

import pytest

from ecomsft import api
from ecomsft.errors import EcomsftError

from .conftest import failed_in_one_line, run_cli


def test_every_run_has_a_model_card_and_no_pickle(tiny_run):
    card = (tiny_run.run_dir / "model" / "README.md").read_text(encoding="utf-8")
    header = card.split("---")[1]
    assert "license:" in header and "pipeline_tag: text-classification" in header and "model-index:" in header
    assert "- ecomsft" in header and "type: accuracy" in header
    assert "| accuracy |" in card and "tfidf-lr baseline" in card and 'pipeline("text-classification"' in card
    assert "## Limits" in card and "## Training" in card
    pickled = [p for p in tiny_run.run_dir.rglob("*") if p.suffix in (".bin", ".pkl", ".pickle", ".pt", ".pth")]
    assert not pickled, pickled


def test_an_hf_export_predicts_in_plain_transformers_as_ecomsft_does(tiny_run, tmp_path):
    folder = api.export(tiny_run.run_dir, format="hf", output=tmp_path / "hf")
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= names
    assert not names & {"lexical.json", "lexical.safetensors", "onnx", "training_args.json"}
    texts = ["the delivery was fast and good", "物流很快，质量不错", "bad product broke"]
    code = ("import json, sys; sys.modules['ecomsft'] = None; from transformers import pipeline; "
            f"p = pipeline('text-classification', model={str(folder)!r}, top_k=None); "
            f"print(json.dumps(p({texts!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    plain = json.loads(done.stdout.strip().splitlines()[-1])
    ours = api.predict(tiny_run.run_dir, texts, blend=False)
    for mine, theirs in zip(ours, plain):
        scores = {item["label"]: item["score"] for item in theirs}
        assert max(scores, key=scores.get) == mine["label"]
        assert scores == pytest.approx(mine["probabilities"], abs=1e-5)


def test_hf_export_refusals(tiny_run, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep", encoding="utf-8")
    with pytest.raises(EcomsftError, match="already exists; give a new folder"):
        api.export(tiny_run.run_dir, format="hf", output=tmp_path / "taken")
    assert (tmp_path / "taken" / "mine.txt").read_text(encoding="utf-8") == "keep"
    code, _, err = run_cli("export", tiny_run.run_dir, "--format", "hf", "--int8", "--output", tmp_path / "x")
    assert failed_in_one_line(code, err) and "--int8 is for the onnx format" in err
    code, out, err = run_cli("export", tiny_run.run_dir, "--format", "hf", "--output", tmp_path / "y")
    assert code == 0 and "wrote" in out and (tmp_path / "y" / "config.json").is_file(), err
