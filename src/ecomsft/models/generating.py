"""Generating with a decoder, as training's evaluation and the reader both do it: prompts formatted
by the chat template and cut from the left to fit a token budget, stop tokens, and batched greedy or
sampled generation that reports whether each output stopped by itself (EOS) within its budget."""

from __future__ import annotations

import copy

from ..errors import EcomsftError

# End-of-turn tokens of common chat templates: generation stops at any that the vocabulary has.
END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>")


def render_ids(tokenizer, turns: list[dict], generation_prompt: bool) -> list[int]:
    text = tokenizer.apply_chat_template(turns, tokenize=False, add_generation_prompt=generation_prompt)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def fit_turns(tokenizer, turns: list[dict], budget: int, generation_prompt: bool) -> tuple[list[dict] | None, bool]:
    """``turns`` cut to at most ``budget`` tokens from the left of the prompt: the oldest exchanges
    go first, then the start of the first user turn; the system turn and the last assistant turn
    (the completion, when training) are never cut. Returns (turns or None when they cannot fit,
    whether anything was cut)."""
    if len(render_ids(tokenizer, turns, generation_prompt)) <= budget:
        return turns, False
    turns = copy.deepcopy(turns)
    head = 1 if turns[0]["role"] == "system" else 0
    last_user = max(i for i, t in enumerate(turns) if t["role"] == "user")
    while last_user > head and len(render_ids(tokenizer, turns, generation_prompt)) > budget:
        del turns[head]  # the oldest turn of the dialogue
        last_user -= 1
    for _ in range(8):  # re-rendering may merge tokens differently; a few passes settle it
        over = len(render_ids(tokenizer, turns, generation_prompt)) - budget
        if over <= 0:
            return turns, True
        content = tokenizer(turns[head]["content"], add_special_tokens=False)["input_ids"]
        if over >= len(content):
            if not content:
                return None, True
            turns[head]["content"] = ""
        else:
            # A cut inside a character's bytes decodes to U+FFFD, which would come back longer.
            turns[head]["content"] = tokenizer.decode(content[over:], skip_special_tokens=True).lstrip("\ufffd")
    return (turns, True) if len(render_ids(tokenizer, turns, generation_prompt)) <= budget else (None, True)


def stop_ids(tokenizer) -> list[int]:
    ids = {tokenizer.eos_token_id}
    vocab = tokenizer.get_vocab()
    ids.update(vocab[t] for t in END_OF_TURN if t in vocab)
    return sorted(i for i in ids if i is not None and i != tokenizer.pad_token_id)


def prompt_ids(tokenizer, turns: list[dict], budget: int) -> tuple[list[int], bool]:
    """The token ids of a prompt (its turns and the generation prompt of the chat template), cut
    from the left to ``budget`` tokens; and whether it was cut."""
    kept, cut = fit_turns(tokenizer, turns, budget, generation_prompt=True)
    if kept is None:
        raise EcomsftError(f"the prompt cannot be cut to {budget} tokens (its system turn alone is longer)")
    return render_ids(tokenizer, kept, True), cut


def until_stop(new: list[int], stops: list[int], pad: int | None) -> tuple[list[int], bool]:
    """Generated ids up to the first stop token (left out), and whether there was one."""
    end = next((k for k, token in enumerate(new) if token in stops), None)
    return (new[:end], True) if end is not None else ([t for t in new if t != pad], False)


def sampling_options(do_sample: bool = False, temperature: float = 1.0, top_p: float = 1.0, top_k: int = 50) -> dict:
    return {"do_sample": True, "temperature": temperature, "top_p": top_p, "top_k": top_k} if do_sample else {"do_sample": False}


def generate_ids(model, tokenizer, prompts: list[list[int]], *, max_new_tokens: int, batch_size: int = 8,
                 sampling: dict | None = None) -> list[tuple[list[int], bool]]:
    """(new token ids without the stop token, stopped by itself) per prompt, in the order given;
    prompts are sorted by length so that each batch pads (on the left) to little."""
    import torch

    stops = stop_ids(tokenizer)
    device = next(model.parameters()).device
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: list = [None] * len(prompts)
    model.eval()
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        width = max(len(prompts[i]) for i in idx)
        ids = torch.full((len(idx), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            ids[row, width - len(prompts[i]):] = torch.tensor(prompts[i])
            mask[row, width - len(prompts[i]):] = 1
        with torch.inference_mode():
            generated = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens,
                                       eos_token_id=stops, pad_token_id=tokenizer.pad_token_id,
                                       **(sampling or {"do_sample": False})).cpu()
        for row, i in enumerate(idx):
            out[i] = until_stop(generated[row, width:].tolist(), stops, tokenizer.pad_token_id)
    return out
