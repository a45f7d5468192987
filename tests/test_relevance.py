"""Relevance (cross-encoder) and retrieval (bi-encoder) end to end on a tiny random BERT, the rank,
index and search commands, and the bad inputs of graded pairs and catalogues."""

import json

import numpy as np
import pandas as pd
import pytest

from ecomsft.errors import EcomsftError

from .conftest import failed_in_one_line, make_pairs, run_cli, tiny_overrides


def relevance_overrides(model_dir, data, output, **extra):
    values = tiny_overrides(model_dir, data, output, **{"task.type": "relevance", "training.epochs": 4})
    values.update(extra)
    return values


@pytest.fixture(scope="module")
def pairs_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("pairs") / "pairs.csv"
    make_pairs(120).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def relevance_run(tiny_model_dir, pairs_csv, tmp_path_factory):
    from ecomsft.config import build_config
    from ecomsft.runner import run as train

    out = tmp_path_factory.mktemp("relevance") / "run"
    return train(build_config(None, relevance_overrides(tiny_model_dir, pairs_csv, out)))


def test_relevance_run_learns_and_beats_random_order(relevance_run):
    metrics = relevance_run.metrics
    test, base = metrics["test"], metrics["baselines"]
    assert metrics["task"] == "relevance" and metrics["head"] == "regression"
    for key in ("ndcg@5", "ndcg@10", "mrr", "map", "precision@5", "recall@10", "rmse", "mae"):
        assert 0 <= test[key] <= (10 if key in ("rmse", "mae") else 1)
    assert set(base) == {"bm25", "zero_shot_cosine", "train_mean"}
    assert test["ndcg@10"] > base["train_mean"]["ndcg@10"] + 0.02
    assert test["rmse"] < base["train_mean"]["rmse"]
    assert metrics["data"]["queries_also_in_train"] == {"valid": 0, "test": 0}
    predictions = pd.read_csv(relevance_run.run_dir / "predictions.csv")
    assert {"query", "product", "gold", "score", "rank", "score_bm25", "score_zero_shot_cosine"} <= set(predictions.columns)
    assert len(predictions) == metrics["data"]["sizes"]["test"]
    html = (relevance_run.run_dir / "report.html").read_text(encoding="utf-8")
    assert "Re-ranking each test query" in html and "NDCG by cut-off" in html and "Worst-ranked" in html


def test_relevance_model_loads_with_plain_transformers(relevance_run):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(relevance_run.run_dir / "model")
    assert model.config.num_labels == 1 and model.config.ecomsft_task == "relevance"


def test_ranker_and_rank_command(relevance_run, pairs_csv, tmp_path):
    from ecomsft.readers.ranking.reader import Ranker

    ranker = Ranker(relevance_run.run_dir)
    ranked = ranker.rank("good price 1", ["good price fast great 0", "slow broken awful 1"])
    assert [r["index"] for r in ranked] == [0, 1]  # the relevant one first
    candidates = tmp_path / "candidates.csv"
    pd.DataFrame({"query": ["good price", "good price", "slow", ""], "title": ["good price great", "bad awful", "slow", "x"]}).to_csv(
        candidates, index=False)
    out = tmp_path / "ranked.csv"
    code, stdout, stderr = run_cli("rank", relevance_run.run_dir, "--input", candidates, "--output", out,
                                   "--text-pair-column", "title")
    assert code == 0, stderr
    ranked = pd.read_csv(out)
    assert list(ranked.columns) == ["query", "title", "score", "rank"]
    assert sorted(ranked["rank"].iloc[:2]) == [1, 2] and ranked["rank"].iloc[2] == 1
    assert np.isnan(ranked["score"].iloc[3])  # empty query: no score
    code, _, stderr = run_cli("predict", relevance_run.run_dir, "good")
    assert failed_in_one_line(code, stderr) and "ecomsft rank" in stderr
    from ecomsft import api

    ranked = api.predict(relevance_run.run_dir, ["good price\na good price product\nbroken slow delivery"])[0]
    assert len(ranked) == 2 and ranked[0]["score"] >= ranked[1]["score"] and {r["index"] for r in ranked} == {0, 1}
    report = tmp_path / "eval.json"
    code, stdout, stderr = run_cli("evaluate", relevance_run.run_dir, "--data", pairs_csv, "--output", report)
    assert code == 0, stderr
    assert {"ndcg@5", "ndcg@10", "mrr", "rmse", "rows"} <= set(json.loads(report.read_text()))


def test_named_grades_with_a_classification_head(tiny_model_dir, tmp_path):
    from ecomsft.config import build_config
    from ecomsft.runner import run as train

    frame = make_pairs(60, seed=1)
    frame["esci"] = np.where(frame["relevance"] >= 2, "Exact", np.where(frame.index % 2 == 0, "Irrelevant", "Complement"))
    data = tmp_path / "esci.csv"
    frame.drop(columns=["relevance"]).to_csv(data, index=False)
    result = train(build_config(None, relevance_overrides(
        tiny_model_dir, data, tmp_path / "run", **{"data.label_column": "esci", "training.epochs": 1, "task.pairwise_weight": 1.0,
                                                    "task.gains": {"Exact": 1.0, "Substitute": 0.1, "Complement": 0.01, "Irrelevant": 0.0}})))
    test = result.metrics["test"]
    assert result.metrics["head"] == "classification"
    assert {"ndcg@10", "mrr", "accuracy", "f1_macro"} <= set(test) and "rmse" not in test
    assert "RankNet" in result.metrics["training"]["loss"]


def test_pairwise_loss_batches_hold_whole_queries_and_the_loss_ranks(tiny_model_dir, pairs_csv, tmp_path):
    import torch

    from ecomsft.config import build_config
    from ecomsft.runner import run as train
    from ecomsft.training.trainer import QueryGroupedSampler, RankingTrainer

    sampler = QueryGroupedSampler([0, 1, 0, 2, 1, 2, 2], seed=0)
    for _ in range(2):
        order = list(sampler)
        assert sorted(order) == list(range(7))
        queries = [[0, 1, 0, 2, 1, 2, 2][i] for i in order]
        assert len([q for i, q in enumerate(queries) if i == 0 or q != queries[i - 1]]) == 3  # each query one run

    class Out:
        def __init__(self, logits):
            self.logits, self.loss = logits, torch.tensor(0.0)

    trainer = RankingTrainer.__new__(RankingTrainer)
    trainer.pairwise_weight, trainer.target_values = 1.0, None
    model = type("M", (), {"training": True, "__call__": lambda self, **kw: Out(kw["scores"])})()
    inputs = {"labels": torch.tensor([1.0, 0.0]), "query_id": torch.tensor([0, 0])}
    right = trainer.compute_loss(model, {**inputs, "scores": torch.tensor([[2.0], [0.0]])})
    wrong = trainer.compute_loss(model, {**inputs, "scores": torch.tensor([[0.0], [2.0]])})
    assert right.item() == pytest.approx(float(torch.nn.functional.softplus(torch.tensor(-2.0))))
    assert wrong.item() > right.item()
    result = train(build_config(None, relevance_overrides(tiny_model_dir, pairs_csv, tmp_path / "run",
                                                          **{"task.pairwise_weight": 0.5, "training.epochs": 1,
                                                             "baseline": False})))
    assert result.metrics["training"]["loss"] == "MSE + 0.5 x RankNet over same-query pairs"
    assert result.metrics["test"]["ndcg@10"] > 0


@pytest.mark.parametrize("shared", [True, False])
def test_retrieval_run_index_and_search(tiny_model_dir, pairs_csv, tmp_path, shared, monkeypatch):
    from ecomsft.config import build_config
    from ecomsft.runner import run as train

    result = train(build_config(None, relevance_overrides(
        tiny_model_dir, pairs_csv, tmp_path / "run", **{"task.type": "retrieval", "task.shared_towers": shared,
                                                         "training.epochs": 1})))
    metrics = result.metrics
    assert {"recall@5", "recall@10", "ndcg@10", "mrr@10"} <= set(metrics["test"])
    assert set(metrics["baselines"]) == {"bm25", "zero_shot_cosine"}
    assert {"ndcg@10", "rmse"} <= set(metrics["test_reranking"])
    assert metrics["data"]["catalog_products"] == make_pairs(120)["product_title"].nunique()
    catalog = tmp_path / "catalog.csv"
    pd.DataFrame({"sku": ["A1", "B2", "C3"], "title": ["good price great", "slow broken awful", "fast delivery"]}).to_csv(catalog, index=False)
    code, stdout, stderr = run_cli("index", result.run_dir, "--catalog", catalog, "--output", tmp_path / "idx")
    assert code == 0, stderr
    code, stdout, stderr = run_cli("search", tmp_path / "idx", "good price", "-k", "2", "--json")
    assert code == 0, stderr
    hits = json.loads(stdout)[0]["results"]
    assert len(hits) == 2 and hits[0]["rank"] == 1 and hits[0]["id"] in {"A1", "B2", "C3"}
    assert hits[0]["score"] >= hits[1]["score"]
    # Built with relative paths, the index searches from any working directory (paths are stored
    # relative to the index folder, which may move together with the run).
    monkeypatch.chdir(tmp_path)
    code, _, stderr = run_cli("index", "run", "--catalog", "catalog.csv", "--output", "indexes/rel")
    assert code == 0, stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, stdout, stderr = run_cli("search", tmp_path / "indexes" / "rel", "good price", "-k", "2", "--json")
    assert code == 0, stderr
    assert json.loads(stdout)[0]["results"][0]["id"] == hits[0]["id"]
    code, _, stderr = run_cli("rank", result.run_dir, "--input", pairs_csv, "--output", tmp_path / "r.parquet")
    assert code == 0, stderr
    assert "rank" in pd.read_parquet(tmp_path / "r.parquet")
    # A bi-encoder whose weights are pickled (pytorch_model.bin) is refused: safetensors only.
    import shutil

    import torch
    from safetensors.torch import load_file

    pickled = tmp_path / "pickled"
    shutil.copytree(result.run_dir, pickled)
    for weights in pickled.rglob("model.safetensors"):
        torch.save(load_file(weights), weights.with_name("pytorch_model.bin"))
        weights.unlink()
    code, _, stderr = run_cli("index", pickled, "--catalog", catalog, "--output", tmp_path / "idx2")
    assert failed_in_one_line(code, stderr) and stderr.count("error:") == 1 and "Traceback" not in stderr and "safetensors" in stderr.lower()


def test_retrieval_with_hard_negatives_and_no_grades(tiny_model_dir, tmp_path):
    from ecomsft.config import build_config
    from ecomsft.runner import run as train

    frame = make_pairs(40, seed=2)
    frame = frame[frame["relevance"] >= 2].drop(columns=["relevance"])
    frame["hard"] = ["slow broken awful"] * (len(frame) - 3) + [""] * 3
    data = tmp_path / "positives.csv"
    frame.to_csv(data, index=False)
    result = train(build_config(None, relevance_overrides(
        tiny_model_dir, data, tmp_path / "run", **{"task.type": "retrieval", "data.negative_column": "hard",
                                                    "training.epochs": 1, "baseline": False})))
    assert result.metrics["test"]["queries"] > 0 and result.metrics["test_reranking"] is None
    assert result.metrics["grading"] == "every row is a relevant pair"


def test_exact_top_k_matches_a_full_sort(monkeypatch):
    from ecomsft.models import embedding as index

    rng = np.random.default_rng(0)
    products, queries = rng.normal(size=(300, 8)).astype(np.float32), rng.normal(size=(5, 8)).astype(np.float32)
    positions, scores = index.exact_top_k(queries, products, 7, chunk=2)
    full = np.argsort(-(queries @ products.T), axis=1)[:, :7]
    assert (positions == full).all() and (np.diff(scores, axis=1) <= 0).all()
    pytest.importorskip("faiss")
    monkeypatch.setattr(index, "FAISS_FROM", 10)
    assert (index.exact_top_k(queries, products, 7)[0] == full).all()


# Bad input: each a one-line error naming the place, exit code 2, nothing left behind.

def train_cli(model_dir, data, out, *extra):
    return run_cli("train", "--task", "relevance", "--data", data, "--model", model_dir, "--output", out,
                   "--max-steps", "2", "--set", "training.progress_bar=false", "--set", "baseline=false", *extra)


def test_non_numeric_grade(tiny_model_dir, tmp_path):
    data = tmp_path / "bad.csv"
    data.write_text("search_term,product_title,relevance\ndrill,cordless drill,3\nsaw,hand saw,high\n", encoding="utf-8")
    code, _, stderr = train_cli(tiny_model_dir, data, tmp_path / "out")
    assert failed_in_one_line(code, stderr) and "bad.csv:3 column 'relevance'" in stderr and "'high' is not a number" in stderr
    assert "Traceback" not in stderr and not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_named_grade_missing_from_gains(tiny_model_dir, tmp_path):
    data = tmp_path / "esci.csv"
    data.write_text("query,product,label\ndrill,cordless drill,Exact\nsaw,hand saw,Substitute\n", encoding="utf-8")
    code, _, stderr = train_cli(tiny_model_dir, data, tmp_path / "out", "--set", "task.gains={Exact: 1, Irrelevant: 0}")
    assert failed_in_one_line(code, stderr) and "esci.csv:3 column 'label'" in stderr and "'Substitute' has no gain" in stderr


def test_duplicate_pairs_with_different_grades(tmp_path):
    from ecomsft.config import DataConfig
    from ecomsft.data.pairs import load_pairs
    from ecomsft.errors import EcomsftError

    data = tmp_path / "dup.csv"
    data.write_text("query,product,label\ndrill,cordless drill,3\ndrill,cordless drill,2\ndrill,cordless drill,2\n"
                    "saw,hand saw,1\n", encoding="utf-8")
    pairs = load_pairs(str(data), DataConfig(train=str(data)), None)
    assert pairs.averaged_pairs == 1 and pairs.dropped_duplicates == 1
    assert pairs.frame["label"].tolist() == [2.5, 1.0]
    named = tmp_path / "named.csv"
    named.write_text("query,product,label\ndrill,cordless drill,Exact\ndrill,cordless drill,Irrelevant\nsaw,hand saw,Exact\n",
                     encoding="utf-8")
    gains = {"Exact": 1.0, "Irrelevant": 0.0}
    assert load_pairs(str(named), DataConfig(train=str(named)), gains).dropped_conflicts == 2
    with pytest.raises(EcomsftError, match=r"named.csv:3 column 'label'.*graded differently"):
        load_pairs(str(named), DataConfig(train=str(named), drop_conflicts=False), gains)


def test_single_candidate_queries_are_kept_for_pointwise_metrics(tiny_model_dir, tmp_path):
    from ecomsft.config import build_config
    from ecomsft.runner import run as train

    frame = make_pairs(40, seed=3)
    singles = pd.DataFrame({"search_term": [f"only {i}" for i in range(30)], "product_title": "good great", "relevance": 3.0})
    data = tmp_path / "pairs.csv"
    pd.concat([frame, singles]).to_csv(data, index=False)
    result = train(build_config(None, relevance_overrides(tiny_model_dir, data, tmp_path / "run",
                                                          **{"training.max_steps": 2, "baseline": False})))
    test = result.metrics["test"]
    assert test["single_candidate_queries"] > 0
    assert result.metrics["data"]["sizes"]["test"] > test["ranked_queries"]


def test_catalogue_errors(tmp_path):
    code, _, stderr = run_cli("index", "minilm", "--catalog", tmp_path / "missing.csv", "--output", tmp_path / "i")
    assert failed_in_one_line(code, stderr) and "missing.csv" in stderr
    empty = tmp_path / "empty.csv"
    empty.write_text("id,title\n1,\n2,  \n", encoding="utf-8")
    code, _, stderr = run_cli("index", "minilm", "--catalog", empty, "--output", tmp_path / "i")
    assert failed_in_one_line(code, stderr) and "no products with text" in stderr
    dup = tmp_path / "dup.csv"
    dup.write_text("id,title\nA,drill\nB,saw\nA,hammer\n", encoding="utf-8")
    code, _, stderr = run_cli("index", "minilm", "--catalog", dup, "--output", tmp_path / "i")
    assert failed_in_one_line(code, stderr) and "dup.csv:4 column 'id'" in stderr and "'A' appears twice (first at" in stderr and "dup.csv:2" in stderr
    assert not (tmp_path / "i").exists()
    code, _, stderr = run_cli("search", tmp_path / "nothing", "drill")
    assert failed_in_one_line(code, stderr) and "not an index folder" in stderr


def test_rank_route_of_the_server(relevance_run, tiny_run):
    from fastapi.testclient import TestClient

    from ecomsft.inference.server import ServeSettings, create_app

    with TestClient(create_app(ServeSettings(run=str(relevance_run.run_dir), max_texts=8))) as client:
        answer = client.post("/v1/rank", json={"query": "good price 1", "candidates": ["good price fast great 0", "slow broken awful 1"]})
        assert answer.status_code == 200, answer.text
        assert [r["index"] for r in answer.json()["ranking"]] == [0, 1]
        assert client.get("/v1/info").json()["task"] == "relevance"
        for body, status, word in (({"query": "a", "candidates": []}, 422, "empty"),
                                   ({"query": "a", "candidates": ["x"] * 9}, 413, "max_texts"),
                                   ({"query": "a", "candidates": [" "]}, 422, "candidates[0]"),
                                   ({"query": " ", "candidates": ["x"]}, 422, "query"),
                                   ({"query": "a"}, 422, "candidates")):
            answer = client.post("/v1/rank", json=body)
            assert answer.status_code == status and word in answer.json()["error"], (body, answer.text)
        assert "/v1/rank" in client.post("/v1/predict", json={"texts": ["x"]}).json()["error"]
    with TestClient(create_app(ServeSettings(run=str(tiny_run.run_dir)))) as client:
        assert "/v1/predict" in client.post("/v1/rank", json={"query": "a", "candidates": ["b"]}).json()["error"]


def test_blend_with_the_zero_shot_encoder(tiny_model_dir, pairs_csv, tmp_path):
    from ecomsft.config import build_config
    from ecomsft.evaluation.ranking_baselines import cosine_pair_scores
    from ecomsft.readers.ranking.reader import Ranker
    from ecomsft.runner import run as train

    result = train(build_config(None, relevance_overrides(tiny_model_dir, pairs_csv, tmp_path / "run",
                                                          **{"task.blend_zero_shot": True, "training.epochs": 1,
                                                             "baseline": False})))
    blend = result.metrics["blend"]
    assert set(blend) == {"cross_encoder", "zero_shot_cosine", "bias"}
    assert {"ndcg@10", "rmse"} <= set(result.metrics["test_blend"])
    ranker = Ranker(result.run_dir)
    queries, products = ["good price 1", "good price 1"], ["good price great 0", "slow broken awful 1"]
    plain = ranker.head.scores(ranker.model(**ranker.tokenizer(queries, products, padding=True, return_tensors="pt")).logits.detach().numpy())
    expected = blend["cross_encoder"] * plain + blend["zero_shot_cosine"] * cosine_pair_scores(ranker.zero_shot, queries, products) + blend["bias"]
    assert np.allclose(ranker.score(queries, products), expected, atol=1e-4)
    assert "score_blend" in pd.read_csv(result.run_dir / "predictions.csv")
    choice = result.metrics["blend_choice"]
    assert choice["used"] and choice["metric"] == "ndcg@10" and choice["weights"] == blend
    alone = Ranker(result.run_dir, blend=False)
    assert alone.zero_shot is None and alone.describe()["blend"] == {"used": False}
    assert np.allclose(alone.score(queries, products), plain, atol=1e-4)
    assert ranker.describe()["blend"]["used"]


def test_the_zero_shot_blend_is_chosen_on_the_validation_queries(tiny_model_dir, pairs_csv, tmp_path):
    """model.blend auto (the default): the blend is kept only where it beats the cross-encoder alone
    on the validation queries, and metrics.json says which figures chose."""
    from ecomsft.config import build_config
    from ecomsft.readers.ranking.reader import Ranker
    from ecomsft.runner import run as train

    result = train(build_config(None, relevance_overrides(tiny_model_dir, pairs_csv, tmp_path / "run",
                                                          **{"training.epochs": 1, "baseline": False})))
    choice = result.metrics["blend_choice"]
    assert choice["metric"] == "ndcg@10" and choice["used"] == (choice["blend"] > choice["model"])
    assert (result.metrics["blend"] is not None) == choice["used"]
    assert Ranker(result.run_dir).describe()["blend"]["used"] == choice["used"]
    off = train(build_config(None, relevance_overrides(tiny_model_dir, pairs_csv, tmp_path / "off",
                                                       **{"training.epochs": 1, "baseline": False, "model.blend": "off"})))
    assert off.metrics["blend_choice"] == {"used": False, "why": "model.blend: off"} and off.metrics["blend"] is None


def test_compare_refuses_ranking_tasks(tmp_path):
    code, _, stderr = run_cli("compare", "--data", tmp_path / "pairs.csv", "--set", "task.type=relevance")
    assert failed_in_one_line(code, stderr) and "ecomsft runs" in stderr


def test_hard_negative_sampler_never_loops():
    from ecomsft.tasks.retrieval.task import training_pairs

    frame = pd.DataFrame({"text": ["q1", "q2"], "text_pair": ["drill", "drill"], "negative": ["", "drill"]})
    pairs = training_pairs(frame, None, ["drill", "drill", "hose"], seed=0)
    assert pairs["negative"] == ["hose", "hose"]
    with pytest.raises(EcomsftError, match="no hard negative can be drawn"):
        training_pairs(frame, None, ["drill", "drill", "drill"], seed=0)  # every product equals the positive


def test_other_commands_on_a_ranking_run_say_what_to_use_instead(tmp_path):
    """The one-line refusals name the command of the run's own task (relevance: rank)."""
    from ecomsft.inference.registry import use_of

    assert use_of("relevance").startswith("ecomsft rank") and use_of("retrieval").startswith("ecomsft index")
    assert use_of("pretraining").startswith("ecomsft train --model")


@pytest.mark.parametrize("shared_towers", [True, False])
def test_bi_encoder_from_a_checkpoint_without_pooler_loads_quietly(tiny_model_dir, capfd, caplog, shared_towers):
    """A masked-LM or e5 checkpoint has no pooler: building a sentence encoder on it from Python
    prints no load report of the pooler's missing weights (mean pooling never uses them)."""
    from ecomsft.tasks.retrieval.task import build_bi_encoder

    model = build_bi_encoder(str(tiny_model_dir), shared_towers, 32)
    assert model.encode(["充电宝"]).shape == (1, 32)
    shown = capfd.readouterr()
    assert "pooler" not in shown.out + shown.err + caplog.text
