"""Measuring how much of a text the vocabulary covers, and extending it where it does not.

An English WordPiece vocabulary maps most Chinese characters to [UNK], so the model sees
"[UNK] [UNK] 的 [UNK]". Here the pieces that become [UNK] are counted on the training texts and the
frequent ones are added as tokens, with new embedding rows to be learnt during fine-tuning.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from tokenizers import AddedToken

from ..data.reading import CJK_RANGE
from ..errors import EcomsftError
from .gloss import gloss_rows, gloss_topk_rows, load_glosses

log = logging.getLogger("ecomsft")


@dataclass
class Coverage:
    tokens: int
    unknown: int

    @property
    def unk_rate(self) -> float:
        return self.unknown / self.tokens if self.tokens else 0.0


def _pieces(tokenizer, text: str) -> list[str]:
    backend = tokenizer.backend_tokenizer
    normalized = backend.normalizer.normalize_str(text) if backend.normalizer else text
    if backend.pre_tokenizer is None:
        return normalized.split()
    return [piece for piece, _ in backend.pre_tokenizer.pre_tokenize_str(normalized)]


def coverage(tokenizer, texts: Iterable[str], batch_size: int = 1000) -> Coverage:
    """Count non-special tokens and how many are the unknown token."""
    texts = list(texts)
    unk_id = tokenizer.unk_token_id
    tokens = unknown = 0
    for start in range(0, len(texts), batch_size):
        ids = tokenizer(texts[start:start + batch_size], add_special_tokens=False)["input_ids"]
        for row in ids:
            tokens += len(row)
            if unk_id is not None:
                unknown += sum(1 for i in row if i == unk_id)
    return Coverage(tokens, unknown)


def unknown_pieces(tokenizer, texts: Iterable[str]) -> Counter:
    """How often each pre-tokenized piece (a CJK character, a word) tokenizes to the unknown token."""
    if tokenizer.unk_token_id is None or not getattr(tokenizer, "is_fast", False):
        return Counter()
    model = tokenizer.backend_tokenizer.model
    unk = tokenizer.unk_token
    verdict: dict[str, bool] = {}
    counts: Counter = Counter()
    added = set(tokenizer.get_added_vocab())
    for text in texts:
        for piece in _pieces(tokenizer, text):
            known = verdict.get(piece)
            if known is None:
                known = verdict[piece] = piece in added or all(t.value != unk for t in model.tokenize(piece))
            if not known:
                counts[piece] += 1
    return counts


CJK_WORD = re.compile(f"^[{CJK_RANGE}]{{2,}}$")


def frequent_words(texts: Iterable[str], min_count: int, max_words: int, known: set[str]) -> list[str]:
    """The most frequent multi-character Chinese words of ``texts`` (jieba's accurate mode) that the
    vocabulary does not hold yet, most frequent first."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    counts: Counter = Counter()
    for text in texts:
        counts.update(word for word in jieba.lcut(text) if CJK_WORD.match(word))
    return [word for word, n in counts.most_common() if n >= min_count and word not in known][:max_words]


@dataclass
class Extension:
    """What ``extend_vocabulary`` added, and how each new row started."""
    characters: list[str]
    words: list[str]
    init_counts: dict[str, int]

    @property
    def added(self) -> list[str]:
        return self.characters + self.words


def extend_vocabulary(
    tokenizer, model, texts: Iterable[str], min_count: int, max_new: int, init: str = "cooccurrence",
    add_words: bool = False, word_min_count: int = 5, max_new_words: int = 5000,
) -> Extension:
    """Add the frequent unknown pieces (and, with ``add_words``, frequent whole words) as tokens and
    give the model embedding rows for them.

    ``init="mean"``: the new rows start at the mean of the old ones (``mean_resizing``).
    ``init="cooccurrence"``: they start where their contexts in ``texts`` place them, see
    ``cooccurrence_embeddings``. ``init="gloss"`` / ``"gloss_topk"``: from the model's embeddings of
    their English dictionary glosses (``gloss.py``). Rows a method cannot place fall back to
    co-occurrence, then to the mean start.
    """
    texts = list(texts)
    counts = unknown_pieces(tokenizer, texts)
    characters = [piece for piece, n in counts.most_common(max_new) if n >= min_count]
    words: list[str] = []
    if add_words:
        if not getattr(tokenizer, "is_fast", False):
            raise EcomsftError(f"model.add_words needs a fast (Rust) tokenizer to hold added words; this model's is "
                               f"{type(tokenizer).__name__}: set model.add_words=false")
        words = frequent_words(texts, word_min_count, max_new_words, set(tokenizer.get_vocab()) | set(characters))
        if not words:
            log.info("vocabulary: no frequent Chinese words in the training texts, none added as tokens")
    if not characters and not words:
        return Extension([], [], {})
    old_size = len(tokenizer)
    tokenizer.add_tokens(characters)
    # Words are matched on the raw text: BERT's normalizer puts spaces between Chinese characters,
    # so a normalized added word could never match. Added tokens are matched longest first.
    tokenizer.add_tokens([AddedToken(word, normalized=False) for word in words])
    # The added tokens' own text: the backend's id_to_token gives a normalized token with its padding spaces.
    added = tokenizer.added_tokens_decoder
    new_tokens = [added[i].content for i in range(old_size, len(tokenizer))]
    try:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    except NotImplementedError as err:
        raise EcomsftError(f"this model cannot take new tokens ({err}): set model.extend_vocab=never") from None
    weight = model.get_input_embeddings().weight
    placed: dict[int, np.ndarray] = {}
    init_counts = {"gloss": 0, "cooccurrence": 0, "mean": 0}
    if init in ("gloss", "gloss_topk"):
        glosses = load_glosses()
        if glosses:
            old_rows = weight.detach()[:old_size].float().cpu().numpy()
            if init == "gloss":
                found, rows = gloss_rows(tokenizer, old_rows, new_tokens, glosses)
            else:
                found, rows = gloss_topk_rows(model, tokenizer, old_rows, new_tokens, glosses, old_size)
            placed.update((old_size + position, row) for position, row in zip(found, rows))
            init_counts["gloss"] = len(found)
    if init != "mean" and len(placed) < len(new_tokens):
        ids, vectors = cooccurrence_embeddings(tokenizer, weight.detach().float().cpu().numpy(), texts, old_size)
        fallback = {int(i): v for i, v in zip(ids, vectors) if int(i) not in placed}
        placed.update(fallback)
        init_counts["cooccurrence"] = len(fallback)
    init_counts["mean"] = len(new_tokens) - len(placed)
    if placed:
        import torch

        ids = sorted(placed)
        with torch.no_grad():
            weight[torch.as_tensor(ids)] = torch.as_tensor(np.stack([placed[i] for i in ids]), dtype=weight.dtype,
                                                           device=weight.device)
    return Extension(characters, words, {name: n for name, n in init_counts.items() if n})


def cooccurrence_embeddings(
    tokenizer, embeddings, texts: list[str], old_size: int, window: int = 2, dims: int = 96,
    max_vocab: int = 20000, ridge: float = 1.0,
):
    """Starting vectors for the tokens with ids >= ``old_size``, placed by the company they keep.

    No library does this (it is the idea of WECHSEL/FOCUS-style initialisation, cut to what needs no
    second model): token vectors from an SVD of the positive PMI co-occurrence matrix of ``texts``,
    then a ridge map from that space to the model's embedding space, fitted on the tokens the model
    already knows (punctuation, digits, Latin words, the few CJK characters it has) and applied to the
    new ones. Characters used alike ('好' and '棒') so start alike, in the model's own space,
    instead of all at one mean vector.
    """
    from scipy import sparse
    from sklearn.utils.extmath import randomized_svd

    ids_per_text = tokenizer(texts, add_special_tokens=False)["input_ids"]
    counts = np.bincount(np.concatenate([np.asarray(r, dtype=np.int64) for r in ids_per_text if r] or [np.zeros(0, np.int64)]),
                         minlength=len(tokenizer))
    special = set(tokenizer.all_special_ids)
    candidates = [i for i in np.argsort(-counts)[:max_vocab] if counts[i] > 0 and i not in special]
    index = {int(token): k for k, token in enumerate(candidates)}
    size = len(index)
    if size < 10:
        return np.zeros(0, dtype=np.int64), np.zeros((0, embeddings.shape[1]))
    rows, cols = [], []
    for ids in ids_per_text:
        mapped = np.array([index.get(t, -1) for t in ids], dtype=np.int64)
        for offset in range(1, window + 1):
            left, right = mapped[:-offset], mapped[offset:]
            keep = (left >= 0) & (right >= 0)
            rows.append(left[keep])
            cols.append(right[keep])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    matrix = sparse.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(size, size)).tocsr()
    matrix = matrix + matrix.T
    total = matrix.sum()
    row_sums = np.asarray(matrix.sum(axis=1)).ravel()
    matrix = matrix.tocoo()
    pmi = np.log(matrix.data * total / (row_sums[matrix.row] * row_sums[matrix.col]))
    keep = pmi > 0
    ppmi = sparse.csr_matrix((pmi[keep], (matrix.row[keep], matrix.col[keep])), shape=(size, size))
    k = min(dims, size - 1)
    u, s, _ = randomized_svd(ppmi, n_components=k, random_state=0)
    vectors = u * np.sqrt(s)
    token_ids = np.array(candidates, dtype=np.int64)
    known = token_ids < old_size
    new = ~known
    if known.sum() < k // 2 or not new.any():
        return np.zeros(0, dtype=np.int64), np.zeros((0, embeddings.shape[1]))
    x, y = vectors[known], embeddings[token_ids[known]]
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    xc = x - x_mean
    w = np.linalg.solve(xc.T @ xc + ridge * np.eye(k), xc.T @ (y - y_mean))
    placed = (vectors[new] - x_mean) @ w + y_mean
    # The ridge map shrinks towards the mean; give the rows the spread of real embeddings.
    spread = np.linalg.norm(y - y_mean, axis=1).mean() / max(np.linalg.norm(placed - y_mean, axis=1).mean(), 1e-9)
    placed = y_mean + (placed - y_mean) * min(spread, 10.0)
    return token_ids[new], placed


def adapt_vocabulary(tokenizer, model, texts: list[str], cfg) -> dict:
    """Measure the unknown-token rate of ``texts`` and, as ``cfg`` (a ``ModelConfig``) says, extend
    the vocabulary. Returns what happened, for a run's metrics."""
    before = coverage(tokenizer, texts)
    report = {"unk_rate_before": before.unk_rate, "tokens_per_text_before": before.tokens / max(len(texts), 1),
              "added_tokens": 0}
    if cfg.extend_vocab == "always" or (cfg.extend_vocab == "auto" and before.unk_rate > cfg.unk_threshold):
        extension = extend_vocabulary(tokenizer, model, texts, cfg.new_token_min_count, cfg.max_new_tokens,
                                      cfg.new_embedding_init, cfg.add_words, cfg.word_min_count, cfg.max_new_words)
        after = coverage(tokenizer, texts)
        report.update(added_tokens=len(extension.added), added_characters=len(extension.characters),
                      added_words=len(extension.words), new_rows_init=extension.init_counts,
                      unk_rate_after=after.unk_rate, tokens_per_text_after=after.tokens / max(len(texts), 1))
    return report


INIT_NAMES = {"gloss": "from dictionary glosses", "cooccurrence": "by co-occurrence", "mean": "at the mean row"}


def describe_extension(vocab: dict) -> str:
    """One line on a run's vocabulary extension (its metrics' ``model`` section), for people."""
    if "added_words" in vocab:
        added = f"{vocab['added_characters']:,} characters and {vocab['added_words']:,} words added"
    else:  # a run folder written before words existed
        added = f"{vocab['added_tokens']:,} tokens added"
    starts = ", ".join(f"{n:,} {INIT_NAMES.get(name, name)}" for name, n in (vocab.get("new_rows_init") or {}).items())
    line = f"{added}{f' ({starts})' if starts else ''}; unknown-token rate " \
           f"{100 * vocab['unk_rate_before']:.1f}% -> {100 * vocab['unk_rate_after']:.1f}%"
    if vocab.get("tokens_per_text_after") is not None:
        line += f", {vocab['tokens_per_text_before']:.1f} -> {vocab['tokens_per_text_after']:.1f} tokens per text"
    return line
