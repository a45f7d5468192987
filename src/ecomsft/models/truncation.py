"""Tokenizing texts to a length budget, keeping a long text's head *and* tail (``model.head_share``).

A review's verdict often comes last ("...but it broke after a week, returning it"); cutting every
text to its first ``max_length`` tokens loses it. Sun et al. 2019 ("How to Fine-Tune BERT for Text
Classification?") found head+tail truncation best for long reviews: keep the first share of the
budget from the start and the rest from the end. Tokenizers only cut one side (``truncation_side``),
so the cut is made here, on the ids, around the special tokens the tokenizer adds. Text pairs
(query, product) keep the tokenizer's own truncation of the longer text.
"""

from __future__ import annotations


def special_edges(mask: list[int]) -> tuple[int, int]:
    """How many special tokens (<s> / [CLS], </s> / [SEP]) a tokenized text starts and ends with."""
    lead = next(i for i, special in enumerate(mask) if not special)
    trail = next(i for i, special in enumerate(reversed(mask)) if not special)
    return lead, trail


def encode_texts(tokenizer, texts: list[str], pairs: list[str] | None = None, *, max_length: int,
                 head_share: float = 1.0) -> dict[str, list[list[int]]]:
    """Token ids (unpadded lists) of ``texts``, at most ``max_length`` each; a longer single text keeps
    ``head_share`` of its budget from its start and the rest from its end (1.0: the start only)."""
    if pairs is not None or head_share >= 1.0:
        return dict(tokenizer(texts, pairs, truncation=True, max_length=max_length))
    encoded = dict(tokenizer(texts, truncation=False, return_special_tokens_mask=True, verbose=False))
    specials = encoded.pop("special_tokens_mask")
    for row, mask in enumerate(specials):
        n = len(mask)
        if n <= max_length:
            continue
        lead, trail = special_edges(mask)
        budget = max_length - lead - trail
        head = round(budget * head_share)
        cut = n - trail - (budget - head)  # where the tail starts
        for values in encoded.values():
            values[row] = values[row][:lead + head] + values[row][cut:]
    return encoded
