"""Exporting a run's model to ONNX (``torch.onnx``), optionally with dynamic int8 quantization
(``onnxruntime.quantization``), for the ONNX Runtime backend of ``predict`` and ``serve``."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from ..errors import EcomsftError
from .predictor import model_folder

ONNX_DIR = "onnx"
FP32 = "model.onnx"
INT8 = "model-int8.onnx"


def onnx_path(run: str | Path, int8: bool = False) -> Path:
    return model_folder(run) / ONNX_DIR / (INT8 if int8 else FP32)


def export_onnx(run: str | Path, int8: bool = False, opset: int = 17) -> Path:
    """Write ``model/onnx/model.onnx`` (and ``model-int8.onnx`` with ``int8``); returns the file to use."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        import onnxruntime  # noqa: F401
    except ModuleNotFoundError:
        raise EcomsftError("ONNX export needs onnx and onnxruntime: pip install 'ecomsft[onnx]'") from None
    folder = model_folder(run)
    target = folder / ONNX_DIR
    target.mkdir(exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    # Traced with eager attention rather than SDPA: on MiniLM its int8 graph ran at 1.14x the
    # samples/s of the SDPA trace's, the fp32 graphs at the same speed (README "Performance").
    model = AutoModelForSequenceClassification.from_pretrained(folder, use_safetensors=True, attn_implementation="eager").eval()
    model.config.return_dict = False
    sample = tokenizer(["a short review", "another, somewhat longer review text"], padding=True, return_tensors="pt")
    names = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in sample]
    fp32 = target / FP32
    tmp = target / (FP32 + ".tmp")
    # The tracer warns about shape checks it freezes; the test suite checks the graph against
    # PyTorch on other batch sizes and lengths, so the warnings are noise for a user.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, tuple(sample[name] for name in names), str(tmp), input_names=names, output_names=["logits"],
            dynamic_axes={**{name: {0: "batch", 1: "sequence"} for name in names}, "logits": {0: "batch"}},
            opset_version=opset, dynamo=False,
        )
    tmp.replace(fp32)
    if not int8:
        return fp32
    from onnxruntime.quantization import QuantType, quantize_dynamic

    q_tmp = target / (INT8 + ".tmp")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic advises pre-processing on the root logger
    try:
        quantize_dynamic(str(fp32), str(q_tmp), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    q_tmp.replace(target / INT8)
    return target / INT8
