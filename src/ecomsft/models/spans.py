"""Character spans through a tokenizer and back: what extraction's training and inference share.

A text is cut into windows of at most ``max_length`` tokens that overlap by ``stride`` (so that no
entity is lost to truncation); in each window the *heads* (the first sub-word of each word the
tokenizer's pre-tokenizer sees, or every sub-word) carry the tags. Predictions of overlapping
windows are merged by keeping, for each head, the window where it lies farthest from an edge.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..data.reading import CJK_RANGE
from ..data.tagging import Span, spans_to_tags, tags_to_spans
from .truncation import special_edges


@dataclass
class Window:
    input_ids: list[int]
    attention_mask: list[int]
    heads: list[int]  # positions in the window that carry a tag
    starts: list[int]  # each head's first character
    ends: list[int]  # each head's word's last character + 1


_CJK = re.compile(f"[{CJK_RANGE}]")


def _units(tokenizer, text: str) -> list[tuple[int, int, int, int | None, bool]]:
    """The text's pieces as (id, first character, end character, word, whether the piece is only the
    SentencePiece word-start mark ``▁``, which holds no character of its own), a piece of several
    characters with a Chinese one among them cut into its characters. A SentencePiece vocabulary (XLM-R, me5)
    holds 物流 and 华为手机 as single pieces, and an entity boundary inside one would be lost: every
    Chinese character is its own unit here, as a BERT vocabulary has them (its pre-tokenizer splits
    them), so every boundary in Chinese text is a unit boundary."""
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    backend = tokenizer.backend_tokenizer
    pieces = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    units = []
    for piece, token, (a, b), word in zip(encoded["input_ids"], pieces, encoded["offset_mapping"], encoded.word_ids()):
        mark = token == "▁"
        while not mark and a < b and text[a].isspace():  # "▁Air" covers the space before the word
            a += 1
        if a == b and not mark:
            continue
        if b - a > 1 and _CJK.search(text, a, b):
            for k in range(a, b):
                char = backend.normalizer.normalize_str(text[k]) if backend.normalizer else text[k]
                units.append((tokenizer.convert_tokens_to_ids(char), k, k + 1, word, False))
        else:
            units.append((piece, a, b, word, mark))
    return units


def _specials(tokenizer) -> tuple[list[int], list[int]]:
    """The ids a tokenizer puts before and after a text ([CLS] / [SEP], <s> / </s>)."""
    encoded = tokenizer("x", return_special_tokens_mask=True)
    lead, trail = special_edges(encoded["special_tokens_mask"])
    ids = encoded["input_ids"]
    return ids[:lead], ids[len(ids) - trail:]


def windows(tokenizer, text: str, max_length: int, stride: int, all_subtokens: bool) -> list[Window]:
    units = _units(tokenizer, text)
    before, after = _specials(tokenizer)
    size = max(max_length - len(before) - len(after), 1)
    overlap = min(stride, size // 2)
    out = []
    for first in range(0, max(len(units) - overlap, 1), size - overlap):
        chunk = units[first:first + size]
        heads, starts, ends = [], [], []
        for k, (_, a, b, word, mark) in enumerate(chunk):
            if mark:
                continue  # the word starts with the next piece
            previous = chunk[k - 1] if k else None
            if (all_subtokens or previous is None or previous[4] or word is None or previous[3] != word
                    or _CJK.match(text, a) or _CJK.match(text, previous[1])):
                heads.append(len(before) + k)
                starts.append(a)
                ends.append(b)
            else:
                ends[-1] = b  # the word goes on: its head's span does too
        ids = before + [unit[0] for unit in chunk] + after
        out.append(Window(ids, [1] * len(ids), heads, starts, ends))
        if first + size >= len(units):
            break
    return out


def window_labels(window: Window, spans: list[Span], tag_ids: dict[str, int]) -> list[int]:
    """Per window position: the id of its BIOES tag (heads) or -100 (everything else)."""
    head_spans = []
    for span in spans:
        inside = [k for k, (a, b) in enumerate(zip(window.starts, window.ends)) if a < span.end and span.start < b]
        if inside:
            head_spans.append(Span(inside[0], inside[-1] + 1, span.label))
    tags = spans_to_tags(non_overlapping(head_spans), len(window.heads), "BIOES")
    labels = [-100] * len(window.input_ids)
    for position, tag in zip(window.heads, tags):
        labels[position] = tag_ids[tag]
    return labels


def non_overlapping(spans: list[Span]) -> list[Span]:
    """The spans in order, each that overlaps an earlier one left out (a tag sequence holds no overlap)."""
    kept, end = [], -1
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        if span.start >= end:
            kept.append(span)
            end = span.end
    return kept


def merge(windows_: list[Window], logits: list[np.ndarray], id2tag: dict[int, str], crf: dict | None = None) -> list[Span]:
    """Character spans of one text from its windows' logits: each head scored by the window where
    it lies farthest from an edge, then the best tag sequence that BIOES allows (Viterbi; with the
    learnt transition scores of a CRF layer, ``crf``, where the model was trained with one)."""
    best: dict[int, tuple[int, int, np.ndarray]] = {}  # head start char -> (centrality, end char, scores)
    for window, scores in zip(windows_, logits):
        n = len(window.heads)
        for k, position in enumerate(window.heads):
            centrality = min(k, n - 1 - k)
            start = window.starts[k]
            if start not in best or centrality > best[start][0]:
                best[start] = (centrality, window.ends[k], np.asarray(scores[position], dtype=np.float64))
    starts = sorted(best)
    if not starts:
        return []
    tags = viterbi_bioes(np.stack([best[s][2] for s in starts]), [id2tag[i] for i in range(len(id2tag))], crf)
    spans, _ = tags_to_spans(tags, "BIOES")
    return [Span(starts[s.start], best[starts[s.end - 1]][1], s.label) for s in spans]


def _allowed(previous: str, tag: str) -> bool:
    """BIOES transitions: inside an entity only I-/E- of its type follow; outside, O, B- or S-."""
    if previous[:1] in ("B", "I"):
        return tag[:1] in ("I", "E") and tag[2:] == previous[2:]
    return tag == "O" or tag[:1] in ("B", "S")


def bioes_allowed(tags: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tag -> tag moves, first tags, last tags) that BIOES allows, as boolean arrays."""
    allowed = np.array([[_allowed(a, b) for b in tags] for a in tags])
    can_start = np.array([_allowed("O", t) for t in tags])
    can_end = np.array([t == "O" or t[:1] in ("E", "S") for t in tags])
    return allowed, can_start, can_end


def viterbi_bioes(scores: np.ndarray, tags: list[str], crf: dict | None = None) -> list[str]:
    """The tag sequence of highest total score among those BIOES allows (a sequence starts outside
    an entity and ends outside one): the sum of each head's log-probability, or, with a CRF layer's
    learnt ``crf`` scores (``models/crf_head.py``), of the raw scores and the start, transition and
    end scores, as the layer was trained. Written here because the library's decoder runs on torch
    tensors of a batch and knows nothing of BIOES's forbidden moves; this one serves both cases."""
    allowed, can_start, can_end = bioes_allowed(tags)
    if crf is None:
        emissions = scores - np.logaddexp.reduce(scores, axis=1, keepdims=True)
        move, first, last_scores = np.zeros(allowed.shape), np.zeros(len(tags)), np.zeros(len(tags))
    else:
        emissions = scores
        move, first, last_scores = (np.asarray(crf[key], dtype=np.float64) for key in ("transitions", "start", "end"))
    n, k = emissions.shape
    score = np.where(can_start, emissions[0] + first, -np.inf)
    back = np.zeros((n, k), dtype=np.int64)
    for i in range(1, n):
        total = score[:, None] + np.where(allowed, move, -np.inf)
        back[i] = total.argmax(axis=0)
        score = total.max(axis=0) + emissions[i]
    last = int(np.where(can_end, score + last_scores, -np.inf).argmax())
    path = [last]
    for i in range(n - 1, 0, -1):
        path.append(int(back[i][path[-1]]))
    return [tags[j] for j in reversed(path)]


def bioes_tags(labels: list[str]) -> list[str]:
    """The model's tag set: O and B/I/E/S of each entity type."""
    return ["O"] + [f"{p}-{label}" for label in labels for p in "BIES"]
