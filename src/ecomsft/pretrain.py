"""``ecomsft pretrain``: domain-adaptive masked-language-model pretraining on the shop's own text.

Any text column of any supported file (several files, builtin corpora too) is the corpus. Chinese
text is masked by whole words (segmented with jieba: every character of a chosen word is masked);
other text by tokens. The vocabulary extension of fine-tuning is applied first, so that new
characters get embeddings before they are needed. The result, ``<output>/model``, is a model folder
to pass as ``--model`` to ``ecomsft train``.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from typing import Literal

import numpy as np
from pydantic import Field

from . import run_folder
from .config import ModelConfig, TrainingConfig, _Strict, build_config_of
from .errors import EcomsftError

log = logging.getLogger("ecomsft")


class PretrainDataConfig(_Strict):
    files: list[str] = Field(min_length=1, description="files or builtin:NAME; any supported format")
    text_column: str | None = None
    encoding: str | None = None
    valid_ratio: float = Field(default=0.05, gt=0, lt=0.5, description="held out for the masked-LM loss")
    max_samples: int | None = Field(default=None, gt=0)


class PretrainTrainingConfig(TrainingConfig):
    """The training keys of fine-tuning, with defaults that suit masked-LM pretraining."""

    epochs: float = Field(default=1.0, gt=0)
    lr: float = Field(default=1e-4, gt=0)
    metric_for_best_model: str = "loss"


class PretrainConfig(_Strict):
    data: PretrainDataConfig
    model: ModelConfig = ModelConfig()
    training: PretrainTrainingConfig = PretrainTrainingConfig()
    mlm_probability: float = Field(default=0.15, gt=0, lt=1)
    whole_word_masking: Literal["auto", "always", "never"] = "auto"
    output: str = "runs/pretrain"
    overwrite: bool = False


def read_corpus(cfg: PretrainDataConfig) -> list[str]:
    """Non-empty, deduplicated texts of every file, in file order."""
    from .data.examples import load_examples

    texts: list[str] = []
    for source in cfg.files:
        examples = load_examples(source, text_column=cfg.text_column, require_labels=False, encoding=cfg.encoding)
        texts.extend(examples.frame["text"].str.strip().tolist())
    texts = list(dict.fromkeys(t for t in texts if t))
    if not texts:
        raise EcomsftError(f"the corpus is empty after dropping empty texts ({', '.join(cfg.files)})")
    if cfg.max_samples and len(texts) > cfg.max_samples:
        rng = np.random.default_rng(0)
        texts = [texts[i] for i in sorted(rng.choice(len(texts), cfg.max_samples, replace=False))]
    return texts


def word_ids_by_jieba(text: str, offsets: list[tuple[int, int]]) -> list[int]:
    """For each token (by its character offsets) the index of the jieba word it falls in; -1 for specials."""
    import jieba

    starts = np.zeros(len(text) + 1, dtype=np.int64)
    for index, (_, begin, end) in enumerate(jieba.tokenize(text)):
        starts[begin:end] = index
    return [-1 if begin == end else int(starts[begin]) for begin, end in offsets]


class WholeWordMaskCollator:
    """Masks whole words: a chosen word has all its tokens masked (80% [MASK], 10% random, 10% kept).

    ``transformers`` has ``DataCollatorForWholeWordMask`` only for '##' WordPiece continuation, which
    knows nothing of Chinese words; here the words come from each example's ``word_ids``.
    """

    def __init__(self, tokenizer, mlm_probability: float = 0.15, seed: int = 42):
        self.tokenizer = tokenizer
        self.mlm_probability = mlm_probability
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        """Start the masking sequence again, so that two evaluations mask the same tokens."""
        self.rng = np.random.default_rng(self.seed)

    def __call__(self, features: list[dict]) -> dict:
        import torch

        word_ids = [f.pop("word_ids") for f in features]
        batch = self.tokenizer.pad(features, return_tensors="pt")
        input_ids = batch["input_ids"]
        labels = torch.full_like(input_ids, -100)
        for row, words in enumerate(word_ids):
            words = np.asarray(words)
            candidates = np.unique(words[words >= 0])
            if len(candidates) == 0:
                continue
            budget = max(1, int(round(self.mlm_probability * int((words >= 0).sum()))))
            chosen, covered = [], 0
            for word in self.rng.permutation(candidates):
                size = int((words == word).sum())
                if covered + size > budget and chosen:
                    continue
                chosen.append(word)
                covered += size
                if covered >= budget:
                    break
            positions = np.flatnonzero(np.isin(words, chosen))
            labels[row, positions] = input_ids[row, positions]
            draw = self.rng.random(len(positions))
            masked = positions[draw < 0.8]
            randomised = positions[(draw >= 0.8) & (draw < 0.9)]
            input_ids[row, masked] = self.tokenizer.mask_token_id
            input_ids[row, randomised] = torch.as_tensor(self.rng.integers(0, len(self.tokenizer), len(randomised)), dtype=input_ids.dtype)
        batch["input_ids"], batch["labels"] = input_ids, labels
        return batch


def _encode(tokenizer, texts: list[str], max_length: int, whole_words: bool):
    from datasets import Dataset

    encoded = tokenizer(texts, truncation=True, max_length=max_length, return_offsets_mapping=whole_words,
                        return_special_tokens_mask=not whole_words)
    columns = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
    if "token_type_ids" in encoded:
        columns["token_type_ids"] = encoded["token_type_ids"]
    if whole_words:
        columns["word_ids"] = [word_ids_by_jieba(text, offsets) for text, offsets in zip(texts, encoded["offset_mapping"])]
    else:
        columns["special_tokens_mask"] = encoded["special_tokens_mask"]
    return Dataset.from_dict(columns)


def _load_mlm(model_path: str):
    from transformers import AutoConfig, AutoModelForMaskedLM

    config = AutoConfig.from_pretrained(model_path)
    try:
        return AutoModelForMaskedLM.from_pretrained(model_path, trust_remote_code=False)
    except ValueError:
        raise EcomsftError(
            f"a '{config.model_type}' model has no masked-LM form, so it cannot be pretrained this way; "
            "use an encoder (BERT, RoBERTa, MiniLM, ...), or fine-tune this model directly with ecomsft train",
            where=model_path,
        ) from None


def pretrain(cfg: PretrainConfig, *, resume: bool = False) -> dict:
    """Run masked-LM pretraining as ``cfg`` says; returns its metrics (also in ``<output>/metrics.json``)."""
    from transformers import AutoTokenizer, DataCollatorForLanguageModeling, set_seed

    from .baseline import cjk_share
    from .models.resolve import loading, resolve_model
    from .models.vocab import adapt_vocabulary
    from .run import prepare_output, removed_on_failure, train_keeping_checkpoints
    from .tracking import tracking_callbacks
    from .training import MeanLossTrainer, TimeBudget, training_arguments

    started = time.perf_counter()
    output, partial = prepare_output(cfg.output, cfg.overwrite, resume)
    created = not resume
    with removed_on_failure(partial, created):
        texts = read_corpus(cfg.data)
        model_path = resolve_model(cfg.model.name)
        set_seed(cfg.training.seed)
        with loading(cfg.model.name):
            tokenizer = AutoTokenizer.from_pretrained(model_path)
            if tokenizer.mask_token is None:
                raise EcomsftError("the tokenizer has no mask token, so masked-LM pretraining is impossible", where=model_path)
            model = _load_mlm(model_path)
        rng = np.random.default_rng(cfg.training.seed)
        order = rng.permutation(len(texts))
        n_valid = max(1, int(round(cfg.data.valid_ratio * len(texts))))
        valid_texts = [texts[i] for i in order[:n_valid]]
        train_texts = [texts[i] for i in order[n_valid:]] or valid_texts
        vocab = adapt_vocabulary(tokenizer, model, train_texts, cfg.model)
        whole_words = cfg.whole_word_masking == "always" or (cfg.whole_word_masking == "auto" and cjk_share(train_texts) > 0.2)
        train_set = _encode(tokenizer, train_texts, cfg.model.max_length, whole_words)
        valid_set = _encode(tokenizer, valid_texts, cfg.model.max_length, whole_words)
        collator = (WholeWordMaskCollator(tokenizer, cfg.mlm_probability, cfg.training.seed) if whole_words
                    else DataCollatorForLanguageModeling(tokenizer, mlm_probability=cfg.mlm_probability))
        partial.mkdir(parents=True, exist_ok=True)
        args = training_arguments(cfg.training, str(partial / "checkpoints"), len(train_set), has_valid=True,
                                  remove_unused_columns=False, group_by_length=False)
        callbacks = tracking_callbacks(partial) + ([TimeBudget(cfg.training.max_seconds)] if cfg.training.max_seconds else [])
        trainer = MeanLossTrainer(model=model, args=args, train_dataset=train_set, eval_dataset=valid_set,
                                  processing_class=tokenizer, data_collator=collator, callbacks=callbacks)

    def held_out_loss() -> float:
        # The same masks before and after training, so that the two losses compare.
        set_seed(cfg.training.seed)
        if isinstance(collator, WholeWordMaskCollator):
            collator.reset()
        return trainer.evaluate()["eval_loss"]

    loss_before = held_out_loss()
    train_started = time.perf_counter()
    train_keeping_checkpoints(trainer, partial, resume)
    train_seconds = time.perf_counter() - train_started
    loss_after = held_out_loss()
    tokens = int(sum(len(ids) for ids in train_set["input_ids"]))
    metrics = {
        "task": "masked_lm_pretraining",
        "model": {"name": cfg.model.name, "path": model_path, **vocab},
        "corpus": {"files": cfg.data.files, "train_texts": len(train_texts), "valid_texts": len(valid_texts),
                   "train_tokens": tokens, "whole_word_masking": whole_words},
        "valid_loss_before": loss_before, "valid_perplexity_before": math.exp(min(loss_before, 50)),
        "valid_loss": loss_after, "valid_perplexity": math.exp(min(loss_after, 50)),
        "timings": {"train_seconds": train_seconds, "total_seconds": time.perf_counter() - started,
                    "tokens_per_second": trainer.state.epoch * tokens / max(train_seconds, 1e-9)},
        "training": {"steps": trainer.state.global_step, "epochs": trainer.state.epoch},
    }
    # Marks the rows added here as still young, so that fine-tuning this model gives them the
    # embedding rate of freshly added rows (README "Which model?": +4.7 macro-F1 on 10 categories).
    trainer.model.config.ecomsft_added_tokens = vocab["added_tokens"] + int(getattr(model.config, "ecomsft_added_tokens", 0) or 0)
    try:
        trainer.save_model(str(partial / "model"))
        tokenizer.save_pretrained(str(partial / "model"))
        (partial / "config.yaml").write_text(cfg.to_yaml(), encoding="utf-8")
        (partial / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False), encoding="utf-8")
    except OSError as err:
        shutil.rmtree(partial, ignore_errors=True)
        raise EcomsftError(f"could not save the model ({err.strerror or err}); nothing was written", where=str(output)) from None
    shutil.rmtree(partial / "checkpoints", ignore_errors=True)
    run_folder.finish(partial, output, "pretrain")
    return metrics


def build_pretrain_config(file=None, overrides=None) -> PretrainConfig:
    return build_config_of(PretrainConfig, file, overrides)


__all__ = ["PretrainConfig", "WholeWordMaskCollator", "build_pretrain_config", "pretrain"]
