"""ecomsft compare on tiny models: two candidates plus tfidf-lr, a failing one, duplicate names."""

import shutil

import pandas as pd
import pytest

from ecomsft.compare import compare
from ecomsft.config import build_config
from ecomsft.errors import EcomsftError

from .conftest import make_reviews, run_cli, tiny_overrides


def test_two_candidates_baseline_and_a_failure(tiny_model_dir, tmp_path):
    data = tmp_path / "d.csv"
    make_reviews(120, chinese_share=0.3).to_csv(data, index=False)
    twin = tmp_path / "tiny-twin"
    shutil.copytree(tiny_model_dir, twin)
    cfg = build_config(None, tiny_overrides(tiny_model_dir, data, tmp_path / "unused", **{"training.max_seconds": 60}))
    board = compare(cfg, [str(tiny_model_dir), str(twin), "tfidf-lr", "some-org/missing-model"], tmp_path / "cmp")
    assert len(board) == 4
    ok = board[board["status"] == "ok"]
    assert set(ok["candidate"]) == {str(tiny_model_dir), str(twin), "tfidf-lr"}
    failed = board[board["status"] != "ok"].iloc[0]
    assert failed["candidate"] == "some-org/missing-model" and "unreachable" in failed["status"]
    for row in ok.itertuples():
        assert 0 <= row.accuracy <= 1 and row.infer_samples_per_second > 0 and row.parameters > 0 and row.size_mb > 0
    # Same split for every candidate: the transformer runs saw the same test rows.
    runs = [r for r in ok["run"] if "tfidf" not in r]
    tests = [pd.read_csv(f"{r}/predictions.csv")["text"].tolist() for r in runs]
    assert tests[0] == tests[1]
    for name in ("leaderboard.csv", "leaderboard.png", "report.html"):
        assert (tmp_path / "cmp" / name).is_file()
    page = (tmp_path / "cmp" / "report.html").read_text()
    assert "data:image/png;base64," in page and "tfidf-lr" in page and "blend accuracy" in page
    # The baseline is kept as data, never pickled; it reloads to its test figures.
    assert not list((tmp_path / "cmp").rglob("*.pkl"))
    baseline = ok[ok["candidate"] == "tfidf-lr"].iloc[0]
    from ecomsft.models.lexical import LexicalModel

    assert LexicalModel.load(baseline["run"]).n_labels == 2
    # Ranked by what each candidate delivers (its blend where its run chose one).
    delivered = ok["blend_accuracy"].fillna(ok["accuracy"]).tolist()
    assert delivered == sorted(delivered, reverse=True)


def test_duplicate_candidates_are_refused(tiny_model_dir, tmp_path, reviews_csv):
    cfg = build_config(None, tiny_overrides(tiny_model_dir, reviews_csv, tmp_path / "o"))
    with pytest.raises(EcomsftError, match="given twice"):
        compare(cfg, ["tfidf-lr", "tfidf-lr"], tmp_path / "cmp")


def test_compare_cli(tiny_model_dir, tmp_path, reviews_csv):
    code, out, err = run_cli("compare", "--data", reviews_csv, "--models", f"{tiny_model_dir},tfidf-lr",
                             "--output", tmp_path / "cmp", "--max-seconds", "30",
                             "--set", "model.max_length=32", "--set", "training.epochs=1", "--set", "training.progress_bar=false")
    assert code == 0, err
    assert "tfidf-lr" in out and (tmp_path / "cmp" / "leaderboard.csv").is_file()
