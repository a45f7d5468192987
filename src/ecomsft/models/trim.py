"""Vocabulary trimming (``model.trim_vocab``): keep only the embedding rows a run's texts can use.

96M of multilingual-e5-small's 118M parameters are its 250k-row embedding matrix, most of it pieces
of languages a shop's texts never use. Trimming keeps the pieces the training texts tokenize to,
every special and added token, and every single-character piece of the scripts present in the texts
(plus digits, punctuation and symbols), so that a text never seen in training still tokenizes: a new
word falls back to its characters, an unknown script to ``<unk>``, and ids never shift silently,
because the tokenizer is rebuilt around the kept pieces and saved with the model.

Written here because no maintained library trims a fast tokenizer and its embedding matrix together:
``tokenizers`` has no vocabulary surgery, and transformers' ``resize_token_embeddings`` only cuts the
end of the matrix. The edit is on the tokenizer's own JSON (``Tokenizer.to_str``), so the normaliser,
pre-tokenizer and templates are kept exactly. Unigram (SentencePiece: XLM-R, e5) and WordPiece (BERT)
vocabularies are supported; BPE is not (its merges would need pruning too).
"""

from __future__ import annotations

import json
import logging
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from ..errors import EcomsftError
from .prefixes import text_prefixes

log = logging.getLogger("ecomsft")

# `auto` trims vocabularies at least this large: multilingual ones (XLM-R, e5: 250k), where the matrix
# is most of the model; a monolingual 20-30k vocabulary (BERT, MiniLM) is left as it is.
AUTO_MIN_ROWS = 100_000
_PREFIXES = ("▁", "##")  # SentencePiece's word start, WordPiece's continuation


def _script(char: str) -> str | None:
    """A letter's (or mark's) script, as the first word of its Unicode name (CJK, LATIN, HANGUL);
    None for digits, punctuation and symbols, which every script uses."""
    if unicodedata.category(char)[0] not in "LM":
        return None
    return unicodedata.name(char, "?").split(" ")[0]


def _single_char(piece: str) -> str | None:
    for prefix in _PREFIXES:
        if piece.startswith(prefix) and len(piece) > len(prefix):
            piece = piece[len(prefix):]
            break
    return piece if len(piece) == 1 else None


def _pieces(state: dict) -> list[str]:
    """The model's vocabulary, in id order."""
    model = state["model"]
    if model["type"] == "Unigram":
        return [piece for piece, _ in model["vocab"]]
    pieces = [""] * (max(model["vocab"].values()) + 1)
    for piece, index in model["vocab"].items():
        pieces[index] = piece
    return pieces


def kept_ids(tokenizer, texts: Iterable[str], batch_size: int = 1000) -> list[int]:
    """The ids to keep, ascending: used by the texts, special or added, or a single character of a
    script the texts use (or not a letter at all)."""
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    texts = list(texts)
    keep: set[int] = set(tokenizer.all_special_ids) | {entry["id"] for entry in state.get("added_tokens", [])}
    scripts: set[str | None] = {None}
    for start in range(0, len(texts), batch_size):
        chunk = texts[start:start + batch_size]
        for row in tokenizer(chunk, add_special_tokens=False)["input_ids"]:
            keep.update(row)
        for text in chunk:
            scripts.update(_script(c) for c in set(text))
    for index, piece in enumerate(_pieces(state)):
        char = _single_char(piece)
        if char is not None and _script(char) in scripts:
            keep.add(index)
    return sorted(keep)


def _remap_processor(processor: dict | None, new_id: dict[int, int]) -> None:
    """The ids a post-processor writes (``<s>``/``[CLS]``), in place."""
    if not processor:
        return
    kind = processor.get("type")
    if kind == "TemplateProcessing":
        for special in processor["special_tokens"].values():
            special["ids"] = [new_id[i] for i in special["ids"]]
    elif kind in ("RobertaProcessing", "BertProcessing"):
        for key in ("sep", "cls"):
            processor[key] = [processor[key][0], new_id[processor[key][1]]]
    elif kind == "Sequence":
        for inner in processor["processors"]:
            _remap_processor(inner, new_id)


def trimmed_tokenizer(tokenizer, keep: list[int]):
    """A fast tokenizer of the kept pieces only (new ids 0..len(keep)-1 in the old order), with the
    original's normaliser, pre-tokenizer, decoder, templates and special tokens."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    state = json.loads(tokenizer.backend_tokenizer.to_str())
    model = state["model"]
    new_id = {old: new for new, old in enumerate(keep)}
    if model["type"] == "Unigram":
        vocab = model["vocab"]
        model["vocab"] = [vocab[i] for i in keep if i < len(vocab)]
        if model.get("unk_id") is not None:
            model["unk_id"] = new_id[model["unk_id"]]
    elif model["type"] == "WordPiece":
        pieces = _pieces(state)
        model["vocab"] = {pieces[i]: new_id[i] for i in keep if i < len(pieces) and pieces[i]}
    else:
        raise EcomsftError(f"model.trim_vocab works with Unigram (SentencePiece) and WordPiece vocabularies; this "
                           f"tokenizer is {model['type']}: set model.trim_vocab to false",
                           where=str(tokenizer.name_or_path))
    for entry in state.get("added_tokens", []):
        entry["id"] = new_id[entry["id"]]
    _remap_processor(state.get("post_processor"), new_id)
    backend = Tokenizer.from_str(json.dumps(state))
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, model_max_length=tokenizer.model_max_length,
        padding_side=tokenizer.padding_side, truncation_side=tokenizer.truncation_side,
        model_input_names=list(tokenizer.model_input_names), **tokenizer.special_tokens_map)


def wants_trim(setting: bool | str, vocab_rows: int) -> bool:
    return setting is True or (setting == "auto" and vocab_rows >= AUTO_MIN_ROWS)


def write_trimmed(model_path: str, texts: list[str], folder: Path) -> dict:
    """The model of ``model_path`` with its vocabulary trimmed to ``texts``, written into ``folder``
    (the encoder without any head, and its tokenizer); returns metrics.json's ``model.vocab_rows*``."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=False)
    if not getattr(tokenizer, "is_fast", False):
        raise EcomsftError("model.trim_vocab needs a fast (Rust) tokenizer; set model.trim_vocab to false",
                           where=model_path)
    model, loading = AutoModel.from_pretrained(model_path, trust_remote_code=False, output_loading_info=True)
    keep = kept_ids(tokenizer, [*texts, *(text_prefixes(model.config) or {}).values()])  # "query: " stays readable
    trimmed = trimmed_tokenizer(tokenizer, keep)
    old = model.get_input_embeddings()
    rows = old.weight.shape[0]
    if keep[-1] >= rows:
        raise EcomsftError(f"the tokenizer has ids up to {keep[-1]} but the model only {rows} embedding rows",
                           where=model_path)
    pad = model.config.pad_token_id
    new = torch.nn.Embedding(len(keep), old.weight.shape[1], padding_idx=keep.index(pad) if pad in keep else None)
    with torch.no_grad():
        new.weight.copy_(old.weight[torch.tensor(keep)])
    model.set_input_embeddings(new)
    model.config.vocab_size = len(keep)
    model.config.ecomsft_trimmed_from = rows  # the vocabulary it was trimmed from (training.freeze_embeddings auto)
    for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
        value = getattr(model.config, name, None)
        if isinstance(value, int):
            setattr(model.config, name, keep.index(value) if value in keep else None)
    # Only the weights the source has: a part it lacks (a pooler) stays missing, so the task starts it
    # as it would from the source, and a trimmed run draws the same random numbers as an untrimmed one.
    missing = set(loading["missing_keys"])
    model.save_pretrained(folder, state_dict={k: v for k, v in model.state_dict().items() if k not in missing})
    trimmed.save_pretrained(folder)
    log.info("vocabulary trimmed to the training texts: %d of %d rows kept", len(keep), rows)
    return {"vocab_rows": len(keep), "vocab_rows_before": rows}
