"""Scoring files in chunks: same result as one pass, resumable, every output format."""

import numpy as np
import pandas as pd
import pytest

from ecomsft.errors import EcomsftError
from ecomsft.readers.classification.reader import Predictor

from .conftest import make_reviews


@pytest.fixture(scope="module")
def predictor(tiny_run):
    return Predictor(tiny_run.run_dir)


@pytest.fixture
def big_input(tmp_path):
    frame = make_reviews(230, seed=3).rename(columns={"review": "text"})
    frame.insert(0, "id", range(len(frame)))
    frame.loc[5, "text"] = ""
    path = tmp_path / "in.csv"
    frame.to_csv(path, index=False)
    return path


def interrupt_at_chunk(predictor, monkeypatch, chunk: int):
    """Make ``predictor`` raise KeyboardInterrupt when asked for chunk number ``chunk`` (1-based)."""
    calls = {"n": 0}
    real = predictor.predict_proba

    def failing(texts, pairs=None, progress=None):
        calls["n"] += 1
        if calls["n"] == chunk:
            raise KeyboardInterrupt
        return real(texts, pairs)

    monkeypatch.setattr(predictor, "predict_proba", failing)
    return real


def test_chunked_equals_one_pass_in_every_format(predictor, big_input, tmp_path):
    whole = predictor.score_into(big_input, tmp_path / "one.csv", chunk_rows=10_000)
    assert whole == 230
    reference = pd.read_csv(tmp_path / "one.csv")
    predictor.score_into(big_input, tmp_path / "chunks.csv", chunk_rows=50)
    assert (tmp_path / "chunks.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    assert reference["id"].tolist() == list(range(230)) and pd.isna(reference["predicted"][5])
    for suffix in (".tsv", ".jsonl", ".parquet"):
        predictor.score_into(big_input, tmp_path / f"out{suffix}", chunk_rows=64)
    assert pd.read_csv(tmp_path / "out.tsv", sep="\t")["predicted"].equals(reference["predicted"])
    jsonl = pd.read_json(tmp_path / "out.jsonl", lines=True)["prob_positive"].to_numpy(dtype=float)
    assert np.allclose(jsonl, reference["prob_positive"].to_numpy(dtype=float), atol=1e-6, equal_nan=True)
    assert pd.read_parquet(tmp_path / "out.parquet")["predicted"].fillna("").tolist() == reference["predicted"].fillna("").tolist()
    assert not list(tmp_path.glob(".*"))


def test_interrupted_and_resumed_gives_the_same_file(predictor, big_input, tmp_path, monkeypatch):
    predictor.score_into(big_input, tmp_path / "ref.csv", chunk_rows=40)
    real = interrupt_at_chunk(predictor, monkeypatch, 4)
    out = tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt):
        predictor.score_into(big_input, out, chunk_rows=40)
    assert not out.exists() and (tmp_path / ".out.csv.partial").exists()
    scored = []
    monkeypatch.setattr(predictor, "predict_proba", lambda texts, pairs=None, progress=None: scored.append(len(texts)) or real(texts, pairs))
    assert predictor.score_into(big_input, out, chunk_rows=40, resume=True) == 230
    assert out.read_bytes() == (tmp_path / "ref.csv").read_bytes()
    assert len(scored) == 3  # chunks 4, 5 and 6 of 6: the first three were not scored again
    assert not (tmp_path / ".out.csv.partial").exists() and not (tmp_path / ".out.csv.state.json").exists()


def test_bad_outputs(predictor, big_input, tmp_path):
    with pytest.raises(EcomsftError, match="unsupported output type '.xlsx'"):
        predictor.score_into(big_input, tmp_path / "o.xlsx")
    with pytest.raises(EcomsftError, match="output folder does not exist"):
        predictor.score_into(big_input, tmp_path / "nope" / "o.csv")
    with pytest.raises(EcomsftError, match="--resume needs a csv"):
        predictor.score_into(big_input, tmp_path / "o.parquet", resume=True)


def test_corrupt_resume_state_is_a_clear_error(predictor, big_input, tmp_path, monkeypatch):
    interrupt_at_chunk(predictor, monkeypatch, 2)
    out = tmp_path / "out.csv"
    with pytest.raises(KeyboardInterrupt):
        predictor.score_into(big_input, out, chunk_rows=40)
    state = tmp_path / ".out.csv.state.json"
    assert state.is_file() and not list(tmp_path.glob(".*.tmp"))  # written whole, by rename
    state.write_text('{"identity": {"input": "x"}, "done": {"chunks": 1', encoding="utf-8")  # cut mid-write
    with pytest.raises(EcomsftError, match="resume state of the interrupted run is unreadable"):
        predictor.score_into(big_input, out, chunk_rows=40, resume=True)


def test_jsonl_records_with_different_keys_keep_the_csv_columns(predictor, tmp_path):
    import json

    records = [{"id": i, "text": "good product" if i % 2 else "broken awful"} for i in range(30)]
    for record in records[12:]:
        del record["id"]  # later records lack a key: empty cells, never a shifted column
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    predictor.score_into(source, tmp_path / "out.csv", chunk_rows=10)
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns[:2]) == ["id", "text"] and out["text"].tolist() == [r["text"] for r in records]
    assert out["id"][:12].tolist() == list(range(12)) and out["id"][12:].isna().all()
    assert set(out["predicted"]) <= {"positive", "negative"}
    records[25]["shop"] = "a key first seen late"
    source.write_text("".join(json.dumps(r) + "\n" for r in records))
    for suffix in (".csv", ".parquet"):
        with pytest.raises(EcomsftError, match="key 'shop' first appears"):
            predictor.score_into(source, tmp_path / f"bad{suffix}", chunk_rows=10)
        assert not (tmp_path / f"bad{suffix}").exists()
    predictor.score_into(source, tmp_path / "ok.jsonl", chunk_rows=10)  # JSON lines keep their own keys
    assert pd.read_json(tmp_path / "ok.jsonl", lines=True)["shop"].notna().sum() == 1


def test_rank_is_chunked_and_resumable_with_ranks_across_chunks(relevance_ranker, tmp_path, monkeypatch):
    from ecomsft.readers.ranking.reader import rank_file

    from .conftest import make_pairs

    pairs = make_pairs(30, seed=4).sample(frac=1.0, random_state=0)  # a query's rows scattered over chunks
    source = tmp_path / "candidates.csv"
    pairs.to_csv(source, index=False)
    rank_file(relevance_ranker, source, tmp_path / "one.csv", chunk_rows=100_000)
    rank_file(relevance_ranker, source, tmp_path / "chunks.csv", chunk_rows=17)
    one, chunks = pd.read_csv(tmp_path / "one.csv"), pd.read_csv(tmp_path / "chunks.csv")
    assert one.equals(chunks)
    for _, group in one.groupby("search_term"):
        assert sorted(group["rank"]) == list(range(1, len(group) + 1))
        assert group.sort_values("rank")["score"].is_monotonic_decreasing
    real, calls = relevance_ranker.score, {"n": 0}

    def failing(queries, products):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(queries, products)

    monkeypatch.setattr(relevance_ranker, "score", failing)
    with pytest.raises(KeyboardInterrupt):
        rank_file(relevance_ranker, source, tmp_path / "resumed.csv", chunk_rows=17)
    assert not (tmp_path / "resumed.csv").exists()
    monkeypatch.setattr(relevance_ranker, "score", real)
    rank_file(relevance_ranker, source, tmp_path / "resumed.csv", chunk_rows=17, resume=True)
    assert pd.read_csv(tmp_path / "resumed.csv").equals(one)


@pytest.fixture(scope="module")
def relevance_ranker(tiny_model_dir, tmp_path_factory):
    from ecomsft.config import build_config
    from ecomsft.readers.ranking.reader import Ranker
    from ecomsft.runner import run

    from .conftest import make_pairs, tiny_overrides

    folder = tmp_path_factory.mktemp("ranker")
    make_pairs(40).to_csv(folder / "pairs.csv", index=False)
    result = run(build_config(None, tiny_overrides(tiny_model_dir, folder / "pairs.csv", folder / "run",
                                                   **{"task.type": "relevance", "training.epochs": 1, "baseline": False})))
    return Ranker(result.run_dir)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_the_progress_bar_counts_input_rows_when_a_row_gives_several(big_input, tmp_path, monkeypatch, suffix):
    """An aspects run writes a row per opinion: the bar still ends at the input's rows."""
    from ecomsft.inference import file_scoring

    bars = []
    real = file_scoring._progress_bar
    monkeypatch.setattr(file_scoring, "_progress_bar", lambda total, enabled: bars.append(real(total, enabled)) or bars[-1])

    def twice(table):
        return pd.concat([table.frame, table.frame], ignore_index=True)

    written = file_scoring.score_file(twice, big_input, tmp_path / f"out{suffix}", chunk_rows=100, progress=True)
    task = bars[0].tasks[0]
    assert written == 460 and task.total == 230 and task.completed == 230
