"""One fine-tuning run, top to bottom: data, labels, model, training, evaluation, run folder.

The run is built in ``<output>.partial/`` and renamed to ``<output>`` only when everything is
written, so a folder named like a run is always a finished one. An interrupted run keeps its
``.partial`` folder with checkpoints, which ``resume=True`` continues.
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import run_folder, speed
from .config import RunConfig
from .data.labels import LabelSet
from .distributed import is_main_process
from .errors import EcomsftError
from .losses import ClassLoss
from .metrics import apply_temperature, expected_calibration_error, fit_temperature, full_report, tune_threshold
from .models.resolve import loading, resolve_model
from .models.vocab import adapt_vocabulary, describe_extension
from .tasks import classification

log = logging.getLogger("ecomsft")

RUN_MARKER = "metrics.json"


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict

    @property
    def test(self) -> dict:
        return self.metrics.get("test", {})


def is_finished_run(folder: Path) -> bool:
    return (folder / RUN_MARKER).is_file() and (folder / "model").is_dir()


@contextmanager
def removed_on_failure(partial: Path, created: bool):
    """A run's set-up: if it fails, the ``.partial`` folder it created is removed (nothing half-written stays)."""
    try:
        yield
    except BaseException:
        if created and partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
        raise


def prepare_output(folder: str, overwrite: bool, resume: bool) -> tuple[Path, Path]:
    """(final folder, ``.partial`` work folder); refuses to replace anything without ``overwrite``."""
    output = Path(folder)
    partial = output.with_name(output.name + ".partial")
    if not is_main_process():  # rank 0 checks, clears and writes; the others only compute
        return output, partial
    run_folder.check_replaceable(output, overwrite)
    if resume:
        if not (partial / "checkpoints").is_dir():
            raise EcomsftError("nothing to resume: no interrupted run here", where=str(partial))
    else:
        run_folder.clear_partial(partial)
    return output, partial


def _model_limit(tokenizer, model_config) -> int:
    limit = getattr(tokenizer, "model_max_length", None) or 10**9
    if limit > 100_000:
        limit = getattr(model_config, "max_position_embeddings", 512)
    return int(limit)


def versions() -> dict[str, str]:
    import datasets
    import sklearn
    import torch
    import transformers

    from . import __version__

    return {
        "ecomsft": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "datasets": datasets.__version__,
        "scikit-learn": sklearn.__version__,
    }


def train_keeping_checkpoints(trainer, partial: Path, resume: bool) -> None:
    """``trainer.train``; an interruption keeps the checkpoints and says how to continue."""
    try:
        trainer.train(resume_from_checkpoint=True if resume else None)
    except KeyboardInterrupt:
        raise EcomsftError(f"interrupted; checkpoints are kept in {partial}, continue with --resume") from None


def _embedding_shift(before, after, added: int) -> dict[str, float]:
    """How far embedding rows moved in training (mean L2 distance): new rows must learn, not sit."""
    moved = (after.detach().cpu() - before.cpu()).norm(dim=1)
    shift = {"pretrained_rows_shift": float(moved[: len(moved) - added].mean())}
    if added:
        shift["new_rows_shift"] = float(moved[len(moved) - added:].mean())
    return shift


def adapt_model(cfg: RunConfig, tokenizer, model, train_texts: list[str]):
    """Check the length limit, extend the vocabulary where the texts need it, apply the speed
    options; returns (model, vocabulary report, embedding learning rate or None)."""
    limit = _model_limit(tokenizer, model.config)
    if cfg.model.max_length > limit:
        raise EcomsftError(f"max_length {cfg.model.max_length} is above the model's limit of {limit} tokens", where=cfg.model.name)
    vocab = adapt_vocabulary(tokenizer, model, train_texts, cfg.model)
    if vocab["added_tokens"]:
        log.info("vocabulary: %s", describe_extension(vocab))
    embedding_lr = cfg.training.embedding_lr
    # Tokens added now, or by `ecomsft pretrain` of this model (its config says how many).
    if embedding_lr is None and (vocab["added_tokens"] or getattr(model.config, "ecomsft_added_tokens", 0)):
        embedding_lr = 20 * cfg.training.lr
    return speed.prepare(model, cfg.training, vocab["added_tokens"]), vocab, embedding_lr


def finish_run(partial: Path, output: Path, cfg: RunConfig, metrics: dict, predictions,
               save_model, trainer=None) -> RunResult:
    """Write the run folder's files, metrics.json last, and give the folder its name (in the main
    process only, when there are several)."""
    if not is_main_process():
        return RunResult(output, metrics)
    save_model(partial / "model")
    (partial / "config.yaml").write_text(cfg.to_yaml(), encoding="utf-8")
    if trainer is not None:
        (partial / "training_log.json").write_text(json.dumps(trainer.state.log_history, indent=1), encoding="utf-8")
    if callable(predictions):  # written in chunks by its owner (data larger than memory)
        predictions(partial / "predictions.csv")
    elif predictions is not None:
        predictions.to_csv(partial / "predictions.csv", index=False)
    shutil.rmtree(partial / "checkpoints", ignore_errors=True)
    # metrics.json is the marker of a finished run: written last, then the folder takes its name.
    (partial / RUN_MARKER).write_text(json.dumps(metrics, indent=2, ensure_ascii=False), encoding="utf-8")
    try:
        from .report import write_report

        write_report(partial, name=output.name)
    except Exception as err:  # the model and metrics are what matter; the report can be re-made
        log.warning("report.html could not be written (%s: %s); retry with: ecomsft report %s", type(err).__name__, err, output)
    run_folder.finish(partial, output, metrics.get("task", "run"))
    return RunResult(output, metrics)


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


def precision_name(trainer) -> str:
    return "bf16" if trainer.args.bf16 else "fp16" if trainer.args.fp16 else "fp32"


def load_splits(cfg: RunConfig):
    """The classification data: frames in memory, or memory-mapped Arrow files for data larger than
    memory (``data.memory_mapped``); both offer the same methods."""
    from .data.arrow_splits import read_arrow_splits, wants_memory_mapped
    from .data.frame_splits import FrameSplits

    if wants_memory_mapped(cfg):
        return read_arrow_splits(cfg, progress=cfg.training.progress_bar and is_main_process())
    return FrameSplits(cfg)


def _sample_weights(cfg: RunConfig, train_labels, labels: LabelSet):
    if not cfg.training.balanced_sampling:
        return None
    if labels.multi_label:
        raise EcomsftError("training.balanced_sampling is for single-label classification")
    from .losses import balanced_sample_weights

    return balanced_sample_weights(train_labels)


def train(config: RunConfig, *, resume: bool = False) -> RunResult:
    """Fine-tune and evaluate as ``config`` says; returns the finished run folder and its metrics."""
    if config.task.type == "relevance":
        from .relevance_run import train_relevance

        return train_relevance(config, resume=resume)
    if config.task.type == "retrieval":
        from .retrieval_run import train_retrieval

        return train_retrieval(config, resume=resume)
    return train_classifier(config, resume=resume)


def train_classifier(config: RunConfig, *, resume: bool = False) -> RunResult:
    """Fine-tune and evaluate a classifier (single- or multi-label)."""
    import torch
    from transformers import AutoTokenizer, set_seed

    from .training import build_trainer

    cfg = config
    started = time.perf_counter()
    output, partial = prepare_output(cfg.output, cfg.overwrite, resume)
    created = not resume and is_main_process()
    with removed_on_failure(partial, created):
        data = load_splits(cfg)
        labels, data_info = data.labels, data.info
        log.info("data: %s", ", ".join(f"{k} {v}" for k, v in data_info["sizes"].items()))
        dup, leak = data_info["duplicates"], data_info["overlap_with_train"]
        if dup.get("exact_duplicates") or dup.get("conflicting_texts") or any(leak.values()):
            log.warning(
                "data: %d exact duplicate rows, %d texts with conflicting labels%s; texts also in train: valid %d, test %d",
                dup.get("exact_duplicates", 0), dup.get("conflicting_texts", 0),
                " (dropped before splitting)" if cfg.data.deduplicate else "", leak["valid"], leak["test"],
            )

        model_path = resolve_model(cfg.model.name)
        speed.set_threads(cfg.training.threads)
        set_seed(cfg.training.seed)
        with loading(cfg.model.name):
            tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=False)
            model = classification.build_model(model_path, labels)
        model, vocab, embedding_lr = adapt_model(cfg, tokenizer, model, data.vocab_texts())
        trainable_parameters, _ = speed.parameter_counts(model)
        datasets = data.encode(tokenizer)
        train_ids = data.gold("train")
        partial.mkdir(parents=True, exist_ok=True)
        threshold = cfg.task.threshold if cfg.task.threshold is not None else 0.5
        trainer = build_trainer(
            model, tokenizer, datasets["train"], datasets["valid"], cfg.training, str(partial / "checkpoints"),
            classification.metrics_function(labels, threshold), embedding_lr, tracking_dir=partial,
            class_loss=ClassLoss.from_config(cfg.training, train_ids, len(labels), labels.multi_label),
            sample_weights=_sample_weights(cfg, train_ids, labels),
        )

    embedding_before = model.get_input_embeddings().weight.detach().clone()
    train_started = time.perf_counter()
    train_keeping_checkpoints(trainer, partial, resume)
    train_seconds = time.perf_counter() - train_started
    trainer.model = model = speed.finish(trainer.model)
    vocab.update(_embedding_shift(embedding_before, trainer.model.get_input_embeddings().weight, vocab["added_tokens"]))

    def predict(name: str) -> np.ndarray:
        return classification.probabilities(predict_logits(trainer, datasets[name]), labels.multi_label)

    eval_started = time.perf_counter()
    results: dict = {}
    sizes = data.sizes()
    gold = {name: data.gold(name) for name in ("valid", "test") if sizes[name]}
    probs = {name: predict(name) for name in gold}
    if labels.multi_label and cfg.task.threshold is None and "valid" in probs:
        threshold = tune_threshold(gold["valid"], probs["valid"])
    for name in gold:
        results[name] = full_report(gold[name], probs[name], labels.names, labels.multi_label, threshold)
    calibration = None
    if not labels.multi_label and "valid" in probs and "test" in probs:
        temperature = fit_temperature(gold["valid"], probs["valid"])
        calibration = {
            "temperature": temperature,
            "test_ece": expected_calibration_error(gold["test"], probs["test"]),
            "test_ece_calibrated": expected_calibration_error(gold["test"], apply_temperature(probs["test"], temperature)),
        }
    eval_seconds = time.perf_counter() - eval_started
    n_test = sizes["test"]
    timings = {
        "train_seconds": train_seconds,
        "eval_seconds": eval_seconds,
        "train_samples_per_second": trainer.state.global_step * cfg.training.batch_size
        * cfg.training.gradient_accumulation_steps / max(train_seconds, 1e-9),
    }

    baseline = None
    if cfg.baseline and n_test and is_main_process():
        from .baseline import run_tfidf_lr

        train_texts, train_y, test_texts, test_y, sampled = data.baseline_inputs()
        baseline, _ = run_tfidf_lr(train_texts, train_y, test_texts, test_y, len(labels), labels.multi_label, threshold,
                                   cfg.training.seed)
        if sampled:
            baseline["sampled_rows"] = sampled

    def save_model(model_dir: Path) -> None:
        trainer.model.config.ecomsft_threshold = threshold
        trainer.model.config.ecomsft_max_length = cfg.model.max_length
        trainer.model.config.ecomsft_temperature = calibration["temperature"] if calibration else None
        trainer.save_model(str(model_dir))
        tokenizer.save_pretrained(str(model_dir))

    metrics = {
        "task": "multi_label_classification" if labels.multi_label else "classification",
        "labels": labels.names,
        "threshold": threshold if labels.multi_label else None,
        "model": {"name": cfg.model.name, "path": model_path, "max_length": cfg.model.max_length, **vocab,
                  "parameters": speed.parameter_counts(model)[1], "trainable_parameters": trainable_parameters},
        "data": data_info,
        "validation": results.get("valid"),
        "test": results.get("test"),
        "baseline_tfidf_lr": baseline,
        "calibration": calibration,
        "timings": {**timings, "total_seconds": time.perf_counter() - started},
        "training": {"steps": trainer.state.global_step, "epochs": trainer.state.epoch,
                     "best_checkpoint_metric": trainer.state.best_metric, "embedding_lr": embedding_lr,
                     "loss": trainer.class_loss.describe() if trainer.class_loss else "model default",
                     "balanced_sampling": cfg.training.balanced_sampling,
                     "precision": precision_name(trainer)},
        "versions": versions(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
    }

    def predictions(path: Path) -> None:
        data.write_predictions(path, probs["test"], threshold)

    return finish_run(partial, output, cfg, metrics, predictions if n_test else None, save_model, trainer)
