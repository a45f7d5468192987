"""How the Trainer is put together: optimizer groups, early stopping, evaluation order."""

import shutil

import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer, EarlyStoppingCallback

from ecomsft.config import TrainingConfig
from ecomsft.training.trainer import build_trainer


def test_embedding_rate_early_stopping_and_sequential_eval(tiny_model_dir, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    data = Dataset.from_dict({"input_ids": [[2, 5, 3], [2, 6, 7, 3]] * 4, "length": [3, 4] * 4, "labels": [0, 1] * 4})
    cfg = TrainingConfig(lr=1e-4, early_stopping_patience=2, progress_bar=False)
    trainer = build_trainer(model, tokenizer, data, data, cfg, str(tmp_path), None, embedding_lr=5e-3)
    optimizer = trainer.create_optimizer()
    embedding = model.get_input_embeddings().weight
    groups = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    assert groups[id(embedding)]["lr"] == 5e-3
    assert groups[id(model.classifier.weight)]["lr"] == 1e-4
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len([p for p in model.parameters() if p.requires_grad])
    assert any(isinstance(c, EarlyStoppingCallback) for c in trainer.callback_handler.callbacks)
    assert trainer.args.load_best_model_at_end and trainer.args.metric_for_best_model == "f1_macro"
    assert isinstance(trainer._get_eval_sampler(data), torch.utils.data.SequentialSampler)


def test_the_new_head_learns_at_its_own_rate(tiny_model_dir, tmp_path):
    """training.head_lr: the parameters outside the pretrained body (the classifier) at their rate;
    the body and the embeddings at lr; every trainable parameter in exactly one group."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3)
    data = Dataset.from_dict({"input_ids": [[2, 5, 3]] * 4, "length": [3] * 4, "labels": [0, 1, 2, 0]})
    trainer = build_trainer(model, tokenizer, data, None, TrainingConfig(lr=1e-4, head_lr=3e-3, progress_bar=False),
                            str(tmp_path), None)
    groups = {id(p): g for g in trainer.create_optimizer().param_groups for p in g["params"]}
    assert groups[id(model.classifier.weight)]["lr"] == groups[id(model.classifier.bias)]["lr"] == 3e-3
    assert groups[id(model.classifier.bias)]["weight_decay"] == 0.0
    assert groups[id(model.get_input_embeddings().weight)]["lr"] == 1e-4
    body = [p for n, p in model.named_parameters() if n.startswith(model.base_model_prefix + ".encoder")]
    assert body and all(groups[id(p)].get("lr", 1e-4) == 1e-4 for p in body)
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(groups) == len(trainable) == sum(len(g["params"]) for g in trainer.optimizer.param_groups)


def test_a_pooler_the_checkpoint_lacks_learns_at_the_head_rate(tiny_model_dir, tmp_path):
    """A sentence encoder (e5) ships no pooler: BERT's classifier starts one at random, and it learns
    at the head's rate like the classifier; a pretrained pooler stays at lr."""
    from transformers import BertModel

    from ecomsft.data.labels import LabelSet
    from ecomsft.tasks.classification.model import build_model

    with_pooler = tmp_path / "with-pooler"  # the tiny model is a masked LM: it has no pooler
    BertModel.from_pretrained(tiny_model_dir).save_pretrained(with_pooler)
    labels = LabelSet(["a", "b"], multi_label=False)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    data = Dataset.from_dict({"input_ids": [[2, 5, 3]] * 4, "length": [3] * 4, "labels": [0, 1, 1, 0]})
    for source, pooler_rate in ((tiny_model_dir, 3e-3), (with_pooler, 1e-4)):
        model = build_model(str(source), labels)
        trainer = build_trainer(model, tokenizer, data, None, TrainingConfig(lr=1e-4, head_lr=3e-3, progress_bar=False),
                                str(tmp_path / "out"), None)
        groups = {id(p): g for g in trainer.create_optimizer().param_groups for p in g["params"]}
        assert groups[id(model.bert.pooler.dense.weight)].get("lr", 1e-4) == pooler_rate
        assert groups[id(model.classifier.weight)]["lr"] == 3e-3
        assert groups[id(model.bert.encoder.layer[0].output.dense.weight)].get("lr", 1e-4) == 1e-4


def test_auto_precision_on_a_cpu_follows_its_matrix_units(monkeypatch):
    from ecomsft.errors import EcomsftError
    from ecomsft.training import trainer as training

    monkeypatch.setattr(training.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(training, "cpu_has_bf16_matrix_units", lambda: True)
    assert training.precision_flags("auto") == {"bf16": True}
    assert training.precision_flags("fp32") == {}
    monkeypatch.setattr(training, "cpu_has_bf16_matrix_units", lambda: False)
    assert training.precision_flags("auto") == {}
    assert training.precision_flags("bf16") == {"bf16": True}
    with pytest.raises(EcomsftError, match="fp16 needs a CUDA GPU"):
        training.precision_flags("fp16")


def test_gpu_defaults_follow_the_h200_measurements(monkeypatch):
    """On a GPU: TF32 rather than bf16 autocast below a billion parameters (bf16 ran at half the
    samples/s for MiniLM and BERT-base shapes), bf16 above; the loader and optimizer options; none
    of them on a CPU, nor with training.device: cpu."""
    from ecomsft.config import TrainingConfig
    from ecomsft.training import trainer as training

    monkeypatch.setattr(training.torch.cuda, "get_device_capability", lambda *a: (9, 0))
    monkeypatch.setattr(training.torch.cuda, "is_bf16_supported", lambda *a: True)
    assert training.precision_flags("auto", gpu=True, parameters=22_000_000) == {"tf32": True}
    assert training.precision_flags("auto", gpu=True, parameters=2_000_000_000) == {"bf16": True}
    assert training.precision_flags("auto", gpu=True) == {"bf16": True}  # size unknown (a decoder's own arguments)
    options = training.gpu_loader_options(True)
    assert options["optim"] == "adamw_torch_fused" and options["dataloader_num_workers"] == 2
    assert options["accelerator_config"] == {"non_blocking": True} and options["logging_nan_inf_filter"] is False
    assert training.gpu_loader_options(False) == {}
    monkeypatch.setattr(training.torch.cuda, "is_available", lambda: True)
    assert training.on_gpu(TrainingConfig()) and not training.on_gpu(TrainingConfig(device="cpu"))


def _first_step(tiny_model_dir, tmp_path, batch_size: int, accumulation: int, class_loss=None) -> dict:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)  # the same new classification head each time
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_model_dir, num_labels=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    ids = [[2, *range(5, 5 + n % 7 + 1), 3] for n in range(16)]
    data = Dataset.from_dict({"input_ids": ids, "length": [len(i) for i in ids], "labels": [n % 3 % 2 for n in range(16)]})
    cfg = TrainingConfig(batch_size=batch_size, gradient_accumulation_steps=accumulation, max_steps=1, logging_steps=1,
                         group_by_length=False, progress_bar=False)
    trainer = build_trainer(model, tokenizer, data, None, cfg, str(tmp_path / f"b{batch_size}"), None, class_loss=class_loss)
    trainer.train()
    return trainer.state.log_history[0]


def test_accumulated_micro_batches_give_the_gradient_of_the_whole_batch(tiny_model_dir, tmp_path):
    """One step of batch 8 against batch 4 x 2 accumulation steps (the same rows, no dropout): the same
    loss and gradient norm. Before MeanLossTrainer both came out twice as large (transformers #47688),
    and so did every step's gradient under ``--nproc 2``."""
    from ecomsft.training.losses import ClassLoss

    for class_loss in (None, ClassLoss(focal_gamma=2.0)):  # the model's cross-entropy, and focal loss
        whole = _first_step(tiny_model_dir, tmp_path, 8, 1, class_loss)
        accumulated = _first_step(tiny_model_dir, tmp_path, 4, 2, class_loss)
        assert accumulated["loss"] == pytest.approx(whole["loss"], rel=1e-4)
        assert accumulated["grad_norm"] == pytest.approx(whole["grad_norm"], rel=1e-3)


def test_head_lr_auto_speeds_the_head_of_e5_family_encoders_only(tiny_model_dir, tmp_path):
    from types import SimpleNamespace

    from ecomsft.config import build_config
    from ecomsft.tasks import get_task

    from .conftest import tiny_overrides

    cfg = build_config(None, tiny_overrides(tiny_model_dir, tmp_path / "d.csv", tmp_path / "out", **{"training.lr": 1e-4}))
    task = get_task("classification")(cfg)
    e5 = SimpleNamespace(config=SimpleNamespace(ecomsft_e5_prefixes={"query": "query: ", "document": "passage: "}))
    assert task.head_rate(e5) == pytest.approx(3e-3)
    assert task.head_rate(SimpleNamespace(config=SimpleNamespace())) is None
    cfg = build_config(None, tiny_overrides(tiny_model_dir, tmp_path / "d.csv", tmp_path / "out", **{"training.head_lr": 5e-4}))
    assert get_task("classification")(cfg).head_rate(e5) == 5e-4
