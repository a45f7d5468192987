import numpy as np
import pytest

from ecomsft.evaluation.classification import full_report, scalar_metrics, tune_threshold


def test_binary_metrics_by_hand():
    y = np.array([1, 1, 0, 0])
    probs = np.array([[0.1, 0.9], [0.6, 0.4], [0.8, 0.2], [0.3, 0.7]])
    m = scalar_metrics(y, probs)
    # predicted 1, 0, 0, 1: one TP, one FN, one TN, one FP
    assert m["accuracy"] == 0.5
    assert m["precision"] == 0.5 and m["recall"] == 0.5 and m["f1"] == 0.5
    assert m["roc_auc"] == pytest.approx(0.75)
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.8, 0.3])))


def test_multiclass_report_has_confusion_and_per_class():
    y = np.array([0, 1, 2, 2])
    probs = np.eye(3)[[0, 2, 2, 1]]
    report = full_report(y, probs, ["1", "3", "5"])
    assert report["confusion_matrix"]["matrix"] == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    assert report["per_class"]["5"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert report["f1_micro"] == report["accuracy"] == 0.5
    assert "roc_auc_ovr" in report


def test_multi_label_metrics_and_threshold():
    y = np.array([[1, 0], [1, 1], [0, 1]])
    probs = np.array([[0.7, 0.2], [0.6, 0.4], [0.1, 0.45]])
    at_half = scalar_metrics(y, probs, multi_label=True, threshold=0.5)
    assert at_half["subset_accuracy"] == pytest.approx(1 / 3)
    assert at_half["hamming_loss"] == pytest.approx(2 / 6)
    best = tune_threshold(y, probs)
    assert best <= 0.4
    assert scalar_metrics(y, probs, True, best)["f1_micro"] == 1.0
