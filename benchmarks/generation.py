"""Generative SFT on one shop recipe, judged on held-out dev rows beside the most frequent answer:
a decoder built in code and trained from scratch (default), or a pretrained one such as the bundled
Gemma 3 270M (``--model gemma3-270m``, LoRA on every linear layer). With ``--prompted K`` the base
model is also asked with K training examples in its prompt and no training (what SFT adds); after
training, ``--timed N`` dev prompts are generated again through ``Generator`` (KV cache) and timed.

    .venv/bin/python benchmarks/generation.py [--recipe review-sentiment|title-attributes|category] [--train 20000]
        [--model scratch|gemma3-270m|FOLDER] [--lora-r 16] [--group-by-length] [--prompted 4] [--timed 100]

review-sentiment and category read ../shared/data/online_shopping_10_cats (review -> 好评/差评, or its
category), title-attributes ../shared/data/ecommerce_ner_zh (title -> brand/product JSON; its dev file
is the dev split).
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ecomsft.config import build_config
from ecomsft.data.recipes import convert
from ecomsft.models.decoders import build_decoder
from ecomsft.runner import run

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--recipe", default="review-sentiment", choices=["review-sentiment", "title-attributes", "category"])
parser.add_argument("--model", default="scratch", help="scratch (built in code), gemma3-270m, or a decoder's name or folder")
parser.add_argument("--lora-r", type=int, default=None, help="LoRA rank (default: 16 for a pretrained model, none from scratch)")
parser.add_argument("--lora-layers", type=int, default=None, help="LoRA in the last N layers only (default: every layer)")
parser.add_argument("--group-by-length", action="store_true", help="training.group_by_length true: batches of similar "
                    "lengths, less padding (default: at random, as the task's default)")
parser.add_argument("--prompted", type=int, default=0, help="also ask the untrained model with this many examples")
parser.add_argument("--prompted-rows", type=int, default=500, help="dev rows the prompted model answers")
parser.add_argument("--timed", type=int, default=0, help="dev prompts generated again with the finished run, timed")
parser.add_argument("--encoder", default=None, help="label recipes: also fine-tune this encoder (e.g. me5) as a classifier "
                    "on the same rows, beside tfidf-lr")
parser.add_argument("--encoder-epochs", type=float, default=3)
parser.add_argument("--encoder-only", action="store_true", help="only the encoder row (the decoder is not trained)")
parser.add_argument("--train", type=int, default=20000, help="training rows (review-sentiment, category: after the seeded shuffle; title-attributes: the first N titles)")
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
if args.recipe in ("review-sentiment", "category"):
    source = DATA / "online_shopping_10_cats" / "online_shopping_10_cats.csv"
    if not source.is_file():
        sys.exit(f"skipped: {source} is absent (the shared data sets are not part of a clone)")
    label = "label" if args.recipe == "review-sentiment" else "cat"
    rows = convert(args.recipe, str(source), text_column="review", label_column=label, max_chars=args.max_chars)
    rows = rows.drop_duplicates("prompt").sample(frac=1.0, random_state=0).reset_index(drop=True)
    train, dev = rows.iloc[:args.train], rows.iloc[args.train:args.train + args.dev]
else:
    source = DATA / "ecommerce_ner_zh"
    if not (source / "train.txt.bieos").is_file():
        sys.exit(f"skipped: {source} is absent (the shared data sets are not part of a clone)")
    train = convert("title-attributes", str(source / "train.txt.bieos"), max_chars=args.max_chars)
    train = train.iloc[:args.train]
    dev = convert("title-attributes", str(source / "dev.txt.bieos"), max_chars=args.max_chars)
train.to_json(folder / "train.jsonl", orient="records", lines=True, force_ascii=False)
dev.to_json(folder / "dev.jsonl", orient="records", lines=True, force_ascii=False)

kind = "json" if args.recipe == "title-attributes" else "label"
labels = sorted(set(train["completion"])) if kind == "label" else None


def prompted(model_name: str, shots: int) -> dict:
    """The untrained model asked with ``shots`` training rows as examples (a plain-text prompt, no
    chat template: a base model continues text), greedy, answers cut at the first new line."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ecomsft.evaluation.generation import generation_report
    from ecomsft.models.generating import generate_ids
    from ecomsft.models.resolve import resolve_model

    path = resolve_model(model_name)
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModelForCausalLM.from_pretrained(path)
    rng = np.random.default_rng(0)
    if kind == "json":
        examples = train.iloc[rng.choice(len(train), shots, replace=False)]
    else:  # every answer shown at least once, the same number of times each
        each = max(1, -(-shots // len(labels)))
        examples = pd.concat([train[train["completion"] == answer].sample(min(each, (train["completion"] == answer).sum()),
                                                                          random_state=0) for answer in labels])
        examples = examples.sample(frac=1, random_state=0)
    context = "".join(f"{p}\n答案：{c}\n\n" for p, c in zip(examples["prompt"], examples["completion"]))
    picked = dev.iloc[:args.prompted_rows]
    ids = [tokenizer(context + p + "\n答案：")["input_ids"] for p in picked["prompt"]]
    started = time.perf_counter()
    found = generate_ids(model, tokenizer, ids, max_new_tokens=args.max_new_tokens, batch_size=8)
    answers = [tokenizer.decode(new, skip_special_tokens=True).strip().split("\n")[0] for new, _ in found]
    metrics, _ = generation_report(list(picked["completion"]), answers, kind, labels)
    return {"examples": len(examples), "rows": len(picked), "seconds": round(time.perf_counter() - started),
            **{k: round(v, 4) for k, v in metrics.items() if isinstance(v, float) and k in KEYS}}


KEYS = ("accuracy", "f1_macro", "unparseable", "valid_json", "field_f1", "exact_match", "rouge_l", "chrf", "stopped_by_eos", "loss")
if args.model == "scratch":  # the tokenizer learns from the training rows only
    model_name = str(build_decoder(folder / "decoder", list(train["prompt"] + train["completion"]), architecture="qwen2",
                                   vocab_size=args.vocab, hidden=args.hidden, layers=args.layers,
                                   heads=max(2, args.hidden // 64), max_positions=max(128, args.max_length + args.max_new_tokens)))
    lora = args.lora_r or 0
else:
    model_name, lora = args.model, 16 if args.lora_r is None else args.lora_r
def encoder_row(name: str) -> dict:
    """The same training and dev rows as texts and labels (the recipe's prompt wording taken off),
    fine-tuned as a classifier; tfidf-lr is its run's own baseline."""
    from ecomsft.data.recipes import RECIPES

    head = RECIPES[args.recipe].prompt.split("{text}")[0]
    for split, part in (("train", train), ("dev", dev)):
        pd.DataFrame({"text": part["prompt"].str.removeprefix(head), "label": part["completion"]}).to_csv(
            folder / f"{split}-texts.csv", index=False)
    began = time.perf_counter()
    done = run(build_config(None, {
        "data.train": str(folder / "train-texts.csv"), "data.test": str(folder / "dev-texts.csv"), "data.valid_ratio": 0.05,
        "model.name": name, "model.max_length": 128, "training.epochs": args.encoder_epochs, "training.lr": 1e-4,
        "training.batch_size": 32, "training.progress_bar": False, "output": str(folder / f"run-{name}"), "overwrite": True}))
    m = done.metrics
    return {"encoder": m["model"]["name"], "epochs": args.encoder_epochs, "accuracy": round(m["test"]["accuracy"], 4),
            "f1_macro": round(m["test"]["f1_macro"], 4), "train_seconds": round(m["timings"]["train_seconds"]),
            "total_seconds": round(time.perf_counter() - began), "tfidf_lr": {
                "accuracy": round(m["baseline_tfidf_lr"]["accuracy"], 4), "f1_macro": round(m["baseline_tfidf_lr"]["f1_macro"], 4)}}


if args.encoder:
    if kind != "label":
        sys.exit("--encoder: label recipes only (review-sentiment, category)")
    print(json.dumps({"encoder_on_the_same_rows": encoder_row(args.encoder)}, ensure_ascii=False), flush=True)
    if args.encoder_only:
        sys.exit(0)
base = prompted(model_name, args.prompted) if args.prompted else None
if base:
    print(json.dumps({"prompted_without_training": base}, ensure_ascii=False), flush=True)
started = time.perf_counter()
result = run(build_config(None, {
    "task.type": "generation", "data.train": str(folder / "train.jsonl"), "data.test": str(folder / "dev.jsonl"),
    "data.valid_ratio": 0.05, "model.name": model_name, "model.max_length": args.max_length,
    "training.lora_r": lora, "training.lora_layers": args.lora_layers, "training.lora_alpha": 2 * lora if lora else 16, "training.lora_dropout": 0.05 if lora else 0.0,
    "training.epochs": args.epochs, "training.lr": args.lr, "training.batch_size": args.batch_size,
    "training.warmup_ratio": 0.05, "training.weight_decay": 0.0, "training.progress_bar": False,
    "training.group_by_length": args.group_by_length, "task.max_new_tokens": args.max_new_tokens, "task.eval_samples": None, "output": str(folder / "run"), "overwrite": True}))
seconds = time.perf_counter() - started
m = result.metrics
log = json.loads((result.run_dir / "training_log.json").read_text(encoding="utf-8"))
losses = [e["loss"] for e in log if "loss" in e]
keys = KEYS
timed = None
if args.timed:  # the finished run, as a user would call it: Generator (KV cache on), greedy
    from ecomsft.readers.generation.reader import Generator

    generator = Generator(result.run_dir, batch_size=8)
    prompts = [p for p in dev["prompt"].iloc[:args.timed]]
    generator.generate(prompts[:8])  # warm-up
    began = time.perf_counter()
    answers = generator.generate(prompts)
    spent = time.perf_counter() - began
    timed = {"prompts": len(prompts), "seconds": round(spent, 2), "prompts_per_second": round(len(prompts) / spent, 2),
             "new_tokens_per_second": round(sum(a["new_tokens"] for a in answers) / spent, 1),
             "stopped_by_eos": float(np.mean([a["stopped"] for a in answers]))}
print(json.dumps({
    "recipe": args.recipe, "model": args.model, "lora_r": lora, "lora_layers": args.lora_layers, "group_by_length": args.group_by_length, "sizes": m["data"]["sizes"], "parameters": m["model"]["parameters"], "steps": m["training"]["steps"],
    "train_seconds": round(m["timings"]["train_seconds"]), "total_seconds": round(seconds),
    "training_loss_first_last": [round(losses[0], 3), round(float(np.mean(losses[-5:])), 3)] if losses else None,
    "dev": {k: round(v, 4) if isinstance(v, float) else v for k, v in m["test"].items() if k in keys},
    "most_frequent_answer": {k: round(v, 4) if isinstance(v, float) else v for k, v in m["baselines"]["most_frequent_answer"].items()
                             if k in keys or k == "answer"},
    "prompts_cut": m["training"]["prompts_cut"], "train_samples_per_second": round(m["timings"].get("train_samples_per_second") or 0, 2),
    "prompted_without_training": base, "timed_generation": timed,
}, ensure_ascii=False, indent=1), flush=True)
