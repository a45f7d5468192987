"""Measuring how much of a text the vocabulary covers, and extending it where it does not.

An English WordPiece vocabulary maps most Chinese characters to [UNK], so the model sees
"[UNK] [UNK] 的 [UNK]". Here the pieces that become [UNK] are counted on the training texts and the
frequent ones are added as tokens, with new embedding rows to be learnt during fine-tuning.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass


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


def extend_vocabulary(tokenizer, model, texts: Iterable[str], min_count: int, max_new: int) -> list[str]:
    """Add the frequent unknown pieces as tokens and give the model embedding rows for them.

    The new rows start at the mean of the old ones (``mean_resizing``), so that the first steps do
    not see out-of-distribution vectors; they then learn at the embedding learning rate.
    """
    counts = unknown_pieces(tokenizer, texts)
    new = [piece for piece, n in counts.most_common(max_new) if n >= min_count]
    if not new:
        return []
    tokenizer.add_tokens(new)
    model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    return new
