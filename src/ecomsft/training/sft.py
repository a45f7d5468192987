"""TRL's ``SFTTrainer`` with the LM head applied only where the loss is.

A label-style answer is a few tokens after a prompt of dozens, and a multilingual decoder's head
is huge (Gemma 3: 262,144 rows, more multiply-adds per token than its 18 layers together). TRL's
own training loss runs a chunked head over every position and also computes the entropy and
top-1 accuracy of every position for its logs; transformers' ``logits_to_keep`` keeps the same
positions for every row of a batch, and answers sit at different positions in right-padded rows.
Neither library computes the head for the labelled positions alone, so this does, by hand: the
decoder body's hidden states, gathered where the next token is in the loss, then the head and
cross-entropy on those rows only (the model's own final-logit soft-capping applied, as Gemma's
forward does). Measured in ``benchmarks/decoder_speed.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel
from trl import SFTTrainer

BODY_INPUTS = ("input_ids", "attention_mask", "position_ids")


def answer_positions_loss(model, inputs: dict, num_items_in_batch=None) -> torch.Tensor | None:
    """Token cross-entropy of a causal LM over the labelled positions only, or None when the
    model is not one this can read (wrapped for DDP, a model without a separate decoder body):
    then the caller's own loss applies. With ``num_items_in_batch`` the sum is divided by it, as
    transformers' losses do under gradient accumulation; otherwise the mean."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not isinstance(base, PreTrainedModel) or not hasattr(base, "get_decoder") or base.get_output_embeddings() is None:
        return None
    body = base.get_decoder()
    if body is None or body is base:
        return None
    labels = inputs["labels"]
    hidden = body(**{k: inputs[k] for k in BODY_INPUTS if k in inputs}, use_cache=False).last_hidden_state
    target = labels[:, 1:]
    keep = target != -100
    logits = base.get_output_embeddings()(hidden[:, :-1][keep])
    cap = getattr(base.config.get_text_config(), "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    total = F.cross_entropy(logits.float(), target[keep], reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else keep.sum().clamp(min=1)
    return total / count


class AnswerHeadSFTTrainer(SFTTrainer):
    """Training steps and the held-out loss use ``answer_positions_loss``; a caller that wants the
    logits, and a model it cannot read, get TRL's own."""

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not return_outputs:
            loss = answer_positions_loss(model, inputs, num_items_in_batch)
            if loss is not None:
                # As TRL: num_items_in_batch counts every rank's tokens, and DDP averages the gradients.
                if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                    loss = loss * (self.accelerator.num_processes // self.get_tp_size())
                return loss
        return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
