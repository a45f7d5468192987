"""Training speed options that change which parameters learn: frozen embeddings, frozen lower
layers, LoRA adapters (through peft), and the CPU thread count.

Each one cuts work from the backward pass (no weight gradients, no optimizer state for what is
frozen); the README's Performance section has what each buys on MiniLM and what it costs in accuracy.
"""

from __future__ import annotations

import logging

import torch

from ..config import TrainingConfig
from ..errors import EcomsftError
from ..models.trim import AUTO_MIN_ROWS

log = logging.getLogger("ecomsft")


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)


def encoder_layers(model) -> torch.nn.ModuleList:
    """The stack of transformer layers of a BERT-, RoBERTa-, DistilBERT- or XLM-R-like encoder."""
    n_layers = getattr(model.config, "num_hidden_layers", None) or getattr(model.config, "n_layers", None)
    for module in model.base_model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == n_layers:
            return module
    raise EcomsftError(f"cannot find the {n_layers} transformer layers of {type(model).__name__} to freeze")


def freeze(model, embeddings: bool, layers: int) -> None:
    """Stop gradients to the embedding layer and/or the lowest ``layers`` transformer layers."""
    if layers:
        stack = encoder_layers(model)
        if layers >= len(stack):
            raise EcomsftError(f"training.freeze_layers {layers} would freeze all {len(stack)} layers; use at most {len(stack) - 1}")
        for layer in stack[:layers]:
            layer.requires_grad_(False)
    if embeddings or layers:
        # The whole embedding block (words, positions, types, its LayerNorm) where the model has one.
        block = getattr(model.base_model, "embeddings", None) or model.get_input_embeddings()
        block.requires_grad_(False)


def lora_layers(model, top: int | None) -> list[int] | None:
    """``training.lora_layers``: the indices of the model's last ``top`` layers (peft's
    ``layers_to_transform``), or None for every layer."""
    if top is None:
        return None
    count = getattr(model.config.get_text_config(), "num_hidden_layers", None)
    if not count:
        raise EcomsftError("training.lora_layers: the model's config does not say how many layers it has")
    if top > count:
        raise EcomsftError(f"training.lora_layers {top} is more than the model's {count} layers")
    return list(range(count - top, count))


def layer_linears(model) -> list[str]:
    """The names of the linear modules inside the model's layers (peft's "all-linear", spelt out:
    peft takes ``layers_to_transform`` only with a list of module names)."""
    import torch

    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                   if isinstance(module, torch.nn.Linear) and ".layers." in name})


def add_lora(model, cfg: TrainingConfig):
    """Wrap ``model`` in LoRA adapters; the task head (and BERT's pooler) train in full."""
    from peft import LoraConfig, TaskType, get_peft_model

    base = model.base_model
    # The head sits beside the encoder: 'classifier' on BERT/RoBERTa, plus 'pre_classifier' on
    # DistilBERT. BERT's pooler is part of the head's input and was not trained by sentence models.
    heads = [name for name, child in model.named_children() if child is not base and any(True for _ in child.parameters())]
    if getattr(base, "pooler", None) is not None:
        heads.append("pooler")
    lora = LoraConfig(task_type=TaskType.SEQ_CLS, r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                      target_modules=cfg.lora_target_modules, modules_to_save=heads,
                      layers_to_transform=lora_layers(model, cfg.lora_layers))
    try:
        return get_peft_model(model, lora)
    except ValueError as err:  # e.g. target modules that the model does not have
        raise EcomsftError(f"LoRA: {err}".splitlines()[0]) from None


def embeddings_frozen(setting: bool | str, model, added_tokens: int = 0) -> bool:
    """``training.freeze_embeddings`` decided for ``model``. ``auto`` freezes a multilingual vocabulary
    (``models/trim.AUTO_MIN_ROWS`` rows or more before trimming) to which nothing was added: fine-tuning
    moves only the rows the training texts use, away from the rows of the pieces only later texts use
    (README, "The bundled multilingual encoder"); added rows must learn, so they never freeze by default."""
    if setting != "auto":
        return bool(setting)
    config = getattr(model, "config", None)
    rows = getattr(config, "ecomsft_trimmed_from", None) or getattr(config, "vocab_size", None) or 0
    return not added_tokens and rows >= AUTO_MIN_ROWS


def prepare(model, cfg: TrainingConfig, added_tokens: int = 0):
    """Apply the config's freezing and LoRA options; returns the model to train."""
    embeddings = embeddings_frozen(cfg.freeze_embeddings, model, added_tokens)
    if (embeddings or cfg.freeze_layers or cfg.lora_r) and added_tokens:
        log.warning("the %d tokens added to the vocabulary keep their initial embeddings: %s freezes the embeddings",
                    added_tokens, "LoRA" if cfg.lora_r else "freezing")
    if embeddings and cfg.freeze_embeddings == "auto":
        log.info("word embeddings frozen (training.freeze_embeddings auto: a multilingual vocabulary)")
    freeze(model, embeddings, cfg.freeze_layers)
    if cfg.lora_r:
        model = add_lora(model, cfg)
    trainable, total = parameter_counts(model)
    if trainable < total:
        log.info("training %d of %d parameters (%.1f%%)", trainable, total, 100 * trainable / total)
    return model


def finish(model):
    """The plain model to save: LoRA adapters merged into their weights, everything trainable again."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.requires_grad_(True)
    return model


def parameter_counts(model) -> tuple[int, int]:
    """(trainable, total) parameters."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
