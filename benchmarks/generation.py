"""Generative SFT from scratch, offline: a small decoder initialised in code (no pretrained decoder
can be installed here) trained with task generation on one shop recipe, and judged on a held-out
dev split beside the most frequent answer. It shows that the pipeline learns and stops (every
answer ends by EOS); it says nothing of the quality a pretrained decoder would reach.

    .venv/bin/python benchmarks/generation.py [--recipe review-sentiment|title-attributes] [--train 20000] [--epochs 2]

review-sentiment reads ../shared/data/online_shopping_10_cats (review -> 好评/差评), title-attributes
../shared/data/ecommerce_ner_zh (title -> brand/product JSON; its dev file is the dev split).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from ecomsft.config import build_config
from ecomsft.data.recipes import convert
from ecomsft.models.decoders import build_decoder
from ecomsft.runner import run

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--recipe", default="review-sentiment", choices=["review-sentiment", "title-attributes"])
parser.add_argument("--train", type=int, default=20000, help="training rows (review-sentiment)")
parser.add_argument("--dev", type=int, default=2000, help="dev rows, held out (review-sentiment)")
parser.add_argument("--max-chars", type=int, default=100)
parser.add_argument("--epochs", type=float, default=2)
parser.add_argument("--lr", type=float, default=1e-3)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--hidden", type=int, default=256)
parser.add_argument("--layers", type=int, default=4)
parser.add_argument("--vocab", type=int, default=4000)
parser.add_argument("--max-length", type=int, default=96)
parser.add_argument("--max-new-tokens", type=int, default=32)
parser.add_argument("--output", default="runs/bench-generation")
args = parser.parse_args()

folder = Path(args.output)
folder.mkdir(parents=True, exist_ok=True)
if args.recipe == "review-sentiment":
    source = DATA / "online_shopping_10_cats" / "online_shopping_10_cats.csv"
    if not source.is_file():
        sys.exit(f"skipped: {source} is absent (the shared data sets are not part of a clone)")
    rows = convert("review-sentiment", str(source), text_column="review", label_column="label", max_chars=args.max_chars)
    rows = rows.drop_duplicates("prompt").sample(frac=1.0, random_state=0).reset_index(drop=True)
    train, dev = rows.iloc[:args.train], rows.iloc[args.train:args.train + args.dev]
else:
    source = DATA / "ecommerce_ner_zh"
    if not (source / "train.txt.bieos").is_file():
        sys.exit(f"skipped: {source} is absent (the shared data sets are not part of a clone)")
    train = convert("title-attributes", str(source / "train.txt.bieos"), max_chars=args.max_chars)
    dev = convert("title-attributes", str(source / "dev.txt.bieos"), max_chars=args.max_chars)
train.to_json(folder / "train.jsonl", orient="records", lines=True, force_ascii=False)
dev.to_json(folder / "dev.jsonl", orient="records", lines=True, force_ascii=False)

# The tokenizer learns from the training rows only.
model_dir = build_decoder(folder / "decoder", list(train["prompt"] + train["completion"]), architecture="qwen2",
                          vocab_size=args.vocab, hidden=args.hidden, layers=args.layers, heads=max(2, args.hidden // 64),
                          max_positions=max(128, args.max_length + args.max_new_tokens))
started = time.perf_counter()
result = run(build_config(None, {
    "task.type": "generation", "data.train": str(folder / "train.jsonl"), "data.test": str(folder / "dev.jsonl"),
    "data.valid_ratio": 0.05, "model.name": str(model_dir), "model.max_length": args.max_length,
    "training.epochs": args.epochs, "training.lr": args.lr, "training.batch_size": args.batch_size,
    "training.warmup_ratio": 0.05, "training.weight_decay": 0.0, "training.progress_bar": False,
    "task.max_new_tokens": args.max_new_tokens, "task.eval_samples": None, "output": str(folder / "run"), "overwrite": True}))
seconds = time.perf_counter() - started
m = result.metrics
log = json.loads((result.run_dir / "training_log.json").read_text(encoding="utf-8"))
losses = [e["loss"] for e in log if "loss" in e]
keys = ("accuracy", "f1_macro", "unparseable", "valid_json", "field_f1", "exact_match", "rouge_l", "chrf", "stopped_by_eos", "loss")
print(json.dumps({
    "recipe": args.recipe, "sizes": m["data"]["sizes"], "parameters": m["model"]["parameters"], "steps": m["training"]["steps"],
    "train_seconds": round(m["timings"]["train_seconds"]), "total_seconds": round(seconds),
    "training_loss_first_last": [round(losses[0], 3), round(float(np.mean(losses[-5:])), 3)] if losses else None,
    "dev": {k: round(v, 4) if isinstance(v, float) else v for k, v in m["test"].items() if k in keys},
    "most_frequent_answer": {k: round(v, 4) if isinstance(v, float) else v for k, v in m["baselines"]["most_frequent_answer"].items()
                             if k in keys or k == "answer"},
    "prompts_cut": m["training"]["prompts_cut"],
}, ensure_ascii=False, indent=1), flush=True)
