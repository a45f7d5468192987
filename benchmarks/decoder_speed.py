"""Training speed of a pretrained decoder on a label recipe, on this CPU: where the LM head's logits
are computed. Gemma 3 270M's head has 262,144 rows; an answer is a few tokens after a long prompt.

Variants, each timed over the same real batches of the review-sentiment recipe through the
generation task's own TRL trainer (LoRA on every linear layer):
  full-logits     the model's own loss: logits for every position and the whole vocabulary
  trl-fused       TRL's SFTTrainer loss: a chunked head over every position, with entropy and top-1
                  accuracy of each for its logs
  answer-head     ecomsft's training loss (training/sft.py): the head only where the loss is
  answer-head+gc  the same with gradient checkpointing
  answer-vocab    the head only where the loss is, and only over the tokens that answers use
  upper-half      answer-head with the LoRA weights of the lower half of the layers frozen: the
                  backward pass stops halfway down

    .venv/bin/python benchmarks/decoder_speed.py [--model gemma3-270m] [--batch-size 8] [--steps 3]
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from ecomsft.config import build_config
from ecomsft.data.recipes import convert
from ecomsft.models.resolve import resolve_model
from ecomsft.tasks import get_task
from trl import SFTTrainer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "online_shopping_10_cats" / "online_shopping_10_cats.csv"
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--model", default="gemma3-270m")
parser.add_argument("--batch-size", type=int, default=8)
parser.add_argument("--steps", type=int, default=3, help="timed steps per variant (after one warm-up step)")
parser.add_argument("--max-chars", type=int, default=100)
parser.add_argument("--variants", default="full-logits,trl-fused,answer-head,answer-head+gc,answer-vocab,upper-half",
                    help="comma-separated, timed in this order (full-logits first: the ratios are to it)")
args = parser.parse_args()
if not DATA.is_file():
    sys.exit(f"skipped: {DATA} is absent (the shared data sets are not part of a clone)")

folder = Path(tempfile.mkdtemp(prefix="decoder-speed-"))
rows = convert("review-sentiment", str(DATA), text_column="review", label_column="label", max_chars=args.max_chars)
rows.sample(n=args.batch_size * (args.steps + 1) * 2, random_state=0).to_json(folder / "train.jsonl", orient="records",
                                                                             lines=True, force_ascii=False)
cfg = build_config(None, {"task.type": "generation", "data.train": str(folder / "train.jsonl"), "data.valid_ratio": 0.0,
                          "data.test_ratio": 0.0, "model.name": args.model, "model.max_length": 128,
                          "training.batch_size": args.batch_size, "training.lora_r": 16, "training.lora_alpha": 32,
                          "training.progress_bar": False, "output": str(folder / "run")})
task = get_task("generation")(cfg)
task.load_data()
model = task.prepare_model(task.build_model(resolve_model(args.model)), 0)
trainer = task.build_trainer(model, folder, None)
trainer.current_gradient_accumulation_steps = 1  # set by the training loop, which is not run here
batches = [trainer._prepare_inputs(b) for b, _ in zip(trainer.get_train_dataloader(), range(args.steps + 1))]
tokens = sum(int(b["attention_mask"].sum()) for b in batches[1:])
# The tokens answers use: every label of these batches (the answers and the EOS that ends them).
answer_ids = sorted({int(i) for b in batches for i in b["labels"][b["labels"] != -100]})


def full_logits(model, inputs, **_):
    return model(**inputs).loss  # transformers' own loss over the (batch, length, vocabulary) logits


def trl_fused(model, inputs, **kw):
    return SFTTrainer.compute_loss(trainer, model, inputs, **kw)


def answer_vocab(model, inputs, **_):
    """Hidden states of the positions whose next token is in the loss, projected onto the rows
    of the answer tokens only; labels renumbered into that small vocabulary."""
    base = model.get_base_model()
    hidden = base.model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).last_hidden_state
    labels = inputs["labels"][:, 1:]
    keep = labels != -100
    rows = torch.tensor(answer_ids)
    index = torch.full((base.config.vocab_size,), -100, dtype=torch.long)
    index[rows] = torch.arange(len(rows))
    logits = hidden[:, :-1][keep] @ base.lm_head.weight[rows].T
    return torch.nn.functional.cross_entropy(logits, index[labels[keep]])


def lower_half_frozen(frozen: bool) -> None:
    """What training.lora_layers does to the backward pass: no trainable weight below the upper
    half, so autograd stops there (the lower adapters still run forward: a slight underestimate)."""
    layers = model.get_base_model().config.num_hidden_layers
    for name, weight in model.named_parameters():
        if "lora_" in name and int(name.split(".layers.")[1].split(".")[0]) < layers // 2:
            weight.requires_grad_(not frozen)


def timed(name: str, loss=None, checkpointing: bool = False, upper_half: bool = False) -> dict:
    own = trainer.compute_loss
    lower_half_frozen(upper_half)
    if loss is not None:
        trainer.compute_loss = lambda model, inputs, **kw: loss(model, inputs, **kw)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.train()
    trainer.training_step(model, batches[0])  # warm-up
    started = time.perf_counter()
    for batch in batches[1:]:
        trainer.training_step(model, batch)
    seconds = time.perf_counter() - started
    trainer.compute_loss = own
    if checkpointing:
        model.gradient_checkpointing_disable()
        model.disable_input_require_grads()  # else the embeddings' outputs keep asking for gradients
    lower_half_frozen(False)
    result = {"variant": name, "samples_per_second": round(args.batch_size * args.steps / seconds, 3),
              "tokens_per_second": round(tokens / seconds, 1), "seconds_per_step": round(seconds / args.steps, 2)}
    print(json.dumps(result), flush=True)
    return result


VARIANTS = {"full-logits": dict(loss=full_logits), "trl-fused": dict(loss=trl_fused), "answer-head": {},
            "answer-head+gc": dict(checkpointing=True), "answer-vocab": dict(loss=answer_vocab),
            "upper-half": dict(upper_half=True)}
results = [timed(name, **VARIANTS[name]) for name in args.variants.split(",")]
base = results[0]["samples_per_second"]
print(json.dumps({"model": args.model, "threads": torch.get_num_threads(), "batch_size": args.batch_size,
                  "mean_tokens_per_row": round(tokens / (args.batch_size * args.steps), 1), "answer_vocabulary": len(answer_ids),
                  f"vs_{results[0]['variant']}": {r["variant"]: round(r["samples_per_second"] / base, 2) for r in results}}, ensure_ascii=False))
