"""How the Trainer is put together: optimizer groups, early stopping, evaluation order."""

import torch
from datasets import Dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer, EarlyStoppingCallback

from ecomsft.config import TrainingConfig
from ecomsft.training import build_trainer


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


def test_auto_precision_on_a_cpu_follows_its_matrix_units(monkeypatch):
    import pytest

    from ecomsft import training
    from ecomsft.errors import EcomsftError

    monkeypatch.setattr(training.torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(training, "cpu_has_bf16_matrix_units", lambda: True)
    assert training.precision_flags("auto") == {"bf16": True}
    assert training.precision_flags("fp32") == {}
    monkeypatch.setattr(training, "cpu_has_bf16_matrix_units", lambda: False)
    assert training.precision_flags("auto") == {}
    assert training.precision_flags("bf16") == {"bf16": True}
    with pytest.raises(EcomsftError, match="fp16 needs a CUDA GPU"):
        training.precision_flags("fp16")
