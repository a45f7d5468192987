"""Class-weighted and focal losses: checked against cross-entropy and hand-computed values, and in a run."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from ecomsft.config import build_config
from ecomsft.errors import EcomsftError
from ecomsft.runner import run as train
from ecomsft.training.losses import ClassLoss, balanced_class_weights, focal_loss

from .conftest import make_reviews, tiny_overrides


def test_balanced_weights_are_n_over_k_counts():
    assert balanced_class_weights([0, 0, 0, 1], 3) == pytest.approx([4 / (2 * 3), 4 / (2 * 1), 1.0])


def test_focal_with_gamma_zero_is_cross_entropy():
    torch.manual_seed(0)
    logits, target = torch.randn(16, 4), torch.randint(0, 4, (16,))
    weight = torch.tensor([0.5, 1.0, 2.0, 4.0])
    assert focal_loss(logits, target, 0.0) == pytest.approx(F.cross_entropy(logits, target).item(), rel=1e-6)
    assert focal_loss(logits, target, 0.0, weight) == pytest.approx(F.cross_entropy(logits, target, weight=weight).item(), rel=1e-6)


def test_focal_by_hand_and_it_discounts_easy_examples():
    logits = torch.tensor([[math.log(9.0), 0.0], [0.0, 0.0]])  # p_true 0.9 (easy) and 0.5 (hard)
    target = torch.tensor([0, 0])
    expected = -(0.1**2 * math.log(0.9) + 0.5**2 * math.log(0.5)) / 2
    assert focal_loss(logits, target, 2.0).item() == pytest.approx(expected, rel=1e-6)
    easy_share_ce = math.log(0.9) / (math.log(0.9) + math.log(0.5))
    easy_share_focal = (0.1**2 * math.log(0.9)) / (0.1**2 * math.log(0.9) + 0.5**2 * math.log(0.5))
    assert easy_share_focal < easy_share_ce / 10


def test_multi_label_is_refused(tiny_model_dir):
    from ecomsft.config import TrainingConfig

    with pytest.raises(EcomsftError, match="single-label"):
        ClassLoss.from_config(TrainingConfig(focal_gamma=2.0), [0, 1], 2, multi_label=True)
    assert ClassLoss.from_config(TrainingConfig(), [0, 1], 2, multi_label=False) is None


@pytest.mark.parametrize("extra", [{"training.class_weight": "balanced"},
                                   {"training.focal_gamma": 2.0, "training.class_weight": "balanced"}])
def test_run_trains_with_the_chosen_loss(tiny_model_dir, tmp_path, extra):
    frame = make_reviews(160)
    frame = pd.concat([frame[frame["label"] == "positive"], frame[frame["label"] == "negative"].head(20)])  # 80 vs 20
    data = tmp_path / "imbalanced.csv"
    frame.to_csv(data, index=False)
    result = train(build_config(None, tiny_overrides(tiny_model_dir, data, tmp_path / "run", **extra)))
    loss = json.loads((result.run_dir / "metrics.json").read_text())["training"]["loss"]
    weights = dict(zip(result.metrics["labels"], loss["class_weight"]))
    assert weights["negative"] > 3 * weights["positive"]  # the rare class weighs more
    assert loss["focal_gamma"] == extra.get("training.focal_gamma", 0.0)
    losses = [e["loss"] for e in json.loads((result.run_dir / "training_log.json").read_text()) if "loss" in e]
    assert losses and all(math.isfinite(v) for v in losses)


def test_balanced_sampling_draws_classes_equally(tiny_model_dir, tmp_path):
    from ecomsft.training.losses import balanced_sample_weights

    weights = torch.tensor(balanced_sample_weights([0, 0, 0, 0, 1]))
    assert weights.tolist() == [0.25] * 4 + [1.0]
    drawn = torch.multinomial(weights, 20_000, replacement=True, generator=torch.Generator().manual_seed(0))
    assert abs((drawn == 4).float().mean().item() - 0.5) < 0.02  # the one rare row is half of the draws

    frame = make_reviews(160)
    frame = pd.concat([frame[frame["label"] == "positive"], frame[frame["label"] == "negative"].head(20)])
    data = tmp_path / "imbalanced.csv"
    frame.to_csv(data, index=False)
    result = train(build_config(None, tiny_overrides(tiny_model_dir, data, tmp_path / "run",
                                                     **{"training.balanced_sampling": True, "baseline": False})))
    assert result.metrics["training"]["balanced_sampling"] is True
    from ecomsft.training.trainer import ClassificationTrainer

    trainer = ClassificationTrainer.__new__(ClassificationTrainer)
    trainer.sample_weights = balanced_sample_weights([0, 1, 1])
    trainer.args = type("A", (), {"seed": 1})()
    sampler = trainer._get_train_sampler()
    assert isinstance(sampler, torch.utils.data.WeightedRandomSampler) and len(list(sampler)) == 3
