"""``ecomsft export --format hf``: the run's model as a plain Hugging Face folder that
``transformers.pipeline(...)`` loads with no ecomsft installed: the weights (safetensors), config,
tokenizer and model card, without what only ecomsft reads (the tfidf-lr of the blend, ONNX graphs,
the training arguments). For tasks whose model transformers has a pipeline for (the after-training
package's ``PIPELINE_TAG``): classification, extraction, generation, pretraining (fill-mask)."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import EcomsftError
from ..files import regular_file
from ..run_folder import task_of, trained_model
from .registry import pipeline_tag, use_of

PIPELINES = ("text-classification", "token-classification", "text-generation", "fill-mask")
# What a transformers folder holds; anything else in model/ is ecomsft's own (lexical.*, onnx/, ...).
KEPT_SUFFIXES = (".json", ".safetensors", ".model", ".txt", ".md", ".jinja")
LEFT_OUT = {"lexical.json", "lexical.safetensors", "training_args.json", "aspect_heads.safetensors"}


def export_hf(run: str | Path, output: str | Path) -> Path:
    """Copy the run's model folder into ``output`` (a new folder) as transformers reads it."""
    task = task_of(run)
    if pipeline_tag(task) not in PIPELINES:
        raise EcomsftError(f"{task} runs have no transformers pipeline to export to; use: {use_of(task)}", where=str(run))
    source, target = trained_model(run), Path(output)
    if target.exists() or target.is_symlink():
        raise EcomsftError("already exists; give a new folder (an export never replaces anything)", where=str(target))
    if not target.parent.is_dir():
        raise EcomsftError("the folder to write into does not exist", where=str(target.parent))
    files = [f for f in sorted(source.iterdir()) if f.name not in LEFT_OUT and f.suffix in KEPT_SUFFIXES
             and not f.is_symlink() and f.is_file()]
    if not any(f.name == "config.json" for f in files):
        raise EcomsftError("the run's model folder has no config.json", where=str(source))
    partial = target.with_name(f".{target.name}.partial")
    if partial.exists():
        raise EcomsftError("an interrupted export's folder is in the way; delete it", where=str(partial))
    partial.mkdir()
    try:
        for file in files:
            regular_file(file)
            shutil.copyfile(file, partial / file.name)
        partial.rename(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # ecomsft's own half-written folder
        raise
    return target
