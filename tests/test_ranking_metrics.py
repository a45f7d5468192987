"""Ranking metrics against hand-computed examples: ties, all-zero gains, k beyond the list."""

import math

import numpy as np
import pandas as pd
import pytest

from ecomsft.data.splitting import split_grouped_by_query
from ecomsft.evaluation.ranking import expected_reciprocal_rank, pointwise_report, query_metrics, ranking_report, retrieval_report
from ecomsft.models.heads import Grading
from ecomsft.tasks.relevance.config import RelevanceSection

LOG3 = math.log2(3)


def metrics(gains, scores, ks=(1, 3, 10), relevant=None):
    gains = np.asarray(gains, dtype=float)
    return query_metrics(gains, gains > 0 if relevant is None else np.asarray(relevant), np.asarray(scores, dtype=float), list(ks))


def test_perfect_and_reversed_order():
    assert metrics([3, 2, 0], [0.9, 0.5, 0.1])["ndcg@3"] == pytest.approx(1.0)
    worst = metrics([0, 1, 3], [3, 2, 1])
    # DCG = 0 + 1/log2(3) + 3/log2(4); ideal = 3 + 1/log2(3)
    assert worst["ndcg@3"] == pytest.approx((1 / LOG3 + 1.5) / (3 + 1 / LOG3))
    assert worst["ndcg@1"] == pytest.approx(0.0)
    assert worst["mrr"] == pytest.approx(0.5)
    assert worst["precision@1"] == 0.0 and worst["recall@3"] == 1.0
    # relevant at ranks 2 and 3: AP = (1/2 + 2/3) / 2
    assert worst["map"] == pytest.approx((0.5 + 2 / 3) / 2)


def test_average_precision_by_hand():
    assert metrics([1, 0, 1], [0.9, 0.8, 0.7])["map"] == pytest.approx((1 + 2 / 3) / 2)


def test_ties_count_as_random_order():
    tied = metrics([1, 0], [0.5, 0.5], ks=(1, 2))
    assert tied["ndcg@2"] == pytest.approx((1 + 1 / LOG3) / 2)  # the mean of both orders
    assert tied["precision@1"] == pytest.approx(0.5)
    assert tied["mrr"] == pytest.approx(0.75)
    # one relevant among three tied: (1 + 1/2 + 1/3) / 3; two relevant among three: 2/3 * 1 + 1/3 * 1/2
    assert expected_reciprocal_rank(np.array([1, 0, 0], bool), np.zeros(3)) == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert expected_reciprocal_rank(np.array([1, 1, 0], bool), np.zeros(3)) == pytest.approx(2 / 3 + 1 / 6)
    # a tie after a clear first place
    assert expected_reciprocal_rank(np.array([0, 1, 0], bool), np.array([0.9, 0.1, 0.1])) == pytest.approx((1 / 2 + 1 / 3) / 2)


def test_k_larger_than_the_list():
    m = metrics([1, 0], [0.2, 0.8], ks=(10,))
    assert m["ndcg@10"] == pytest.approx(1 / LOG3)
    assert m["precision@10"] == pytest.approx(0.5)  # divided by the list's length, not by k
    assert m["recall@10"] == pytest.approx(1.0)


def test_all_zero_gains_and_single_candidates_are_counted_not_averaged():
    summary, per_query = ranking_report(
        ["a", "a", "b", "b", "c"], [0, 0, 3, 0, 1], [False, False, True, False, True], [0.1, 0.9, 0.8, 0.2, 0.5], [1, 10])
    assert summary["ranked_queries"] == 2
    assert summary["single_candidate_queries"] == 1
    assert summary["queries_without_gain"] == 1
    assert summary["queries_without_relevant"] == 1
    assert summary["ndcg@10"] == pytest.approx(1.0)  # only query b has gains, ranked perfectly
    assert summary["mrr"] == pytest.approx(1.0)
    assert list(per_query["query"]) == ["a", "b"]


def test_retrieval_report_sees_relevant_products_never_retrieved():
    out = retrieval_report([["a", "x", "b"]], [{"a": 1.0, "b": 3.0, "c": 1.0}], [2])
    assert out["recall@2"] == pytest.approx(1 / 3)
    assert out["ndcg@2"] == pytest.approx(1 / (3 + 1 / LOG3))
    assert out["mrr@2"] == pytest.approx(1.0)
    assert retrieval_report([["x", "y"]], [{"a": 1.0}], [2])["mrr@2"] == 0.0


def test_pointwise_report():
    out = pointwise_report([1, 3], [2, 2])
    assert out == {"rmse": pytest.approx(1.0), "mae": pytest.approx(1.0)}


def test_grading_numeric_and_named():
    numeric = Grading.from_config(RelevanceSection(), [1.0, 2.0, 3.0])
    assert numeric.gain([1.0, 2.0, 3.0]).tolist() == [0.0, 1.0, 3.0]  # 2^(g-1) - 1
    assert numeric.relevant([1.9, 2.0]).tolist() == [False, True]  # the middle of 1..3
    named = Grading.from_config(RelevanceSection(gains={"E": 1.0, "S": 0.1, "I": 0.0}), ["E", "I"])
    assert named.gain(named.values(["E", "S", "I"])).tolist() == [1.0, 0.1, 0.0]
    assert named.relevant(named.values(["E", "S", "I"])).tolist() == [True, True, False]
    assert Grading.from_dict(named.to_dict()) == named


def test_grouped_split_never_leaks_a_query():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"text": [f"q{i}" for i in rng.integers(0, 200, 1500)], "text_pair": "p", "label": 1.0})
    train, valid, test = split_grouped_by_query(frame, 0.1, 0.2, seed=3)
    parts = [set(p["text"]) for p in (train, valid, test)]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert len(train) + len(valid) + len(test) == len(frame)
    n = frame["text"].nunique()
    assert len(parts[1]) == round(0.1 * n) and len(parts[2]) == round(0.2 * n)
    again = split_grouped_by_query(frame, 0.1, 0.2, seed=3)
    assert again[2].index.equals(test.index)  # seeded
