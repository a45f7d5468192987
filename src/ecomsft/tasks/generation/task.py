"""Generative SFT: instruction tuning of a GPT-style decoder (Qwen, Llama, GPT-2, ...) with TRL's
``SFTTrainer`` on prompt/completion, chat or Alpaca data. The loss is on what the model must
learn (completions, assistant turns; TRL's masks), EOS included so that generation stops; the run
is judged on what it generates for held-out prompts beside the most frequent answer."""

from __future__ import annotations

import logging
import math
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from ...data.conversations import answer_of, prompt_of, read_conversations
from ...data.splitting import carve_splits
from ...errors import EcomsftError
from ...evaluation.generation import generation_report, guess_kind
from ...models.generating import (
    fit_turns,
    generate_ids,
    prompt_ids,
    sampling_options,
    stop_ids,
)
from ...models.decoders import check_decoder, default_chat_template, prepare_tokenizer
from ...models.gguf import GEMMA_ALIASES
from ...training import trainable
from ...training.sft import AnswerHeadSFTTrainer
from ...training.trainer import run_callbacks, training_arguments
from ..base import Evaluation, Task
from .config import GenerationSpec

log = logging.getLogger("ecomsft")


class GenerationTask(GenerationSpec, Task):
    auto_model = (GEMMA_ALIASES[0], "generation: the bundled decoder, Gemma 3 270M")

    def metric_for_best_model(self) -> str:
        return self.cfg.training.metric_for_best_model or "loss"

    # data -------------------------------------------------------------------------------------
    def load_data(self) -> dict:
        cfg = self.cfg
        files = {name: getattr(cfg.data, name) for name in ("train", "valid", "test") if getattr(cfg.data, name)}
        read = {name: read_conversations(path, cfg.task, cfg.data.encoding) for name, path in files.items()}
        # (turns, where in its file) pairs, so that a row refused later is named by file and line.
        items = {name: [(turns, c.where(i)) for i, turns in enumerate(c.items)] for name, c in read.items()}
        rng = np.random.default_rng(cfg.training.seed)
        train = items["train"]
        if cfg.data.deduplicate:
            seen, kept = set(), []
            for turns, where in train:
                key = tuple((t["role"], t["content"]) for t in turns)
                if key not in seen:
                    seen.add(key)
                    kept.append((turns, where))
            train = kept
        if cfg.data.max_samples and len(train) > cfg.data.max_samples:
            train = [train[i] for i in sorted(rng.choice(len(train), cfg.data.max_samples, replace=False))]
        items = carve_splits({**items, "train": train}, cfg.data.valid_ratio, cfg.data.test_ratio, rng)
        if len(items["train"]) < 2:
            raise EcomsftError("fewer than two training rows", where=str(cfg.data.train))
        self.places = {name: [where for _, where in part] for name, part in items.items()}
        self.items = {name: [turns for turns, _ in part] for name, part in items.items()}
        self.format = read["train"].format
        answers = [answer_of(turns) for turns in self.items["train"]]
        self.kind = cfg.task.completion_kind if cfg.task.completion_kind != "auto" else guess_kind(answers)
        self.labels = sorted({a.strip() for a in answers}) if self.kind == "label" else None
        return {"train_source": str(cfg.data.train), "format": self.format, "completion_kind": self.kind,
                "sizes": {name: len(part) for name, part in self.items.items()},
                "turns": {name: int(sum(len(t) for t in part)) for name, part in self.items.items()}}

    # model ------------------------------------------------------------------------------------
    def build_model(self, model_path: str):
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer


        check_decoder(AutoConfig.from_pretrained(model_path, trust_remote_code=False), self.cfg.model.name)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=False)
        own_template = self.tokenizer.chat_template
        self.added = prepare_tokenizer(self.tokenizer, self.format == "messages", self.cfg.task.template_fallback)
        template = self.tokenizer.chat_template
        self.template = ("ecomsft default" if template == default_chat_template(self.tokenizer) else
                         "model's own" if template == own_template else "TRL training template")
        options = {}
        if self.cfg.task.quantization == "4bit":
            if not torch.cuda.is_available():
                raise EcomsftError("task.quantization: 4bit (QLoRA) needs a CUDA GPU (bitsandbytes); on a CPU use "
                                   "training.lora_r alone")
            from transformers import BitsAndBytesConfig

            options["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
        model = AutoModelForCausalLM.from_pretrained(model_path, **options, trust_remote_code=False)
        if len(self.tokenizer) > model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(len(self.tokenizer))
        model.config.pad_token_id = self.tokenizer.pad_token_id
        model.generation_config.pad_token_id = self.tokenizer.pad_token_id
        self.model_path = model_path
        return model

    def vocabulary_texts(self) -> list[str]:
        return [t["content"] for turns in self.items["train"] for t in turns]

    def prepare_model(self, model, added_tokens: int):
        cfg = self.cfg.training
        if not cfg.lora_r:
            return model
        from peft import LoraConfig, TaskType, get_peft_model

        if self.cfg.task.quantization == "4bit":
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=self.cfg.task.gradient_checkpointing)
        lora = LoraConfig(task_type=TaskType.CAUSAL_LM, r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                          target_modules=cfg.lora_target_modules or (trainable.layer_linears(model) if cfg.lora_layers else "all-linear"),
                          layers_to_transform=trainable.lora_layers(model, cfg.lora_layers))
        try:
            return get_peft_model(model, lora)
        except ValueError as err:
            raise EcomsftError(f"LoRA: {err}".splitlines()[0]) from None

    # training ---------------------------------------------------------------------------------
    def _fit(self, name: str) -> list[list[dict]]:
        """The split's conversations, each cut from the left of its prompt to fit max_length
        (counted), or an error naming the row when ``long_prompts: refuse`` or when the answer
        alone does not fit."""

        limit, fitted, cut = self.cfg.model.max_length, [], 0
        for i, turns in enumerate(self.items[name]):
            kept, was_cut = fit_turns(self.tokenizer, turns, limit, generation_prompt=False)
            where = self.places[name][i]
            if was_cut and self.cfg.task.long_prompts == "refuse":
                raise EcomsftError(f"the row is longer than max_length {limit} tokens (task.long_prompts: truncate "
                                   "cuts the prompt from its left)", where=where)
            if kept is None:
                raise EcomsftError(f"the answer alone is longer than max_length {limit} tokens; the answer is never "
                                   "cut: raise --max-length", where=where)
            cut += was_cut
            fitted.append(kept)
        self.cut[name] = cut
        return fitted

    def _dataset(self, conversations: list[list[dict]]):
        from datasets import Dataset

        if self.format == "messages":
            return Dataset.from_list([{"messages": turns} for turns in conversations])
        return Dataset.from_list([{"prompt": prompt_of(turns), "completion": turns[-1:]} for turns in conversations])

    def build_trainer(self, model, workdir: Path, embedding_lr):
        from trl import SFTConfig


        cfg, task = self.cfg, self.cfg.task
        self.workdir, self.cut = workdir, {}
        self.fitted = {name: self._fit(name) for name in ("train", "valid", "test")}
        if task.packing:
            log.warning("task.packing: rows are packed into %d-token blocks; without FlashAttention (not on this "
                        "machine's CPU) the rows of a block can attend to each other", cfg.model.max_length)
        train, valid = self._dataset(self.fitted["train"]), self._dataset(self.fitted["valid"])
        has_valid = len(valid) > 0
        conversations = self.format == "messages"
        args = training_arguments(
            cfg.training, str(workdir / "checkpoints"), len(train), has_valid, metric_for_best_model=self.metric_for_best_model(),
            arguments_class=SFTConfig, max_length=cfg.model.max_length, packing=task.packing,
            completion_only_loss=not conversations, assistant_only_loss=conversations,
            eval_packing=False, neftune_noise_alpha=task.neftune_alpha, gradient_checkpointing=task.gradient_checkpointing)
        with self._quiet_preparation():
            return AnswerHeadSFTTrainer(model=model, args=args, train_dataset=train, eval_dataset=valid if has_valid else None,
                              processing_class=self.tokenizer, callbacks=run_callbacks(cfg.training, workdir, has_valid))

    @contextmanager
    def _quiet_preparation(self):
        """TRL prepares datasets with a progress bar per step; with training.progress_bar off, none."""
        import datasets

        shown = datasets.is_progress_bar_enabled()
        if not self.cfg.training.progress_bar:
            datasets.disable_progress_bars()
        try:
            yield
        finally:
            if shown:
                datasets.enable_progress_bars()

    def finish_model(self, trainer):
        if self.cfg.task.keep_adapter and hasattr(trainer.model, "peft_config"):
            trainer.model.save_pretrained(str(self.workdir / "adapter"))
            self.tokenizer.save_pretrained(str(self.workdir / "adapter"))
        if self.cfg.task.quantization == "4bit" and hasattr(trainer.model, "peft_config"):
            trainer.model = _merge_into_full_precision(trainer.model, self.model_path, self.tokenizer)
            return trainer.model
        trainer.model = trainable.finish(trainer.model)
        return trainer.model

    # evaluation -------------------------------------------------------------------------------
    def _sample(self, name: str) -> list[int]:
        n, cap = len(self.fitted[name]), self.cfg.task.eval_samples
        if not cap or n <= cap:
            return list(range(n))
        return sorted(np.random.default_rng(self.cfg.training.seed).choice(n, cap, replace=False).tolist())

    def _generate(self, model, conversations: list[list[dict]]) -> list[tuple[str, bool]]:
        task = self.cfg.task
        budget = max(8, self.cfg.model.max_length)
        prompts = [prompt_ids(self.tokenizer, prompt_of(turns), budget)[0] for turns in conversations]
        found = generate_ids(model, self.tokenizer, prompts, max_new_tokens=task.max_new_tokens,
                             batch_size=self.cfg.training.eval_batch_size,
                             sampling=sampling_options(task.do_sample, task.temperature, task.top_p, task.top_k))
        return [(self.tokenizer.decode(ids, skip_special_tokens=True).strip(), stopped) for ids, stopped in found]

    def _loss(self, trainer, name: str) -> float | None:
        """Mean token-level loss on the split (what the model must learn only): TRL's ``evaluate``
        prepares the rows as it prepared the training rows (the same masks; never packed)."""
        if not self.fitted[name]:
            return None
        with self._quiet_preparation():
            return float(trainer.evaluate(eval_dataset=self._dataset(self.fitted[name]), metric_key_prefix=name)[f"{name}_loss"])

    def evaluate(self, trainer) -> Evaluation:
        model = trainer.model
        model.config.use_cache = True  # off under gradient checkpointing; generation wants its cache
        results, self.examples = {}, {}
        for name in ("valid", "test"):
            if not self.fitted[name]:
                continue
            rows = self._sample(name)
            conversations = [self.fitted[name][i] for i in rows]
            answers = self._generate(model, conversations)
            references = [answer_of(turns) for turns in conversations]
            generations = [text for text, _ in answers]
            metrics, scores = generation_report(references, generations, self.kind, self.labels)
            loss = self._loss(trainer, name)
            metrics.update({"loss": loss, "perplexity": math.exp(min(loss, 50)) if loss is not None else None,
                            "stopped_by_eos": float(np.mean([stopped for _, stopped in answers])),
                            "mean_new_characters": float(np.mean([len(g) for g in generations]))})
            results[name] = metrics
            self.examples[name] = (conversations, references, answers, scores)
        predictions = None
        if "test" in self.examples:
            conversations, references, answers, scores = self.examples["test"]
            predictions = pd.DataFrame({
                "prompt": [_prompt_text(prompt_of(turns)) for turns in conversations], "reference": references,
                "generation": [text for text, _ in answers], "stopped": [stopped for _, stopped in answers],
                "score": scores,
            }).sort_values("score", kind="stable").reset_index(drop=True)
        fields = {"labels": self.labels} if self.labels else {}
        return Evaluation(validation=results.get("valid"), test=results.get("test"), predictions=predictions,
                          fields={**fields, "completion_kind": self.kind})

    def baselines(self, evaluation: Evaluation) -> dict:
        """The most frequent training answer, given to every test prompt."""
        if "test" not in self.examples:
            return {}
        common, count = Counter(answer_of(t) for t in self.items["train"]).most_common(1)[0]
        references = self.examples["test"][1]
        metrics, _ = generation_report(references, [common] * len(references), self.kind, self.labels)
        return {"baselines": {"most_frequent_answer": {**metrics, "answer": common, "train_share": count / len(self.items["train"])}}}

    def training_info(self, trainer) -> dict:
        mask = "assistant turns" if self.format == "messages" else "completions"
        return {"loss": f"token cross-entropy on the {mask} only, EOS included (TRL SFTTrainer)",
                "prompts_cut": self.cut, "chat_template": self.template, "packing": self.cfg.task.packing}

    def model_info(self, model) -> dict:
        return {"architecture": type(model).__name__, "added_special_tokens": self.added}

    def saved_settings(self) -> dict:
        return {"max_new_tokens": self.cfg.task.max_new_tokens, "system": self.cfg.task.system,
                "completion_kind": self.kind, "labels": self.labels}

    def save(self, trainer, model_dir: Path) -> None:
        trainer.model.generation_config.eos_token_id = stop_ids(self.tokenizer)  # generation stops where training did
        trainer.model.generation_config.pad_token_id = self.tokenizer.pad_token_id
        super().save(trainer, model_dir)


def _prompt_text(turns: list[dict]) -> str:
    return "\n".join(t["content"] if t["role"] == "user" and len(turns) <= 2 else f"{t['role']}: {t['content']}" for t in turns)


def _merge_into_full_precision(peft_model, base_path: str, tokenizer):
    """QLoRA: the adapter merged into the base weights loaded again in bf16 (merging into 4-bit
    weights would round the update away)."""
    import tempfile

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    with tempfile.TemporaryDirectory() as folder:
        peft_model.save_pretrained(folder)
        base = AutoModelForCausalLM.from_pretrained(base_path, torch_dtype=torch.bfloat16, trust_remote_code=False)
        if len(tokenizer) > base.get_input_embeddings().num_embeddings:
            base.resize_token_embeddings(len(tokenizer))
        merged = PeftModel.from_pretrained(base, folder).merge_and_unload()
    return merged.to(peft_model.device)


TASK = GenerationTask
