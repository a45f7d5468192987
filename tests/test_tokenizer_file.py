"""The ONNX prediction path's tokenizer (``tokenizers`` alone, no transformers) gives the ids
``AutoTokenizer`` gives: short and long texts (head+tail truncation), pairs, padding; and a run
predicted with ``--backend auto`` after ``ecomsft export`` loads neither torch nor transformers."""

import json
import subprocess
import sys

import numpy as np
import pytest
from transformers import AutoTokenizer

from ecomsft.models.tokenizer_file import TokenizerFile
from ecomsft.models.truncation import encode_texts

TEXTS = ["the delivery was fast", "物流很快，质量不错", "", "good " * 80, "质量" * 90 + " bad", "a\tb\nc  d"]


@pytest.mark.parametrize("fixture", ["tiny_model_dir", "tiny_unigram_dir"])
def test_the_same_ids_as_auto_tokenizer(fixture, request):
    folder = request.getfixturevalue(fixture)
    reference, mine = AutoTokenizer.from_pretrained(folder), TokenizerFile(folder)
    for head_share in (1.0, 0.25):
        want = encode_texts(reference, TEXTS, max_length=24, head_share=head_share)
        got = encode_texts(mine, TEXTS, max_length=24, head_share=head_share)
        for key in want:
            assert got[key] == want[key], (key, head_share)
        padded, expected = mine.pad(got), reference.pad(want, return_tensors="np")
        for key in expected:
            assert np.array_equal(padded[key], expected[key]), key
    pairs = ["fast delivery", "质量" * 40]
    want = reference(TEXTS[:2], pairs, truncation=True, max_length=20)
    got = mine(TEXTS[:2], pairs, truncation=True, max_length=20)
    assert all(got[key] == want[key] for key in want)


def test_a_run_with_an_onnx_export_predicts_without_torch(tiny_run, tmp_path):
    import shutil

    from ecomsft import api

    run = tmp_path / "run"
    shutil.copytree(tiny_run.run_dir, run)
    texts = ["good fast delivery", "物流很慢，质量差"]
    torch_answers = api.predict(run, texts, backend="torch")
    api.export(run)
    auto_answers = api.predict(run, texts)  # auto: the export
    for a, b in zip(torch_answers, auto_answers):
        assert a["label"] == b["label"]
        assert np.allclose(list(a["probabilities"].values()), list(b["probabilities"].values()), atol=1e-4)
    probe = (f"import sys, json; from ecomsft import api; out = api.predict({str(run)!r}, {texts!r}); "
             "print(json.dumps([sorted(m for m in ('torch', 'transformers') if m in sys.modules), out]))")
    loaded, answers = json.loads(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                                                check=True).stdout.strip().splitlines()[-1])
    assert loaded == [] and [a["label"] for a in answers] == [a["label"] for a in torch_answers]


def test_the_onnx_path_refuses_what_transformers_refuses(tiny_run, tmp_path):
    """Custom code asked for by the folder, and damaged files: the same one-line refusals as torch's."""
    import shutil

    from ecomsft import api
    from ecomsft.errors import EcomsftError

    run = tmp_path / "run"
    shutil.copytree(tiny_run.run_dir, run)
    api.export(run)
    model = run / "model"
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    (model / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoConfig": "evil.Config"}}), encoding="utf-8")
    with pytest.raises(EcomsftError, match="never runs code"):
        api.predict(run, ["good"])
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
    tokenizer = (model / "tokenizer.json").read_bytes()
    (model / "tokenizer.json").write_bytes(tokenizer[: len(tokenizer) // 3])
    with pytest.raises(EcomsftError, match="damaged"):
        api.predict(run, ["good"])
    (model / "tokenizer.json").write_bytes(tokenizer)
    settings = json.loads((model / "tokenizer_config.json").read_text(encoding="utf-8"))
    (model / "tokenizer_config.json").write_text(json.dumps({**settings, "auto_map": {"AutoTokenizer": ["evil.T", None]}}))
    with pytest.raises(EcomsftError, match="never runs code"):
        api.predict(run, ["good"])


def test_the_quickstart_leaves_its_onnx_export_so_predict_is_quick(tiny_model_dir, tmp_path):
    """The quickstart's recipe (here on the tiny model and reviews) ends with the ONNX export that
    ``--backend auto`` takes."""
    from ecomsft import api

    from .conftest import make_reviews, run_cli, tiny_overrides

    make_reviews(120).to_csv(tmp_path / "r.csv", index=False)
    overrides = {k: v for k, v in tiny_overrides(tiny_model_dir, tmp_path / "r.csv", tmp_path / "qs").items()
                 if k not in ("output",)}
    overrides.update({"data.text_column": "review", "data.label_column": "label", "data.max_samples": None,
                      "model.trim_vocab": False, "training.max_seconds": None, "training.freeze_layers": 0})
    result = api.quickstart(output=str(tmp_path / "qs"), overrides=overrides)
    assert (result.run_dir / "model" / "onnx" / "model.onnx").is_file()
    assert api.load(result.run_dir).backend == "onnx"
    code, out, err = run_cli("quickstart", "--output", tmp_path / "qs2", *[f"--set={k}={v}" for k, v in overrides.items()
                                                                           if v is not None])
    assert code == 0 and (tmp_path / "qs2" / "model" / "onnx" / "model.onnx").is_file(), err
