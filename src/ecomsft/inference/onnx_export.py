"""Exporting a run's model to ONNX (``torch.onnx``), optionally with dynamic int8 quantization
(``onnxruntime.quantization``), for the ONNX Runtime backend of ``predict``, ``extract`` and ``serve``:
a classifier exports its sequence logits, an extraction run its per-token logits."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from ..errors import EcomsftError
from ..files import temporary_beside
from ..run_folder import record, task_of, trained_model
from .registry import inference_for, use_of

ONNX_DIR = "onnx"
FP32 = "model.onnx"
INT8 = "model-int8.onnx"


BACKENDS = ("auto", "torch", "onnx", "onnx-int8")


def model_folder(run: str | Path) -> Path:
    """A run's model folder (``config.json`` inside), or one line saying why there is none."""
    folder = trained_model(run)
    if not (folder / "config.json").is_file():
        raise EcomsftError("not a classifier's run folder (no model/config.json)", where=str(run))
    return folder


def onnx_path(run: str | Path, int8: bool = False) -> Path:
    return model_folder(run) / ONNX_DIR / (INT8 if int8 else FP32)


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise EcomsftError(f"unknown backend '{backend}' (choose from {', '.join(BACKENDS)})")


def resolve_backend(model_dir: Path, backend: str) -> str:
    """``auto``: the run's ONNX export (``ecomsft export``) where it has one made after its weights
    were written, else torch; any other backend as asked."""
    check_backend(backend)
    if backend != "auto":
        return backend
    exported, weights = model_dir / ONNX_DIR / FP32, model_dir / "model.safetensors"
    fresh = exported.is_file() and (not weights.is_file() or exported.stat().st_mtime >= weights.stat().st_mtime)
    return "onnx" if fresh else "torch"


def model_config(model_dir: Path):
    """``config.json`` as attributes, read without transformers (what the ONNX path needs of it)."""
    import json
    from types import SimpleNamespace

    from ..models.resolve import REMOTE_CODE_REFUSED

    try:
        values = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise EcomsftError(f"cannot load the model (a damaged file?): config.json: {err}", where=str(model_dir)) from None
    if not isinstance(values, dict):
        raise EcomsftError("cannot load the model (a damaged file?): config.json is not an object", where=str(model_dir))
    if "auto_map" in values:  # refused as transformers' loads refuse it, though nothing here would run it
        raise EcomsftError(REMOTE_CODE_REFUSED, where=str(model_dir))
    values.setdefault("problem_type", None)
    return SimpleNamespace(**values)


def onnx_forward(model_dir: str | Path, int8: bool):
    """``forward(batch) -> logits`` on ONNX Runtime's CPU provider for an exported run; ``batch``
    maps input names (``input_ids``, ``attention_mask``, ...) to integer arrays."""
    import onnxruntime as ort

    path = onnx_path(model_dir, int8)
    if not path.is_file():
        flag = " --int8" if int8 else ""
        raise EcomsftError(f"no ONNX export here; run: ecomsft export RUN{flag}", where=str(path))
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def forward(batch) -> np.ndarray:
        return session.run(["logits"], {name: np.asarray(batch[name], dtype=np.int64) for name in names})[0]

    return forward


def _first_output(model, names: list[str]):
    """The model called with its inputs by name, giving its first output alone (a classifier's or a
    tagger's logits, an encoder's hidden states; not the pooler's output beside them)."""
    import torch

    class FirstOutput(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            return self.model(**dict(zip(names, tensors)))[0]

    return FirstOutput()


def export_onnx(run: str | Path, int8: bool = False, opset: int = 17) -> Path:
    """Write ``model/onnx/model.onnx`` (and ``model-int8.onnx`` with ``int8``); returns the file to use."""
    import torch
    import transformers

    try:
        import onnxruntime  # noqa: F401
    except ModuleNotFoundError:
        raise EcomsftError("ONNX export needs onnx and onnxruntime: pip install 'ecomsft[onnx]'") from None
    folder = model_folder(run)
    reader = inference_for(run)
    if reader.onnx_graph is None:  # the reader's (model class, the inputs its graph takes, the logits' dynamic axes)
        task = task_of(run)
        raise EcomsftError(f"{task} runs do not export to ONNX; use: {use_of(task)}", where=str(run))
    model_class, inputs, logits_axes = reader.onnx_graph
    target = folder / ONNX_DIR
    try:
        target.mkdir(exist_ok=True)
    except OSError as err:
        raise EcomsftError(f"cannot write the export here ({err.strerror or type(err).__name__})", where=str(target)) from None
    from ..models.resolve import loading

    # Traced with eager attention rather than SDPA: on MiniLM its int8 graph ran at 1.14x the
    # samples/s of the SDPA trace's, the fp32 graphs at the same speed (README "Performance").
    with loading(str(folder)):
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
        model = getattr(transformers, model_class).from_pretrained(
            folder, use_safetensors=True, attn_implementation="eager", trust_remote_code=False).eval()
    model.config.return_dict = False
    sample = tokenizer(["a short review", "another, somewhat longer review text"], padding=True, return_tensors="pt")
    names = [name for name in inputs if name in sample]
    fp32 = target / FP32
    # The tracer warns about shape checks it freezes; the test suite checks the graph against
    # PyTorch on other batch sizes and lengths, so the warnings are noise for a user.
    with torch.no_grad(), warnings.catch_warnings(), temporary_beside(fp32) as (_, tmp):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _first_output(model, names), tuple(sample[name] for name in names), str(tmp), input_names=names,
            output_names=["logits"],
            dynamic_axes={**{name: {0: "batch", 1: "sequence"} for name in names},
                          "logits": logits_axes},
            opset_version=opset, dynamo=False,
        )
    record(fp32)  # the run folder's list of ecomsft's files: replacing the run may delete it
    if not int8:
        return fp32
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic advises pre-processing on the root logger
    try:
        with temporary_beside(target / INT8) as (_, q_tmp):
            quantize_dynamic(str(fp32), str(q_tmp), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    record(target / INT8)
    return target / INT8
