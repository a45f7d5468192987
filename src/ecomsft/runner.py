"""One run of any task, top to bottom: set-up, train, evaluate, write the run folder.

The task (``tasks/<name>``, looked up in the registry by ``task.type``) says how its data is read,
its model built, trained, evaluated and saved; everything around that is here, once for all tasks.
The folder is built in ``<output>.partial/`` and renamed only when everything is written
(``run_folder.RunFolder``); an interrupted run keeps its checkpoints, which ``resume=True`` continues.
"""

from __future__ import annotations

import logging
import platform
import signal
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .config import RunConfig
from .distributed import is_main_process
from .errors import EcomsftError, Interrupted
from .metrics_file import ModelInfo, RunMetrics, Timings, TrainingInfo
from .models.resolve import AUTO, choose_bundled, loading, quiet_transformers, resolve_model
from .models.vocab import adapt_vocabulary, describe_extension
from .run_folder import RunFolder
from .tasks import get_task

log = logging.getLogger("ecomsft")


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict

    @property
    def test(self) -> dict:
        return self.metrics.get("test") or {}


def run(cfg: RunConfig, *, resume: bool = False) -> RunResult:
    """Train and evaluate as ``cfg`` says; returns the finished run folder and its metrics."""
    folder = RunFolder(cfg.output)
    try:
        with _terminate_as_interrupt(), quiet_transformers():  # ecomsft's own lines and bars only, unless --verbose
            return _run(cfg, resume, folder)
    except BaseException:
        folder.keep()  # a failure after the set-up: what training wrote is listed, for --overwrite to delete
        folder.release()  # the next command (or the next run of this process) may take the folder
        raise


@contextmanager
def _terminate_as_interrupt():
    """SIGTERM (``kill``, a job scheduler, a container stopping) ends a run as Ctrl-C does: the
    checkpoints kept for ``--resume`` and every file training wrote listed, so that ``--overwrite``
    may replace the folder. Only the main thread can take signals; elsewhere nothing changes."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        before = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def _run(cfg: RunConfig, resume: bool, folder: RunFolder) -> RunResult:
    from transformers import set_seed

    from .training import trainable
    from .training.trainer import ListedAtCheckpoints, StepCounter, on_gpu, quiet_logs

    started = time.perf_counter()
    task = get_task(cfg.task.type)(cfg)
    folder.prepare(cfg.overwrite, resume)
    if is_main_process():
        if resume:
            check_resumable(folder.partial / "config.yaml", cfg)
        else:  # what --resume compares against after an interruption
            folder.write("config.yaml", cfg.to_yaml())

    # 1. Set-up: data, model, vocabulary, Trainer. A failure here leaves nothing behind.
    with folder.removed_on_failure():
        data_info = task.load_data()
        log.info("data: %s", ", ".join(f"{k} {v}" for k, v in data_info.get("sizes", {}).items()))
        model_name, chosen = cfg.model.name, None
        if model_name == AUTO:
            model_name, chosen = task.auto_model or choose_bundled(task.vocabulary_texts())
            log.info("model: %s, chosen for %s", model_name, chosen)
        model_path = task.base_model = resolve_model(model_name)
        trainable.set_threads(cfg.training.threads)
        with loading(model_name), tempfile.TemporaryDirectory(prefix="ecomsft-trim-") as scratch:
            set_seed(cfg.training.seed)
            source, trim = trimmed_source(cfg, task, model_path, Path(scratch))
            set_seed(cfg.training.seed)
            model = task.build_model(source)
        vocab, embedding_lr = adapt_model(cfg, task, model)
        model = task.prepare_model(model, vocab["added_tokens"])
        trainable_count, _ = trainable.parameter_counts(model)
        folder.partial.mkdir(parents=True, exist_ok=True)
        trainer = task.build_trainer(model, folder.partial, embedding_lr)
        quiet_logs(trainer)

    # 2. Training: an interruption keeps the checkpoints.
    embeddings = task.language_models(model)[0][1].get_input_embeddings().weight.detach().clone()
    steps = StepCounter()
    trainer.add_callback(steps)
    trainer.add_callback(ListedAtCheckpoints(folder))
    train_started = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=True if resume else None)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; checkpoints are kept in {folder.partial}, continue with --resume") from None
    except RuntimeError as err:
        if resume and "state_dict" in str(err):  # same config, but the data now has other labels
            raise EcomsftError("--resume: the interrupted run's checkpoints do not fit this model (did the data's "
                               "labels change?); train anew without --resume", where=str(folder.partial)) from None
        raise
    train_seconds = time.perf_counter() - train_started
    model = task.finish_model(trainer)
    vocab.update(embedding_shift(embeddings, task.language_models(model)[0][1].get_input_embeddings().weight,
                                 vocab["added_tokens"]))

    # 3. Evaluation, and the classical baselines on the same split.
    eval_started = time.perf_counter()
    evaluation = task.evaluate(trainer)
    eval_seconds = time.perf_counter() - eval_started
    baselines = task.baselines(evaluation) if cfg.baseline and is_main_process() else {}

    trained = trainer.state.global_step - steps.first_step
    metrics = RunMetrics(
        task=task.name,
        model=ModelInfo(name=model_name, path=model_path, max_length=cfg.model.max_length, chosen=chosen, **vocab, **trim,
                        parameters=trainable.parameter_counts(model)[1], trainable_parameters=trainable_count,
                        **task.model_info(model)),
        data=data_info,
        validation=evaluation.validation,
        test=evaluation.test,
        **evaluation.fields,
        **baselines,
        timings=Timings(train_seconds=train_seconds, eval_seconds=eval_seconds,
                        total_seconds=time.perf_counter() - started, trained_steps=trained,
                        train_samples_per_second=trained * cfg.training.batch_size
                        * cfg.training.gradient_accumulation_steps / max(train_seconds, 1e-9)),
        training=TrainingInfo(steps=trainer.state.global_step, epochs=trainer.state.epoch,
                              best_checkpoint_metric=trainer.state.best_metric, embedding_lr=embedding_lr,
                              precision=precision_name(trainer), **task.training_info(trainer)),
        versions=versions(),
        device="cuda" if on_gpu(cfg.training) else "cpu",
    )
    # 4. The run folder (the first process only): model, config, log, predictions, metrics, report.
    if is_main_process():
        write_run_folder(folder, cfg, task, trainer, evaluation, metrics)
    return RunResult(folder.output, metrics.as_dict())


# Keys that may change between an interrupted run and its --resume: how long and how it reports,
# never what is trained on, what is trained, or how.
RESUMABLE_CHANGES = {"output", "overwrite", "baseline", "training.epochs", "training.max_steps", "training.max_seconds",
                     "training.progress_bar", "training.logging_steps", "training.eval_batch_size",
                     "training.save_total_limit", "training.threads", "training.early_stopping_patience"}


def check_resumable(stored: Path, cfg: RunConfig) -> None:
    """Refuse ``--resume`` with another model, data, labels or recipe than the interrupted run's
    (its checkpoints would not fit), naming the keys that differ."""
    import yaml

    from .config import flatten_config

    if not stored.is_file():
        return  # interrupted before this check existed: the checkpoints are all there is to go by
    before = flatten_config(yaml.safe_load(stored.read_text(encoding="utf-8")) or {})
    now = flatten_config(yaml.safe_load(cfg.to_yaml()) or {})
    changed = sorted(key for key in set(before) | set(now)
                     if key not in RESUMABLE_CHANGES and before.get(key) != now.get(key))
    if changed:
        shown = ", ".join(f"{key} ({before.get(key)!r} -> {now.get(key)!r})" for key in changed[:4])
        raise EcomsftError(f"--resume continues the interrupted run as it was configured; these keys differ: {shown}"
                           f"{' and more' if len(changed) > 4 else ''}; undo them, or train anew without --resume",
                           where=str(stored.parent))


def trimmed_source(cfg: RunConfig, task, model_path: str, scratch: Path) -> tuple[str, dict]:
    """Where the task builds its model from: ``model_path``, or its copy with the vocabulary trimmed
    to the training texts (``model.trim_vocab``) in ``scratch``; and metrics.json's ``model.vocab_rows*``.
    Tasks that list ``model.trim_vocab`` as unused (a decoder, masked-LM pretraining, a bi-encoder's
    sentence-transformers folder) always build from ``model_path``."""
    from transformers import AutoConfig

    from .models.trim import wants_trim, write_trimmed

    if cfg.model.trim_vocab is False or "model.trim_vocab" in task.unused:
        return model_path, {}
    rows = getattr(AutoConfig.from_pretrained(model_path, trust_remote_code=False), "vocab_size", 0) or 0
    if not wants_trim(cfg.model.trim_vocab, rows):
        return model_path, {}
    return str(scratch), write_trimmed(model_path, task.vocabulary_texts(), scratch)


def adapt_model(cfg: RunConfig, task, model) -> tuple[dict, float | None]:
    """Check the length limit and extend the vocabulary where the texts need it (each of the
    task's language models); returns (the vocabulary report, the embedding learning rate or None)."""
    vocab: dict = {"added_tokens": 0}
    texts = task.vocabulary_texts()
    for tokenizer, language_model in task.language_models(model):
        limit = model_limit(tokenizer, language_model.config)
        if cfg.model.max_length > limit:
            raise EcomsftError(f"max_length {cfg.model.max_length} is above the model's limit of {limit} tokens",
                               where=cfg.model.name)
        vocab = adapt_vocabulary(tokenizer, language_model, texts, cfg.model)
    if vocab["added_tokens"]:
        log.info("vocabulary: %s", describe_extension(vocab))
    embedding_lr = cfg.training.embedding_lr
    # Tokens added now, or by `ecomsft pretrain` of this model (its config says how many).
    young = vocab["added_tokens"] or any(getattr(m.config, "ecomsft_added_tokens", 0) for _, m in task.language_models(model))
    if embedding_lr is None and young:
        embedding_lr = 20 * cfg.training.lr
    return vocab, embedding_lr


def write_run_folder(folder: RunFolder, cfg: RunConfig, task, trainer, evaluation, metrics: RunMetrics) -> None:
    """The run folder's files, metrics.json last of the essentials, then the folder takes its name."""
    import json

    task.save(trainer, folder.partial / "model")
    folder.write("config.yaml", cfg.to_yaml())
    folder.write("training_log.json", json.dumps(trainer.state.log_history, indent=1))
    if callable(evaluation.predictions):  # written in chunks by its owner (data larger than memory)
        evaluation.predictions(folder.partial / "predictions.csv")
    elif evaluation.predictions is not None:
        evaluation.predictions.to_csv(folder.partial / "predictions.csv", index=False)
    metrics.write(folder.partial)
    if (folder.partial / "model").is_dir():
        from .report.model_card import languages_of, write_model_card

        write_model_card(folder.partial / "model", metrics, folder.output.name, languages_of(task.vocabulary_texts()))
    try:
        from .report import write_report

        write_report(folder.partial, name=folder.output.name)
    except Exception as err:  # the model and metrics are what matter; the report can be re-made
        log.warning("report.html could not be written (%s: %s); retry with: ecomsft report %s",
                    type(err).__name__, err, folder.output)
    folder.finish(metrics.task)


def embedding_shift(before, after, added: int) -> dict[str, float]:
    """How far embedding rows moved in training (mean L2 distance): new rows must learn, not sit."""
    moved = (after.detach().cpu() - before.cpu()).norm(dim=1)
    shift = {"pretrained_rows_shift": float(moved[: len(moved) - added].mean())}
    if added:
        shift["new_rows_shift"] = float(moved[len(moved) - added:].mean())
    return shift


def model_limit(tokenizer, model_config) -> int:
    limit = getattr(tokenizer, "model_max_length", None) or 10**9
    if limit > 100_000:
        limit = getattr(model_config, "max_position_embeddings", 512)
    return int(limit)


def precision_name(trainer) -> str:
    return "bf16" if trainer.args.bf16 else "fp16" if trainer.args.fp16 else "tf32" if trainer.args.tf32 else "fp32"


def versions() -> dict[str, str]:
    import datasets
    import sklearn
    import torch
    import transformers

    from . import __version__

    return {"ecomsft": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "datasets": datasets.__version__,
            "scikit-learn": sklearn.__version__}
