"""Domain-adaptive masked-language-model pretraining on the shop's own text (``ecomsft pretrain``).

Any text column of any supported file (several files, builtin corpora too) is the corpus. Chinese
text is masked by whole words (segmented with jieba: every character of a chosen word is masked);
other text by tokens. The vocabulary extension of fine-tuning is applied first, so that new
characters get embeddings before they are needed. The result, ``<output>/model``, is a model folder
to pass as ``--model`` to ``ecomsft train``.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np

from ...data.examples import char_budget, load_examples
from ...errors import EcomsftError
from ...evaluation.baselines import cjk_share
from ...models.resolve import quiet_transformers
from ...training.trainer import MaskedLMTrainer, build_trainer, steps_per_epoch
from ..base import Evaluation, Task
from .config import PretrainingSpec
from .masking import WholeWordMaskCollator, word_ids_by_jieba

log = logging.getLogger("ecomsft")
# The collator reads the word ids (whole-word masking); masked-LM batches are drawn at random.
MASKED_LM_ARGUMENTS = {"remove_unused_columns": False, "group_by_length": False}


class PretrainingTask(PretrainingSpec, Task):
    def metric_for_best_model(self) -> str:
        return "loss"

    def load_data(self) -> dict:
        cfg = self.cfg
        self.files = [cfg.data.train] if isinstance(cfg.data.train, str) else list(cfg.data.train)
        texts = read_corpus(self.files, cfg.data, char_budget(cfg.model.max_length))
        order = np.random.default_rng(cfg.training.seed).permutation(len(texts))
        n_valid = max(1, round(cfg.data.valid_ratio * len(texts)))
        self.valid_texts = [texts[i] for i in order[:n_valid]]
        self.train_texts = [texts[i] for i in order[n_valid:]] or self.valid_texts
        return {"files": self.files, "sizes": {"train": len(self.train_texts), "valid": len(self.valid_texts)}}

    def build_model(self, model_path: str):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=False)
        if self.tokenizer.mask_token is None:
            raise EcomsftError("the tokenizer has no mask token, so masked-LM pretraining is impossible", where=model_path)
        model, self.new_head = load_mlm(model_path)
        self.young_tokens = int(getattr(model.config, "ecomsft_added_tokens", 0) or 0)
        return model

    def vocabulary_texts(self) -> list[str]:
        return self.train_texts

    def prepare_model(self, model, added_tokens: int):
        self.added_tokens = added_tokens
        return super().prepare_model(model, added_tokens)

    def build_trainer(self, model, workdir: Path, embedding_lr):
        from transformers import DataCollatorForLanguageModeling


        cfg = self.cfg
        masking = cfg.task.whole_word_masking
        self.whole_words = masking == "always" or (masking == "auto" and cjk_share(self.train_texts) > 0.2)
        train_set = encode_corpus(self.tokenizer, self.train_texts, cfg.model.max_length, self.whole_words)
        valid_set = encode_corpus(self.tokenizer, self.valid_texts, cfg.model.max_length, self.whole_words)
        self.train_tokens = int(sum(len(ids) for ids in train_set["input_ids"]))
        self.collator = (WholeWordMaskCollator(self.tokenizer, cfg.task.mlm_probability, cfg.training.seed) if self.whole_words
                         else DataCollatorForLanguageModeling(self.tokenizer, mlm_probability=cfg.task.mlm_probability))
        trainer = build_trainer(model, self.tokenizer, train_set, valid_set, cfg.training, str(workdir / "checkpoints"),
                                None, embedding_lr, tracking_dir=workdir, metric_for_best_model="loss",
                                data_collator=self.collator, trainer_class=MaskedLMTrainer, arguments=MASKED_LM_ARGUMENTS)
        self.trainer = trainer
        self.loss_before = self.held_out_loss()  # the model as it came, on the same masks as after
        self.warmup = self.warm_up_head(model, train_set, workdir)
        return trainer

    def head_warmup_steps(self, n_train: int) -> int:
        steps = self.cfg.task.head_warmup_steps
        if not self.new_head:  # the checkpoint's own head: nothing to warm up
            return 0
        if steps != "auto":
            return steps
        return min(200, steps_per_epoch(self.cfg.training, n_train))

    def warm_up_head(self, model, train_set, workdir: Path) -> dict | None:
        """A masked-LM head the checkpoint lacked (e5 ships its encoder alone) starts random, and its
        gradients would first shake the encoder that pretraining is meant to adapt: the new head
        weights learn alone first (the encoder and the embeddings, tied to the head's output
        matrix, frozen), with a Trainer of their own at ``task.head_warmup_lr``."""
        steps = self.head_warmup_steps(len(train_set))
        if not steps:
            return None
        new_weights = sum(p.numel() for name, p in model.named_parameters() if name in self.new_head)
        frozen = [p for name, p in model.named_parameters() if p.requires_grad and name not in self.new_head]
        settings = self.cfg.training.model_copy(update={"lr": self.cfg.task.head_warmup_lr, "max_steps": steps,
                                                        "max_seconds": None, "warmup_ratio": 0.0})
        warm = build_trainer(model, self.tokenizer, train_set, None, settings, str(workdir / "checkpoints" / "head-warmup"), None,
                             data_collator=self.collator, trainer_class=MaskedLMTrainer,
                             arguments={**MASKED_LM_ARGUMENTS, "save_strategy": "no"})
        log.info("the checkpoint has no masked-LM head: its %d new weights learn alone for %d steps first "
                 "(task.head_warmup_steps)", new_weights, steps)
        for p in frozen:
            p.requires_grad_(False)
        began = time.perf_counter()
        try:
            warm.train()
        finally:
            for p in frozen:
                p.requires_grad_(True)
        return {"steps": steps, "lr": self.cfg.task.head_warmup_lr, "parameters": new_weights,
                "seconds": round(time.perf_counter() - began, 1), "valid_loss_after": self.held_out_loss()}

    def held_out_loss(self) -> float:
        from transformers import set_seed


        set_seed(self.cfg.training.seed)
        if isinstance(self.collator, WholeWordMaskCollator):
            self.collator.reset()
        return self.trainer.evaluate()["eval_loss"]

    def evaluate(self, trainer) -> Evaluation:
        loss = self.held_out_loss()
        return Evaluation(
            validation={"loss": loss, "perplexity": math.exp(min(loss, 50))},
            fields={
                "corpus": {"files": self.files, "train_texts": len(self.train_texts), "valid_texts": len(self.valid_texts),
                           "train_tokens": self.train_tokens, "whole_word_masking": self.whole_words},
                "valid_loss_before": self.loss_before, "valid_perplexity_before": math.exp(min(self.loss_before, 50)),
                "head_warmup": self.warmup,
                "valid_loss": loss, "valid_perplexity": math.exp(min(loss, 50))})

    def training_info(self, trainer) -> dict:
        return {"loss": f"masked-LM cross-entropy ({'whole words' if self.whole_words else 'tokens'}, "
                        f"{self.cfg.task.mlm_probability:g} masked)"}

    def saved_settings(self) -> dict:
        # Marks the rows added here as still young, so that fine-tuning this model gives them the
        # embedding rate of freshly added rows (README "Which model?": +4.7 macro-F1 on 10 categories).
        return {"added_tokens": self.added_tokens + self.young_tokens}


def read_corpus(files: list[str], data, max_chars: int | None = None) -> list[str]:
    """Non-empty texts of every file, in file order (deduplicated unless ``data.deduplicate`` is off),
    a seeded sample of ``data.max_samples`` of them."""
    texts: list[str] = []
    for source in files:
        examples = load_examples(source, text_column=data.text_column, require_labels=False, encoding=data.encoding,
                                 max_chars=max_chars)
        texts.extend(examples.frame["text"].str.strip().tolist())
    texts = [t for t in texts if t]
    if data.deduplicate:
        texts = list(dict.fromkeys(texts))
    if not texts:
        raise EcomsftError(f"the corpus is empty after dropping empty texts ({', '.join(files)})")
    if data.max_samples and len(texts) > data.max_samples:
        rng = np.random.default_rng(0)
        texts = [texts[i] for i in sorted(rng.choice(len(texts), data.max_samples, replace=False))]
    return texts


def encode_corpus(tokenizer, texts: list[str], max_length: int, whole_words: bool):
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


def load_mlm(model_path: str):
    """The masked-LM model and the names of the weights its checkpoint lacked (initialised at random)."""
    from transformers import AutoConfig, AutoModelForMaskedLM

    config = AutoConfig.from_pretrained(model_path, trust_remote_code=False)
    try:
        with quiet_transformers():  # a head the checkpoint lacks is warmed up (warm_up_head), and said so
            model, info = AutoModelForMaskedLM.from_pretrained(model_path, trust_remote_code=False, output_loading_info=True)
        return model, set(info["missing_keys"])
    except ValueError:
        raise EcomsftError(
            f"a '{config.model_type}' model has no masked-LM form, so it cannot be pretrained this way; "
            "use an encoder (BERT, RoBERTa, MiniLM, ...), or fine-tune this model directly with ecomsft train",
            where=model_path,
        ) from None


TASK = PretrainingTask
