"""The aspect model: one encoder read once per review, four small heads, what training and the
reader share (the encoding of a review, the batch collator, the decoding into quadruples).

- ``tagger``: BIOES tags of aspect (``A``) and opinion (``O``) spans over the sub-word heads
  (``models.spans``: every Chinese character its own unit, so every boundary is a unit boundary);
- for each *anchor* (an opinion span; an aspect whose opinion is implicit), from the mean of its
  tokens beside the review's first token: its ``category`` and ``polarity``, and for an opinion
  its ``link``: which aspect span of the review it is about, or none (implicit), scored against
  every aspect span (a bilinear score, as in span-pair models of relation extraction);
- ``pairs``: per category, not mentioned or one polarity, from the first token: the review-level
  answer a per-category file trains, and an auxiliary loss for quadruple data.

Written here because no library ships a quadruple head; the encoder is any transformers model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..data.aspects import Quad
from ..data.tagging import Span
from .crf_head import attach_crf, crf_loss, crf_scores
from .spans import bioes_tags, merge, window_labels, windows

SPAN_LABELS = ("A", "O")
TAGS = tuple(bioes_tags(list(SPAN_LABELS)))  # O, B-A, I-A, E-A, S-A, B-O, ...
HEADS_FILE = "aspect_heads.safetensors"


@dataclass
class Encoded:
    """One review through the tokenizer: its ids, and each head's character span."""

    input_ids: list[int]
    window: object  # models.spans.Window

    def positions(self, span: tuple[int, int]) -> tuple[int, int] | None:
        """Token positions [first, last + 1) of the heads a character span covers (None: cut off)."""
        inside = [k for k, (a, b) in enumerate(zip(self.window.starts, self.window.ends)) if a < span[1] and span[0] < b]
        if not inside:
            return None
        return self.window.heads[inside[0]], self.window.heads[inside[-1]] + 1


def encode_review(tokenizer, text: str, max_length: int) -> Encoded:
    """The review's first window (reviews longer than ``max_length`` tokens are cut there)."""
    window = windows(tokenizer, text, max_length, 0, True)[0]
    return Encoded(window.input_ids, window)


def training_features(encoded: Encoded, quads: list[Quad], categories: list[str], polarities: list[str],
                      with_spans: bool = True) -> dict:
    """The model's inputs and targets for one labelled review (``with_spans=False``: per-category
    data, whose reviews teach the pairs head only)."""
    tag_ids = {t: i for i, t in enumerate(TAGS)}
    spans = [Span(*q.aspect, "A") for q in quads if q.aspect] + [Span(*q.opinion, "O") for q in quads if q.opinion]
    labels = window_labels(encoded.window, spans, tag_ids) if with_spans else [-100] * len(encoded.input_ids)
    candidates: list[tuple[int, int]] = []
    for q in quads:
        position = encoded.positions(q.aspect) if q.aspect else None
        if position and position not in candidates:
            candidates.append(position)
    anchors, kinds, links, cats, pols = [], [], [], [], []
    for q in quads:
        if q.opinion:
            position = encoded.positions(q.opinion)
            kind = 0
        else:
            position = encoded.positions(q.aspect) if q.aspect else None
            kind = 1
        if position is None:
            continue  # a span cut off by max_length, or a quadruple with neither span (per-category data)
        aspect = encoded.positions(q.aspect) if q.aspect else None
        anchors.append(list(position))
        kinds.append(kind)
        links.append(0 if aspect is None or kind == 1 else 1 + candidates.index(aspect))
        cats.append(categories.index(q.category))
        pols.append(polarities.index(q.polarity))
    pairs = [0] * len(categories)
    for q in quads:
        pairs[categories.index(q.category)] = 1 + polarities.index(q.polarity)
    return {"input_ids": encoded.input_ids, "labels": labels, "anchors": anchors, "anchor_kinds": kinds,
            "candidates": [list(c) for c in candidates], "links": links, "categories": cats, "polarities": pols,
            "pairs": pairs, "length": len(encoded.input_ids)}


def collate(features: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Pads a batch: tokens with ``pad_id``, tags with -100, anchors and candidates with empty spans."""
    size = len(features)
    longest = max(len(f["input_ids"]) for f in features)
    anchors_n = max([len(f.get("anchors") or []) for f in features] + [1])
    candidates_n = max([len(f.get("candidates") or []) for f in features] + [1])
    batch = {"input_ids": torch.full((size, longest), pad_id, dtype=torch.long),
             "attention_mask": torch.zeros((size, longest), dtype=torch.long)}
    labelled = "labels" in features[0]
    if labelled:
        batch.update({"labels": torch.full((size, longest), -100, dtype=torch.long),
                      "anchors": torch.zeros((size, anchors_n, 2), dtype=torch.long),
                      "anchor_mask": torch.zeros((size, anchors_n), dtype=torch.bool),
                      "anchor_kinds": torch.zeros((size, anchors_n), dtype=torch.long),
                      "candidates": torch.zeros((size, candidates_n, 2), dtype=torch.long),
                      "candidate_mask": torch.zeros((size, candidates_n), dtype=torch.bool),
                      "links": torch.zeros((size, anchors_n), dtype=torch.long),
                      "categories": torch.zeros((size, anchors_n), dtype=torch.long),
                      "polarities": torch.zeros((size, anchors_n), dtype=torch.long),
                      "pairs": torch.tensor([f["pairs"] for f in features], dtype=torch.long)})
    for i, f in enumerate(features):
        n = len(f["input_ids"])
        batch["input_ids"][i, :n] = torch.tensor(f["input_ids"])
        batch["attention_mask"][i, :n] = 1
        if not labelled:
            continue
        batch["labels"][i, :n] = torch.tensor(f["labels"])
        k = len(f["anchors"])
        if k:
            batch["anchors"][i, :k] = torch.tensor(f["anchors"])
            batch["anchor_mask"][i, :k] = True
            for key in ("anchor_kinds", "links", "categories", "polarities"):
                batch[key][i, :k] = torch.tensor(f[key])
        c = len(f["candidates"])
        if c:
            batch["candidates"][i, :c] = torch.tensor(f["candidates"])
            batch["candidate_mask"][i, :c] = True
    return batch


def span_means(hidden: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
    """Mean hidden state over each span [start, end) of token positions: (B, K, 2) -> (B, K, H)."""
    cumulative = torch.nn.functional.pad(hidden.cumsum(dim=1), (0, 0, 1, 0))
    start = spans[..., 0].clamp(min=0)
    end = torch.maximum(spans[..., 1], start + 1)
    index = lambda p: p.unsqueeze(-1).expand(-1, -1, hidden.size(-1))  # noqa: E731
    total = cumulative.gather(1, index(end)) - cumulative.gather(1, index(start))
    return total / (end - start).unsqueeze(-1).to(hidden.dtype)


class AspectModel(nn.Module):
    """The encoder and the four heads; ``forward`` returns the summed losses (training) and the tag logits."""

    base_model_prefix = "encoder"  # what the Trainer's head rate treats as the pretrained body

    def __init__(self, encoder, categories: list[str], polarities: list[str], polarity_weights: list[float] | None = None,
                 crf: bool = False):
        super().__init__()
        hidden = encoder.config.hidden_size
        self.encoder = encoder
        self.categories, self.polarities = list(categories), list(polarities)
        self.dropout = nn.Dropout(0.1)
        self.tagger = nn.Linear(hidden, len(TAGS))
        self.anchor = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.GELU())
        self.category = nn.Linear(hidden, len(categories))
        self.polarity = nn.Linear(hidden, len(polarities))
        self.link_query = nn.Linear(hidden, hidden)
        self.link_key = nn.Linear(hidden, hidden)
        self.implicit = nn.Parameter(torch.zeros(hidden))
        self.pairs = nn.Linear(hidden, len(categories) * (len(polarities) + 1))
        self.register_buffer("polarity_weights", torch.tensor(polarity_weights or [1.0] * len(polarities)), persistent=False)
        if crf:  # learnt tag transitions, trained on whole tag sequences (models/crf_head.py)
            attach_crf(self, list(TAGS))
        # After training, the encoder may run as the run's ONNX export: ``forward(batch) -> hidden
        # states`` (inference.onnx_export.onnx_forward); the heads stay in torch.
        self.exported = None

    @property
    def config(self):
        return self.encoder.config

    def get_input_embeddings(self):
        return self.encoder.get_input_embeddings()

    def head_state(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}

    def hidden(self, input_ids, attention_mask) -> torch.Tensor:
        if self.exported is not None:
            batch = {"input_ids": input_ids.cpu().numpy(), "attention_mask": attention_mask.cpu().numpy(),
                     "token_type_ids": np.zeros(tuple(input_ids.shape), dtype=np.int64)}
            return torch.from_numpy(np.asarray(self.exported(batch), dtype=np.float32)).to(input_ids.device)
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def anchor_outputs(self, hidden, anchors, candidates, candidate_mask):
        """Category, polarity and link logits of each anchor (links: implicit first, then each candidate)."""
        first = hidden[:, :1].expand(-1, anchors.size(1), -1)
        rep = self.anchor(self.dropout(torch.cat([span_means(hidden, anchors), first], dim=-1)))
        keys = torch.cat([self.implicit.expand(hidden.size(0), 1, -1), span_means(hidden, candidates)], dim=1)
        scores = torch.einsum("bkh,bch->bkc", self.link_query(rep), self.link_key(keys)) / math.sqrt(hidden.size(-1))
        allowed = torch.cat([torch.ones_like(candidate_mask[:, :1]), candidate_mask], dim=1)
        scores = scores.masked_fill(~allowed.unsqueeze(1), -1e4)
        return self.category(rep), self.polarity(rep), scores

    def pair_logits(self, hidden) -> torch.Tensor:
        return self.pairs(self.dropout(hidden[:, 0])).view(hidden.size(0), len(self.categories), len(self.polarities) + 1)

    def forward(self, input_ids, attention_mask, labels=None, anchors=None, anchor_mask=None, anchor_kinds=None,
                candidates=None, candidate_mask=None, links=None, categories=None, polarities=None, pairs=None):
        hidden = self.hidden(input_ids, attention_mask)
        tag_logits = self.tagger(self.dropout(hidden))
        if labels is None:
            return {"logits": tag_logits}
        cross = nn.functional.cross_entropy
        if labels.ne(-100).sum() == 0:  # a per-category batch: no tags
            loss = tag_logits.sum() * 0.0
        elif getattr(self, "crf", None) is not None:
            loss = crf_loss(self.crf, tag_logits, labels)
        else:
            loss = cross(tag_logits.reshape(-1, len(TAGS)), labels.reshape(-1), ignore_index=-100)
        if anchor_mask is not None and anchor_mask.any():
            cat, pol, link = self.anchor_outputs(hidden, anchors, candidates, candidate_mask)
            loss = loss + cross(cat[anchor_mask], categories[anchor_mask])
            loss = loss + cross(pol[anchor_mask], polarities[anchor_mask], weight=self.polarity_weights.to(pol.dtype))
            linked = anchor_mask & anchor_kinds.eq(0)
            if linked.any():
                loss = loss + cross(link[linked], links[linked])
        if pairs is not None:
            loss = loss + 0.5 * cross(self.pair_logits(hidden).reshape(-1, len(self.polarities) + 1), pairs.reshape(-1))
        return {"loss": loss, "logits": tag_logits}


def load_encoder(path, **options):
    """The encoder without the pooler a BERT-family model builds (the heads do not use it; it would
    stay untrained and be reported missing at every load)."""
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(path, trust_remote_code=False)
    extra = {"add_pooling_layer": False} if config.model_type in ("bert", "xlm-roberta", "roberta") else {}
    return AutoModel.from_pretrained(path, trust_remote_code=False, **extra, **options)


def polarity_weights(counts: list[int]) -> list[float]:
    """Inverse square-root frequency, mean 1: complaints (9% of the opinions) weigh about 3x praise."""
    raw = np.array([1 / math.sqrt(max(c, 1)) for c in counts])
    return (raw / raw.mean()).tolist()


@torch.no_grad()
def decode(model: AspectModel, tokenizer, texts: list[str], max_length: int, batch_size: int = 32,
           spans: bool = True, lexical=None) -> list[list[dict]]:
    """Each review's opinions as dicts (``aspect``/``opinion`` spans or None, category, polarity and
    their probabilities); ``spans=False`` (a model trained on per-category files): the pairs head.
    ``lexical`` (a ``models.char_crf.CharCrf`` with a ``weight``): each head's tag log-probabilities
    mixed with the character CRF's marginal ones before the best BIOES sequence is chosen."""
    model.eval()
    device = next(model.parameters()).device
    id2tag = dict(enumerate(TAGS))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    encoded = [encode_review(tokenizer, text, max_length) for text in texts]
    order = np.argsort([len(e.input_ids) for e in encoded], kind="stable")
    results: list[list[dict]] = [[] for _ in texts]
    for begin in range(0, len(order), batch_size):
        rows = order[begin:begin + batch_size]
        batch = collate([{"input_ids": encoded[i].input_ids} for i in rows], pad)
        hidden = model.hidden(batch["input_ids"].to(device), batch["attention_mask"].to(device))
        if not spans:
            probs = model.pair_logits(hidden).softmax(-1).float().cpu().numpy()
            for row, p in zip(rows, probs):
                for c, category in enumerate(model.categories):
                    best = int(p[c].argmax())
                    if best:
                        results[row].append({"aspect": None, "opinion": None, "category": category,
                                             "polarity": model.polarities[best - 1], "score": float(p[c, best])})
            continue
        tag_logits = model.tagger(hidden).float()
        if lexical is not None:
            tag_logits = tag_logits.log_softmax(-1)
        tag_logits = tag_logits.cpu().numpy()
        if lexical is not None and lexical.weight > 0:
            for j, i in enumerate(rows):
                window = encoded[i].window
                prior = lexical.log_marginals(texts[i])[window.starts]  # a head's first character (a Latin word: its first)
                tag_logits[j, window.heads] = (1 - lexical.weight) * tag_logits[j, window.heads] + lexical.weight * prior
        transitions = crf_scores(model)
        found = [merge([encoded[i].window], [tag_logits[j]], id2tag, transitions) for j, i in enumerate(rows)]
        anchor_rows = []
        for j, i in enumerate(rows):
            aspects = [(s.start, s.end) for s in found[j] if s.label == "A"]
            opinions = [(s.start, s.end) for s in found[j] if s.label == "O"]
            anchor_rows.append((aspects, opinions))
        width = max([len(a) + len(o) for a, o in anchor_rows] + [1])
        cwidth = max([len(a) for a, _ in anchor_rows] + [1])
        anchors = torch.zeros((len(rows), width, 2), dtype=torch.long)
        candidates = torch.zeros((len(rows), cwidth, 2), dtype=torch.long)
        candidate_mask = torch.zeros((len(rows), cwidth), dtype=torch.bool)
        for j, i in enumerate(rows):
            aspects, opinions = anchor_rows[j]
            for k, span in enumerate(opinions + aspects):
                anchors[j, k] = torch.tensor(encoded[i].positions(span))
            for k, span in enumerate(aspects):
                candidates[j, k] = torch.tensor(encoded[i].positions(span))
                candidate_mask[j, k] = True
        cat, pol, link = model.anchor_outputs(hidden, anchors.to(device), candidates.to(device), candidate_mask.to(device))
        cat, pol, link = (t.softmax(-1).float().cpu().numpy() for t in (cat, pol, link))
        for j, i in enumerate(rows):
            aspects, opinions = anchor_rows[j]
            linked = set()
            for k, opinion in enumerate(opinions):
                choice = int(link[j, k, :1 + len(aspects)].argmax())
                aspect = aspects[choice - 1] if choice else None
                linked.add(aspect)
                results[i].append(_opinion(aspect, opinion, cat[j, k], pol[j, k], model))
            for k, aspect in enumerate(aspects):  # an aspect no opinion is about: its opinion is implicit
                if aspect not in linked:
                    results[i].append(_opinion(aspect, None, cat[j, len(opinions) + k], pol[j, len(opinions) + k], model))
    return results


def _opinion(aspect, opinion, cat: np.ndarray, pol: np.ndarray, model: AspectModel) -> dict:
    c, p = int(cat.argmax()), int(pol.argmax())
    return {"aspect": aspect, "opinion": opinion, "category": model.categories[c], "polarity": model.polarities[p],
            "score": float(cat[c] * pol[p])}


def as_quads(opinions: list[dict]) -> list[Quad]:
    return [Quad(o["aspect"], o["opinion"], o["category"], o["polarity"]) for o in opinions]
