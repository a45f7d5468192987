"""Character spans through a tokenizer and back: what extraction's training and inference share.

A text is cut into windows of at most ``max_length`` tokens that overlap by ``stride`` (so that no
entity is lost to truncation); in each window the *heads* (the first sub-word of each word the
tokenizer's pre-tokenizer sees, or every sub-word) carry the tags. Predictions of overlapping
windows are merged by keeping, for each head, the window where it lies farthest from an edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.tagging import Span, spans_to_tags, tags_to_spans


@dataclass
class Window:
    input_ids: list[int]
    attention_mask: list[int]
    heads: list[int]  # positions in the window that carry a tag
    starts: list[int]  # each head's first character
    ends: list[int]  # each head's word's last character + 1


def windows(tokenizer, text: str, max_length: int, stride: int, all_subtokens: bool) -> list[Window]:
    encoded = tokenizer(text, truncation=True, max_length=max_length, stride=min(stride, max_length // 2),
                        return_overflowing_tokens=True, return_offsets_mapping=True)
    out = []
    for w in range(len(encoded["input_ids"])):
        offsets, words = encoded["offset_mapping"][w], encoded.word_ids(w)
        heads, starts, ends = [], [], []
        for i, (word, (a, b)) in enumerate(zip(words, offsets)):
            if word is None or a == b:
                continue
            if all_subtokens or i == 0 or words[i - 1] != word:
                heads.append(i)
                starts.append(a)
                ends.append(b)
            elif ends:
                ends[-1] = b  # the word goes on: its head's span does too
        out.append(Window(encoded["input_ids"][w], encoded["attention_mask"][w], heads, starts, ends))
    return out


def window_labels(window: Window, spans: list[Span], tag_ids: dict[str, int]) -> list[int]:
    """Per window position: the id of its BIOES tag (heads) or -100 (everything else)."""
    head_spans = []
    for span in spans:
        inside = [k for k, (a, b) in enumerate(zip(window.starts, window.ends)) if a < span.end and span.start < b]
        if inside:
            head_spans.append(Span(inside[0], inside[-1] + 1, span.label))
    tags = spans_to_tags(_non_overlapping(head_spans), len(window.heads), "BIOES")
    labels = [-100] * len(window.input_ids)
    for position, tag in zip(window.heads, tags):
        labels[position] = tag_ids[tag]
    return labels


def _non_overlapping(spans: list[Span]) -> list[Span]:
    kept, end = [], -1
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        if span.start >= end:
            kept.append(span)
            end = span.end
    return kept


def merge(windows_: list[Window], logits: list[np.ndarray], id2tag: dict[int, str]) -> list[Span]:
    """Character spans of one text from its windows' logits: each head scored by the window where
    it lies farthest from an edge, then the best tag sequence that BIOES allows (Viterbi)."""
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
    tags = viterbi_bioes(np.stack([best[s][2] for s in starts]), [id2tag[i] for i in range(len(id2tag))])
    spans, _ = tags_to_spans(tags, "BIOES")
    return [Span(starts[s.start], best[starts[s.end - 1]][1], s.label) for s in spans]


def _allowed(previous: str, tag: str) -> bool:
    """BIOES transitions: inside an entity only I-/E- of its type follow; outside, O, B- or S-."""
    if previous[:1] in ("B", "I"):
        return tag[:1] in ("I", "E") and tag[2:] == previous[2:]
    return tag == "O" or tag[:1] in ("B", "S")


def viterbi_bioes(scores: np.ndarray, tags: list[str]) -> list[str]:
    """The tag sequence of highest total log-probability among those BIOES allows (a sequence
    starts outside an entity and ends outside one). Written here because the decoders of CRF
    libraries need a trained transition matrix; this one only forbids, it learns nothing."""
    logp = scores - np.logaddexp.reduce(scores, axis=1, keepdims=True)
    n, k = logp.shape
    allowed = np.array([[_allowed(a, b) for b in tags] for a in tags])
    can_start = np.array([_allowed("O", t) for t in tags])
    can_end = np.array([t == "O" or t[:1] in ("E", "S") for t in tags])
    score = np.where(can_start, logp[0], -np.inf)
    back = np.zeros((n, k), dtype=np.int64)
    for i in range(1, n):
        total = score[:, None] + np.where(allowed, 0.0, -np.inf)
        back[i] = total.argmax(axis=0)
        score = total.max(axis=0) + logp[i]
    last = int(np.where(can_end, score, -np.inf).argmax())
    path = [last]
    for i in range(n - 1, 0, -1):
        path.append(int(back[i][path[-1]]))
    return [tags[j] for j in reversed(path)]


def bioes_tags(labels: list[str]) -> list[str]:
    """The model's tag set: O and B/I/E/S of each entity type."""
    return ["O"] + [f"{p}-{label}" for label in labels for p in "BIES"]
