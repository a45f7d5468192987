"""Whole-word masking for Chinese: jieba words over a tokenizer's character offsets, and the collator
that masks every token of a chosen word."""

from __future__ import annotations

import numpy as np


def word_ids_by_jieba(text: str, offsets: list[tuple[int, int]]) -> list[int]:
    """For each token (by its character offsets) the index of the jieba word it falls in; -1 for specials."""
    import jieba

    starts = np.zeros(len(text) + 1, dtype=np.int64)
    for index, (_, begin, end) in enumerate(jieba.tokenize(text)):
        starts[begin:end] = index
    return [-1 if begin == end else int(starts[begin]) for begin, end in offsets]


class WholeWordMaskCollator:
    """Masks whole words: a chosen word has all its tokens masked (80% [MASK], 10% random, 10% kept).

    ``transformers`` has ``DataCollatorForWholeWordMask`` only for '##' WordPiece continuation, which
    knows nothing of Chinese words; here the words come from each example's ``word_ids``.
    """

    def __init__(self, tokenizer, mlm_probability: float = 0.15, seed: int = 42):
        self.tokenizer = tokenizer
        self.mlm_probability = mlm_probability
        self.seed = seed
        self.reset()

    def reset(self) -> None:
        """Start the masking sequence again, so that two evaluations mask the same tokens."""
        self.rng = np.random.default_rng(self.seed)

    def __call__(self, features: list[dict]) -> dict:
        import torch

        word_ids = [f.pop("word_ids") for f in features]
        batch = self.tokenizer.pad(features, return_tensors="pt")
        input_ids = batch["input_ids"]
        labels = torch.full_like(input_ids, -100)
        for row, words in enumerate(word_ids):
            words = np.asarray(words)
            candidates = np.unique(words[words >= 0])
            if len(candidates) == 0:
                continue
            budget = max(1, int(round(self.mlm_probability * int((words >= 0).sum()))))
            chosen, covered = [], 0
            for word in self.rng.permutation(candidates):
                size = int((words == word).sum())
                if covered + size > budget and chosen:
                    continue
                chosen.append(word)
                covered += size
                if covered >= budget:
                    break
            positions = np.flatnonzero(np.isin(words, chosen))
            labels[row, positions] = input_ids[row, positions]
            draw = self.rng.random(len(positions))
            masked = positions[draw < 0.8]
            randomised = positions[(draw >= 0.8) & (draw < 0.9)]
            input_ids[row, masked] = self.tokenizer.mask_token_id
            input_ids[row, randomised] = torch.as_tensor(self.rng.integers(0, len(self.tokenizer), len(randomised)), dtype=input_ids.dtype)
        batch["input_ids"], batch["labels"] = input_ids, labels
        return batch
