"""Speed options that choose which parameters learn: freezing and LoRA train only what they should."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForSequenceClassification, set_seed

from ecomsft.config import TrainingConfig, build_config
from ecomsft.errors import EcomsftError
from ecomsft.runner import run as train
from ecomsft.training import trainable as options

from .conftest import tiny_overrides


def _classifier(model_dir):
    return AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)


def _trainable(model) -> set[str]:
    return {name for name, p in model.named_parameters() if p.requires_grad}


def test_freezing_embeddings_and_lower_layers(tiny_model_dir):
    model = _classifier(tiny_model_dir)
    options.prepare(model, TrainingConfig(freeze_embeddings=True))
    trainable = _trainable(model)
    assert not any(".embeddings." in n for n in trainable)
    assert any("encoder.layer.0." in n for n in trainable) and "classifier.weight" in trainable

    model = _classifier(tiny_model_dir)
    options.prepare(model, TrainingConfig(freeze_layers=1))
    trainable = _trainable(model)
    assert not any(".embeddings." in n or "encoder.layer.0." in n for n in trainable)
    assert any("encoder.layer.1." in n for n in trainable) and "bert.pooler.dense.weight" in trainable

    with pytest.raises(EcomsftError, match="would freeze all 2 layers"):
        options.prepare(_classifier(tiny_model_dir), TrainingConfig(freeze_layers=2))


def test_auto_freezes_the_embeddings_of_a_multilingual_vocabulary_only(tiny_model_dir):
    model = _classifier(tiny_model_dir)
    options.prepare(model, TrainingConfig())  # a 30-row vocabulary: trained
    assert any(".embeddings." in n for n in _trainable(model))
    model = _classifier(tiny_model_dir)
    model.config.ecomsft_trimmed_from = 250_037  # trimmed from a multilingual vocabulary: frozen
    options.prepare(model, TrainingConfig())
    assert not any(".embeddings." in n for n in _trainable(model))
    assert not options.embeddings_frozen("auto", model, added_tokens=10)  # added rows must learn
    assert not options.embeddings_frozen(False, model) and options.embeddings_frozen(True, _classifier(tiny_model_dir))


def test_lora_trains_adapters_head_and_pooler_only(tiny_model_dir):
    model = options.prepare(_classifier(tiny_model_dir), TrainingConfig(lora_r=4))
    trainable = _trainable(model)
    assert trainable and all("lora_" in n or "modules_to_save" in n for n in trainable)
    assert any("query.lora_A" in n for n in trainable) and any("value.lora_B" in n for n in trainable)
    assert any("classifier" in n for n in trainable) and any("pooler" in n for n in trainable)
    assert not any("key" in n or "embeddings" in n for n in trainable)
    # training.lora_layers: adapters in the last layer only, below it nothing to train
    top = options.prepare(_classifier(tiny_model_dir), TrainingConfig(lora_r=4, lora_layers=1))
    layers = {n.split("layer.")[1].split(".")[0] for n in _trainable(top) if "lora_" in n}
    assert layers == {str(top.get_base_model().config.num_hidden_layers - 1)}


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("extra, frozen, learned", [
    ({"training.freeze_layers": 1}, ["embeddings.word_embeddings", "encoder.layer.0.attention.self.query"],
     ["encoder.layer.1.attention.self.query", "classifier"]),
    ({"training.lora_r": 4}, ["embeddings.word_embeddings", "encoder.layer.0.attention.self.key"],
     ["encoder.layer.0.attention.self.query", "encoder.layer.1.attention.self.value", "classifier", "pooler.dense"]),
])
def test_runs_save_a_plain_model_that_changed_only_where_it_trained(tiny_model_dir, tmp_path, reviews_csv, extra, frozen, learned):
    set_seed(42)  # the run's seed: its freshly initialised head and pooler start from these same weights
    before = _weights(_classifier(tiny_model_dir))
    result = train(build_config(None, tiny_overrides(tiny_model_dir, reviews_csv, tmp_path / "run",
                                                     **{"model.extend_vocab": "never", **extra})))
    saved = AutoModelForSequenceClassification.from_pretrained(result.run_dir / "model")
    after = _weights(saved)
    assert not any("lora" in k or "modules_to_save" in k for k in after)  # adapters merged away

    def changed(part: str) -> bool:
        keys = [k for k in after if part in k and k.endswith("weight") and k in before]
        assert keys, part
        return any(not torch.equal(before[k], after[k]) for k in keys)

    assert not any(changed(p) for p in frozen)
    assert all(changed(p) for p in learned)
    assert result.metrics["model"]["trainable_parameters"] < result.metrics["model"]["parameters"]


def test_classification_evaluates_in_length_order_with_the_same_metrics(tiny_model_dir, tmp_path):
    import json

    from datasets import Dataset

    from ecomsft.config import build_config
    from ecomsft.runner import run
    from ecomsft.training.trainer import ClassificationTrainer

    from .conftest import make_reviews, tiny_overrides

    data = tmp_path / "reviews.csv"
    make_reviews(100).to_csv(data, index=False)
    result = run(build_config(None, tiny_overrides(tiny_model_dir, data, tmp_path / "run", **{
        "training.epochs": 1, "baseline": False})))
    log = json.loads((tmp_path / "run" / "training_log.json").read_text(encoding="utf-8"))
    during = [entry for entry in log if "eval_accuracy" in entry][-1]
    assert during["eval_accuracy"] == result.metrics["validation"]["accuracy"]
    assert during["eval_loss"] == pytest.approx(result.metrics["validation"]["log_loss"], abs=1e-4)
    rows = Dataset.from_dict({"input_ids": [[1, 2, 3], [1], [1, 2], [1, 2, 3, 4]]})
    trainer = ClassificationTrainer.__new__(ClassificationTrainer)
    trainer.sort_eval_by_length = True
    assert list(trainer._get_eval_sampler(rows)) == [1, 2, 0, 3]
    assert list(trainer._get_eval_sampler(rows.select([3, 0]))) == [1, 0]
