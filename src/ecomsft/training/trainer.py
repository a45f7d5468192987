"""Building the ``transformers.Trainer`` of a run from its configuration."""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch
from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from ..config import TrainingConfig
from ..distributed import per_process_batch, world_size
from ..errors import EcomsftError
from ..verbosity import verbose
from .tracking import report_to, tracking_callbacks

LOWER_IS_BETTER = ("loss", "log_loss", "hamming_loss", "rmse", "mae")


def cpu_has_bf16_matrix_units() -> bool:
    """Whether this CPU has Intel AMX tiles (bf16 matrix products in hardware)."""
    check = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private in torch 2.x; absent is "no"
    try:
        return bool(check and check())
    except Exception:
        return False


# On a GPU, bf16 autocast pays only once the matrix products outweigh its casts. Measured on an
# H200 at batch 32 (README "GPU"): fp32 with TF32 products ran 2.2x bf16's samples/s for a
# MiniLM-shaped encoder (22M) and 1.2x for a BERT-base-shaped one (110M); bf16 is kept for models
# of a billion parameters and more, where it also halves the memory of the activations.
GPU_BF16_FROM_PARAMETERS = 1_000_000_000


def on_gpu(cfg: TrainingConfig) -> bool:
    """Whether this run trains on a CUDA GPU (``training.device: cpu`` keeps it on the CPU)."""
    return cfg.device == "auto" and torch.cuda.is_available()


def precision_flags(choice: str, gpu: bool | None = None, parameters: int | None = None) -> dict[str, bool]:
    """'auto': on a CUDA GPU, bf16 (fp16 where bf16 is missing) for models of
    ``GPU_BF16_FROM_PARAMETERS`` or more, else fp32 with TF32 matrix products; bf16 autocast on a
    CPU with AMX (measured 1.4x the samples/s of fp32 at the same accuracy, README "Performance");
    else fp32."""
    gpu = torch.cuda.is_available() if gpu is None else gpu
    if choice == "auto":
        if not gpu:
            return {"bf16": True} if cpu_has_bf16_matrix_units() else {}
        if parameters is not None and parameters < GPU_BF16_FROM_PARAMETERS:
            return {"tf32": True} if torch.cuda.get_device_capability()[0] >= 8 else {}
        return {"bf16": True} if torch.cuda.is_bf16_supported() else {"fp16": True}
    if choice == "fp16" and not gpu:
        raise EcomsftError("training.precision fp16 needs a CUDA GPU; use auto, fp32 or bf16 on a CPU")
    return {} if choice == "fp32" else {choice: True}


def gpu_loader_options(gpu: bool) -> dict:
    """On a GPU the host must not hold the device back at every step (README "GPU"): the data
    loader works ahead in worker processes (collation off the training thread), batches go to the
    device from pinned memory without waiting (non_blocking), the optimizer is PyTorch's fused AdamW
    (one kernel, not one per tensor), and the loss is not checked for NaN at every step (two device
    syncs a step; a NaN still shows in the logged loss)."""
    if not gpu:
        return {}
    return {"dataloader_num_workers": 2, "dataloader_persistent_workers": True, "dataloader_pin_memory": True,
            "optim": "adamw_torch_fused", "accelerator_config": {"non_blocking": True}, "logging_nan_inf_filter": False}


class TimeBudget(TrainerCallback):
    """Stops training once ``seconds`` of wall-clock time have passed (a comparison's equal budget)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.started = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if time.perf_counter() - self.started >= self.seconds:
            control.should_training_stop = True
            control.should_evaluate = control.should_save = True
        return control


class StepCounter(TrainerCallback):
    """Remembers the step training started from (a resumed run's checkpoint step: the Trainer has
    restored its state when training begins), so that throughput counts only the steps this
    process trained."""

    first_step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.first_step = state.global_step


class ListedAtCheckpoints(TrainerCallback):
    """Lists the work folder's files in its marker after each checkpoint (``RunFolder.keep``), so
    that after a crash ``--overwrite`` may delete exactly what training wrote until then."""

    def __init__(self, folder):
        self.folder = folder

    def on_save(self, args, state, control, **kwargs):
        self.folder.keep()


class MeanLossTrainer(Trainer):
    """The Trainer for models whose loss is the mean over their micro-batch (sequence classification,
    BERT's masked LM, ecomsft's class-weighted and focal losses): the loss is divided by the gradient
    accumulation steps and averaged over processes, so that a step's gradient is the mean over the
    global batch whatever the accumulation or process count.

    The Trainer takes any model whose ``forward`` has ``**kwargs`` to normalize its loss by the
    global item count itself, so it neither divides by the accumulation steps nor undoes the mean over
    processes; the heads above accept the count but ignore it, and their gradients grew with
    ``gradient_accumulation_steps`` x processes (transformers issue #47688; still so in 5.24).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.model_accepts_loss_kwargs = False


class InOrder(torch.utils.data.Sampler):
    """The rows in a given order."""

    def __init__(self, order: list[int]):
        self.order = order

    def __iter__(self):
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


class ClassificationTrainer(MeanLossTrainer):
    """The Trainer with two differences: evaluation keeps the dataset's order, and the input
    embeddings may learn at their own rate.

    Rows added by vocabulary extension start from the mean embedding and, at the small rate that
    suits pretrained layers, would barely move in one run.
    """

    def __init__(self, *args, embedding_lr: float | None = None, head_lr: float | None = None, class_loss=None,
                 sample_weights=None, sort_eval_by_length: bool = False, **kwargs):
        self.embedding_lr = embedding_lr
        self.head_lr = head_lr
        # Evaluation batches of similar lengths pad little (1.7x on shop reviews); only for metrics
        # that do not depend on the rows' order (classification's).
        self.sort_eval_by_length = sort_eval_by_length
        self.class_loss = class_loss  # losses.ClassLoss, or None for the model's own loss
        self.sample_weights = sample_weights  # losses.balanced_sample_weights, or None for the usual order
        super().__init__(*args, **kwargs)

    def _get_train_sampler(self, train_dataset=None):
        if self.sample_weights is None:
            return super()._get_train_sampler(train_dataset)
        generator = torch.Generator().manual_seed(self.args.seed)
        return torch.utils.data.WeightedRandomSampler(self.sample_weights, len(self.sample_weights), replacement=True,
                                                      generator=generator)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.class_loss is None or "labels" not in inputs:
            return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = self.class_loss(outputs.logits, labels)
        return (loss, outputs) if return_outputs else loss

    def _get_eval_sampler(self, eval_dataset):
        # transformers 5 also shuffles evaluation batches when grouping by length, which makes
        # ``predict`` return rows out of order; callers sort by length themselves (see run.py).
        if eval_dataset is None:
            return None
        if self.sort_eval_by_length and "input_ids" in getattr(eval_dataset, "column_names", ()):
            import pyarrow.compute as pc

            lengths = pc.list_value_length(eval_dataset.with_format("arrow")["input_ids"]).to_numpy()
            return InOrder(np.argsort(lengths, kind="stable").tolist())
        return torch.utils.data.SequentialSampler(eval_dataset)

    def create_optimizer(self, model=None):
        if self.optimizer is not None or (self.embedding_lr is None and self.head_lr is None):
            return super().create_optimizer(model)
        opt_model = self.model if model is None else model
        embedding = opt_model.get_input_embeddings().weight
        decay = set(self.get_decay_parameter_names(opt_model))
        # The head: what lies outside the pretrained body (``bert.``, ``roberta.``, ...), and what the
        # checkpoint lacked (``ecomsft_new_parameters``: BERT's pooler on a sentence encoder): new, randomly
        # initialised layers that may learn faster than the pretrained ones.
        body = getattr(opt_model, "base_model_prefix", "") + "."
        new = getattr(opt_model, "ecomsft_new_parameters", frozenset())

        def is_head(name: str) -> bool:
            return not name.startswith(body) or name in new

        groups = []
        for names, lr in ((is_head, self.head_lr), (lambda n: not is_head(n), None)):
            rest = [(n, p) for n, p in opt_model.named_parameters() if p.requires_grad and p is not embedding and names(n)]
            for wanted, decay_rate in ((True, self.args.weight_decay), (False, 0.0)):
                group = {"params": [p for n, p in rest if (n in decay) == wanted], "weight_decay": decay_rate}
                groups.append({**group, "lr": lr} if lr else group)
        if embedding.requires_grad:
            groups.append({"params": [embedding], "weight_decay": 0.0, "lr": self.embedding_lr or self.args.learning_rate})
        self.optimizer = torch.optim.AdamW(
            [g for g in groups if g["params"]],
            lr=self.args.learning_rate,
            betas=(self.args.adam_beta1, self.args.adam_beta2),
            eps=self.args.adam_epsilon,
            fused=embedding.is_cuda or None,  # as optim="adamw_torch_fused" on a GPU (gpu_loader_options)
        )
        return self.optimizer


class QueryGroupedSampler(torch.utils.data.Sampler):
    """Training rows query by query (queries in a new seeded order each epoch), so that a batch holds
    whole candidate lists for a pairwise ranking loss to compare."""

    def __init__(self, query_ids, seed: int):
        order = np.argsort(np.asarray(query_ids), kind="stable")
        self.groups = np.split(order, np.flatnonzero(np.diff(np.asarray(query_ids)[order])) + 1)
        self.seed, self.epoch, self.size = seed, 0, len(order)

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        rng = np.random.default_rng(self.seed + self.epoch)
        self.epoch += 1
        for g in rng.permutation(len(self.groups)):
            yield from self.groups[g].tolist()


class CRFTrainer(ClassificationTrainer):
    """Extraction with ``task.crf``: the loss is the CRF layer's (``models/crf_head.py``) negative
    log-likelihood of each window's tag sequence, not the model's per-head cross-entropy."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        from ..models.crf_head import crf_loss

        inputs = dict(inputs)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = crf_loss(self.accelerator.unwrap_model(model).crf, outputs.logits, labels)  # DDP wraps the model
        return (loss, outputs) if return_outputs else loss


class MaskedLMTrainer(ClassificationTrainer):
    """Masked-LM pretraining with the vocabulary head applied only where a token is masked. The
    model's own forward projects every position onto the whole vocabulary, which for a 250k-row
    vocabulary (me5) costs several times the encoder; the loss is the same (cross-entropy averaged
    over the masked positions). Written here because transformers' masked-LM models take no
    ``logits_to_keep``; a hook on the head module (BERT's ``cls``, RoBERTa's ``lm_head``) keeps the
    forward going through the (possibly DDP-wrapped) model. Other heads keep the model's own loss."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        body = self.accelerator.unwrap_model(model)
        head = getattr(body, "cls", None) or getattr(body, "lm_head", None)
        if head is None or "labels" not in inputs:
            return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        masked = labels != -100
        handle = head.register_forward_pre_hook(lambda module, args: (args[0][masked], *args[1:]))
        try:
            outputs = model(**inputs)
        finally:
            handle.remove()
        logits = outputs.logits.float()
        # A batch with nothing masked has no loss; zero keeps the graph (and DDP) whole.
        loss = torch.nn.functional.cross_entropy(logits, labels[masked]) if len(logits) else logits.sum() * 0
        return (loss, outputs) if return_outputs else loss


class RankingTrainer(ClassificationTrainer):
    """The Trainer of a relevance cross-encoder: the model's pointwise loss plus, with
    ``pairwise_weight`` > 0, a RankNet loss (Burges et al., 2005) over the pairs of candidates of the
    same query in a batch: ``softplus(-(s_better - s_worse))``. Written here because the Trainer and
    sentence-transformers' cross-encoder losses take no per-query grouping with a regression head."""

    def __init__(self, *args, pairwise_weight: float = 0.0, target_values=None, **kwargs):
        self.pairwise_weight = pairwise_weight
        self.target_values = target_values  # classification head: each class's value, to score by expectation
        super().__init__(*args, **kwargs)

    def _get_train_sampler(self, train_dataset=None):
        dataset = train_dataset if train_dataset is not None else self.train_dataset
        if self.pairwise_weight > 0 and "query_id" in dataset.column_names:
            return QueryGroupedSampler(dataset["query_id"], self.args.seed)
        return super()._get_train_sampler(train_dataset)

    def _scores(self, logits, labels):
        if self.target_values is None:
            return logits.reshape(len(logits), -1)[:, 0].float(), labels.float()
        values = torch.as_tensor(self.target_values, dtype=torch.float32, device=logits.device)
        return torch.softmax(logits.float(), dim=-1) @ values, values[labels]

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        query = inputs.pop("query_id", None)
        outputs = model(**inputs)
        loss = outputs.loss
        labels = inputs.get("labels")
        if self.pairwise_weight > 0 and query is not None and labels is not None and model.training:
            scores, targets = self._scores(outputs.logits, labels)
            pairs = (query[:, None] == query[None, :]) & (targets[:, None] > targets[None, :])
            if pairs.any():
                margin = (scores[:, None] - scores[None, :])[pairs]
                loss = loss + self.pairwise_weight * torch.nn.functional.softplus(-margin).mean()
        return (loss, outputs) if return_outputs else loss


def steps_per_epoch(cfg: TrainingConfig, n_train: int) -> int:
    """Optimizer steps in one epoch of ``n_train`` rows, over every process."""
    return math.ceil(n_train / (per_process_batch(cfg.batch_size) * world_size() * cfg.gradient_accumulation_steps))


def training_arguments(
    cfg: TrainingConfig, checkpoint_dir: str, n_train: int, has_valid: bool, parameters: int | None = None, **extra
) -> TrainingArguments:
    """The Trainer's arguments, one to one from the training config (``arguments_class`` in
    ``extra``: a subclass of ``TrainingArguments``, such as sentence-transformers'; the other keys of
    ``extra`` are more arguments, or replace these); ``parameters``: the model's size, which the
    automatic precision on a GPU depends on."""
    gpu = on_gpu(cfg)
    extra = {**gpu_loader_options(gpu), **extra}
    metric = extra.pop("metric_for_best_model", None) or cfg.metric_for_best_model or "f1_macro"
    eval_strategy = cfg.eval_strategy if has_valid else "no"
    group_by_length = extra.pop("group_by_length", cfg.group_by_length)
    arguments_class = extra.pop("arguments_class", TrainingArguments)
    options = dict(
        output_dir=checkpoint_dir,
        per_device_train_batch_size=per_process_batch(cfg.batch_size),
        per_device_eval_batch_size=cfg.eval_batch_size,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        learning_rate=cfg.lr,
        lr_scheduler_type="linear",
        warmup_steps=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        seed=cfg.seed,
        eval_strategy=eval_strategy,
        eval_steps=cfg.eval_steps,
        save_strategy=eval_strategy if has_valid else "epoch",
        save_steps=cfg.eval_steps if eval_strategy == "steps" else None,
        save_total_limit=cfg.save_total_limit,
        load_best_model_at_end=has_valid,
        metric_for_best_model=metric if has_valid else None,
        greater_is_better=not metric.endswith(LOWER_IS_BETTER),
        logging_steps=min(cfg.logging_steps, max(1, steps_per_epoch(cfg, n_train))),
        report_to=report_to() or "none",
        disable_tqdm=not cfg.progress_bar,
        train_sampling_strategy="group_by_length" if group_by_length else "random",
        length_column_name="length",
        use_cpu=not gpu,
        ddp_find_unused_parameters=False if world_size() > 1 else None,
        log_level="passive",  # transformers' verbosity as the caller set it (quiet unless --verbose)
        # Both precision flags explicit: some argument classes (TRL's SFTConfig) default bf16 to on.
        **{"bf16": False, "fp16": False, **precision_flags(cfg.precision, gpu, parameters)},
    )
    return arguments_class(**{**options, **extra})  # a task's own arguments win


def build_trainer(
    model,
    tokenizer,
    train_dataset,
    valid_dataset,
    cfg: TrainingConfig,
    checkpoint_dir: str,
    compute_metrics,
    embedding_lr: float | None = None,
    tracking_dir=None,
    head_lr: float | None = None,
    class_loss=None,
    metric_for_best_model: str | None = None,
    sample_weights=None,
    trainer_class=None,
    data_collator=None,
    arguments: dict | None = None,
    **trainer_options,
) -> Trainer:
    """``metric_for_best_model``: the task's default when the config names none; ``arguments``:
    more ``TrainingArguments``; ``data_collator``: padding by default."""
    has_valid = valid_dataset is not None and len(valid_dataset) > 0
    extra = {"label_names": ["labels", "query_id"]} if "query_id" in train_dataset.column_names else {}
    args = training_arguments(cfg, checkpoint_dir, len(train_dataset), has_valid, metric_for_best_model=metric_for_best_model,
                              parameters=sum(p.numel() for p in model.parameters()), **extra, **(arguments or {}))
    return (trainer_class or ClassificationTrainer)(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=valid_dataset if has_valid else None,
        processing_class=tokenizer,
        data_collator=data_collator or DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics,
        callbacks=run_callbacks(cfg, tracking_dir, has_valid),
        embedding_lr=embedding_lr,
        head_lr=head_lr if head_lr is not None else (cfg.head_lr if isinstance(cfg.head_lr, float) else None),
        class_loss=class_loss,
        sample_weights=sample_weights,
        **trainer_options,
    )


class QuietProgress(ProgressCallback):
    """The training and evaluation bars without the dict of figures printed under them at each
    logging step (training_log.json, tensorboard and report.html keep every figure)."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        pass


def quiet_logs(trainer) -> None:
    """Any task's Trainer prints its bars, not its log dicts (``--verbose``: as transformers does)."""
    if verbose():
        return
    if any(type(c) is ProgressCallback for c in trainer.callback_handler.callbacks):
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(QuietProgress)
    trainer.remove_callback(PrinterCallback)


def run_callbacks(cfg: TrainingConfig, tracking_dir, has_valid: bool) -> list:
    """The callbacks of every run's Trainer: tracking, the time budget, early stopping."""
    callbacks = tracking_callbacks(tracking_dir) if tracking_dir is not None else []
    if cfg.max_seconds:
        callbacks.append(TimeBudget(cfg.max_seconds))
    if has_valid and cfg.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    logging.getLogger("transformers.trainer").setLevel(logging.WARNING)
    return callbacks


def predict_logits(trainer, dataset) -> np.ndarray:
    """The trainer's logits for ``dataset``, in its order; batches sorted by length pad little.
    The trainer's metrics are not computed (they may be bound to the validation split)."""
    order = np.argsort(np.asarray(dataset.with_format("numpy")["length"]), kind="stable")
    compute_metrics, trainer.compute_metrics = trainer.compute_metrics, None
    try:
        logits = trainer.predict(dataset.select(order)).predictions
    finally:
        trainer.compute_metrics = compute_metrics
    logits = np.asarray(logits[0] if isinstance(logits, tuple) else logits, dtype=np.float64)
    out = np.empty_like(logits)
    out[order] = logits
    return out
