"""A CRF layer with learnt tag transitions over a token-classification encoder (``task.crf``).

The encoder scores each head (the units ``models/spans.py`` tags); ``pytorch-crf`` learns start,
end and tag-to-tag transition scores and trains on the log-likelihood of whole BIOES sequences
instead of per-head cross-entropy. Transitions BIOES forbids start at -1e4 and stay there in
effect. After training the layer leaves the model (a plain ``AutoModelForTokenClassification``
folder loads as before) and its scores travel in config.json (``ecomsft_crf``); decoding
(``spans.viterbi_bioes``) adds them to the encoder's scores.

Only the packing of each window's heads into the dense sequences the library expects is written
here: the heads sit at scattered positions (labels of -100 between them).
"""

from __future__ import annotations

import torch

from .spans import bioes_allowed

FORBIDDEN = -1e4


def attach_crf(model, tags: list[str]) -> None:
    """Give ``model`` a CRF layer over its tags, BIOES's forbidden moves scored ``FORBIDDEN``."""
    from torchcrf import CRF

    crf = CRF(len(tags), batch_first=True)
    allowed, can_start, can_end = (torch.as_tensor(a) for a in bioes_allowed(tags))
    with torch.no_grad():
        crf.transitions.masked_fill_(~allowed, FORBIDDEN)
        crf.start_transitions.masked_fill_(~can_start, FORBIDDEN)
        crf.end_transitions.masked_fill_(~can_end, FORBIDDEN)
    model.crf = crf


def pack_heads(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(emissions, tags, mask): each row's heads (labels other than -100) moved to its front, in
    order. A row without a head keeps one masked-in O at its front (the library needs the first
    step of every row)."""
    heads = labels != -100
    counts = heads.sum(dim=1)
    width = max(int(counts.max()), 1)
    order = torch.argsort((~heads).to(torch.int8), dim=1, stable=True)[:, :width]  # head positions first, in order
    emissions = torch.gather(logits, 1, order.unsqueeze(-1).expand(-1, -1, logits.size(-1)))
    tags = torch.gather(labels, 1, order).clamp(min=0)
    mask = torch.arange(width, device=labels.device).unsqueeze(0) < counts.clamp(min=1).unsqueeze(1)
    return emissions, tags, mask


def crf_loss(crf, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The mean negative log-likelihood of the rows' tag sequences."""
    emissions, tags, mask = pack_heads(logits.float(), labels)
    return -crf(emissions, tags, mask=mask, reduction="mean")


def crf_scores(model) -> dict[str, list] | None:
    """The learnt scores of ``model``'s CRF layer, as config.json keeps them; None without one."""
    crf = getattr(model, "crf", None)
    if crf is None:
        return None
    return {"start": crf.start_transitions.detach().tolist(), "end": crf.end_transitions.detach().tolist(),
            "transitions": crf.transitions.detach().tolist()}
