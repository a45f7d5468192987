"""The ONNX export predicts what PyTorch predicts; the int8 model stays close."""

import numpy as np
import pytest

from ecomsft.errors import EcomsftError
from ecomsft.readers.classification.reader import Predictor

from .conftest import run_cli

TEXTS = ["love it great fast", "broken awful", "the product is very slow and bad", "好 很 快", "x"]


def test_onnx_matches_torch(tiny_run):
    run = tiny_run.run_dir
    code, out, err = run_cli("export", run, "--int8")
    assert code == 0, err
    torch_probs = Predictor(run).predict_proba(TEXTS)
    onnx_probs = Predictor(run, backend="onnx", batch_size=2).predict_proba(TEXTS)
    assert np.allclose(torch_probs, onnx_probs, atol=1e-4)
    int8 = Predictor(run, backend="onnx-int8").predict_proba(TEXTS)
    assert np.abs(int8 - torch_probs).max() < 0.05
    code, out, err = run_cli("predict", run, "--backend", "onnx", "love it")
    assert code == 0, err
    [expected] = Predictor(run).predict(["love it"])  # the torch model's answer, which ONNX must match
    assert out.split()[0] == expected["label"]


def test_missing_export_is_explained(tiny_model_dir, tmp_path):
    from ecomsft.config import build_config
    from ecomsft.runner import run as train

    from .conftest import make_reviews, tiny_overrides

    data = tmp_path / "d.csv"
    make_reviews(40).to_csv(data, index=False)
    run = train(build_config(None, tiny_overrides(tiny_model_dir, data, tmp_path / "r", **{"training.max_steps": 1, "baseline": False}))).run_dir
    with pytest.raises(EcomsftError, match="no ONNX export here; run: ecomsft export RUN --int8"):
        Predictor(run, backend="onnx-int8")
    with pytest.raises(EcomsftError, match="unknown backend"):
        Predictor(run, backend="tensorrt")
