"""Training speed on a CUDA GPU: ecomsft's defaults against a plain transformers.Trainer (issue "GPU-ready").

One process, the same data (reviews, max length 128, one epoch), rows in turn:
  plain Trainer at its defaults (fp32, batch 32), plain Trainer with bf16, then ecomsft at its GPU
  defaults and with bf16 forced; the same for a BERT-base-shaped model, which sets where bf16 starts
  to pay (training.trainer.GPU_BF16_FROM_PARAMETERS); then a torch.profiler table of ecomsft's
  default step (host work and device syncs per step).
Models carry random weights (speed only) in the shape of the bundled MiniLM (22M parameters) and of
BERT-base (110M), with the bundled MiniLM's tokenizer. Printed per row: samples/s, the ratio to the
plain Trainer's default, and the useful training FLOP/s as a share of the measured bf16 matmul peak.

    python benchmarks/gpu_train_speed.py --data reviews.csv --tokenizer TOKENIZER_FOLDER [--rows 20000]
        [--shapes minilm,bert-base] [--no-profile] [--pretrained MODEL_FOLDER --pretrained-epochs 2]
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path

from _measure import forward_flops


def bf16_peak_tflops(n: int = 8192) -> float:
    import torch

    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(10):
        a @ b
    torch.cuda.synchronize()
    return 10 * 2 * n**3 / (time.perf_counter() - started) / 1e12


def make_model(tokenizer_dir: str, shape: str, folder: Path) -> str:
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    sizes = {"minilm": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
             "bert-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)}
    config = BertConfig(vocab_size=len(tokenizer), max_position_embeddings=512, num_labels=2, **sizes[shape])
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def plain_trainer(model_dir: str, texts, labels, args, folder: Path, bf16: bool) -> float:
    """The script a user would write: tokenize, DataCollatorWithPadding, Trainer at its defaults."""
    from datasets import Dataset
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer,
                              TrainingArguments)

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    data = Dataset.from_dict({"text": texts, "label": labels}).map(
        lambda b: tokenizer(b["text"], truncation=True, max_length=args.max_length), batched=True, remove_columns=["text"])
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)
    trainer = Trainer(model=model, args=TrainingArguments(
        output_dir=str(folder), per_device_train_batch_size=32, num_train_epochs=1, learning_rate=5e-5, bf16=bf16,
        report_to="none", save_strategy="no", disable_tqdm=True, logging_steps=50),
        train_dataset=data, data_collator=DataCollatorWithPadding(tokenizer))
    started = time.perf_counter()
    trainer.train()
    return len(data) / (time.perf_counter() - started)


def ecomsft_row(model_dir: str, files: dict, folder: Path, accuracy: bool = False, **overrides):
    """(train-loop samples/s, whole-run seconds, precision) of ecomsft.train at its defaults plus
    ``overrides`` (and the test accuracy with ``accuracy``)."""
    import ecomsft

    started = time.perf_counter()
    values = {"data.train": files["train"], "data.valid": files["valid"], "data.test": files["test"],
              "model.name": model_dir, "model.extend_vocab": "never", "model.max_length": 128, "training.epochs": 1,
              "training.progress_bar": False, "output": str(folder), "overwrite": True, "baseline": False, **overrides}
    result = ecomsft.train(values)
    timings = result.metrics["timings"]
    row = (timings["train_samples_per_second"], time.perf_counter() - started, result.metrics["training"]["precision"])
    return (*row, result.metrics["test"]["accuracy"]) if accuracy else row


def pretrained_rows(model_dir: str, files: dict, folder: Path, epochs: int) -> None:
    """Test accuracy and speed of a pretrained model at the default batch and at batch 128 (the
    learning rate scaled with it): what a larger GPU batch costs in accuracy, if anything."""
    for label, extra in (("batch 32, lr 5e-5 (default)", {}),
                         ("batch 128, lr 2e-4", {"training.batch_size": 128, "training.lr": 2e-4})):
        speed, seconds, precision, acc = ecomsft_row(model_dir, files, folder, accuracy=True,
                                                     **{"training.epochs": epochs, **extra})
        print(f"pretrained {label:<30} {epochs} epochs  test accuracy {acc:.4f}  {speed:8.0f} samples/s  "
              f"{precision}  whole run {seconds:6.1f} s", flush=True)


def profile_steps(model_dir: str, files: dict, folder: Path, steps: int = 60) -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        ecomsft_row(model_dir, files, folder, **{"training.max_steps": steps, "training.eval_strategy": "steps",
                                                 "training.eval_steps": 10_000})
    table = prof.key_averages()
    print(table.table(sort_by="self_cpu_time_total", row_limit=18))
    syncs = {e.key: e.count for e in table if e.key in ("cudaStreamSynchronize", "cudaDeviceSynchronize",
                                                         "aten::item", "aten::_local_scalar_dense", "cudaMemcpyAsync")}
    print(f"per {steps} steps: {json.dumps(syncs)}")
    torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="csv with text,label (label: 0/1 or names)")
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--out", default="/tmp/gpu_train_speed")
    parser.add_argument("--shapes", default="minilm,bert-base", help="model shapes for the speed rows")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--quick", action="store_true", help="every other recipe row (plain default, ecomsft default, batch 128)")
    parser.add_argument("--pretrained", help="a pretrained model folder (fp32) for accuracy rows by batch size")
    parser.add_argument("--pretrained-epochs", type=int, default=2)
    args = parser.parse_args()
    import pandas as pd
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frame = pd.read_csv(args.data).dropna().sample(frac=1.0, random_state=0)
    frame["label"] = frame["label"].astype(str)
    train, valid, test = frame[:args.rows], frame[args.rows:args.rows + 2000], frame[args.rows + 2000:args.rows + 4000]
    files = {}
    for name, part in {"train": train, "valid": valid, "test": test}.items():
        files[name] = str(out / f"{name}.csv")
        part.to_csv(files[name], index=False)
    names = sorted(frame["label"].unique())
    labels = [names.index(v) for v in train["label"]]
    peak = bf16_peak_tflops()
    print(f"{torch.cuda.get_device_name()}: bf16 matmul peak measured {peak:.0f} TFLOP/s; {len(train)} training rows")
    results = []
    if args.pretrained:
        pretrained_rows(args.pretrained, files, out / "pretrained", args.pretrained_epochs)
    shapes = args.shapes.split(",") if args.shapes else []
    for shape, rows in (("minilm", len(train)), ("bert-base", min(len(train), 4000))):
        if shape not in shapes:
            continue
        model_dir = make_model(args.tokenizer, shape, out / shape)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        lengths = [len(ids) for ids in tokenizer(train["text"].tolist()[:rows], truncation=True, max_length=args.max_length)["input_ids"]]
        flops_per_sample = 3 * forward_flops(model, lengths) / len(lengths)
        params = sum(p.numel() for p in model.parameters())
        del model
        texts = train["text"].tolist()[:rows]
        base = None
        sub = {k: v for k, v in files.items()}
        if rows < len(train):
            sub["train"] = str(out / f"train-{rows}.csv")
            train[:rows].to_csv(sub["train"], index=False)
        for label, fn in (
            ("plain Trainer, defaults (fp32, batch 32)", lambda: (plain_trainer(model_dir, texts, labels[:rows], args, out / "plain", False), None, "fp32")),
            ("plain Trainer, bf16=True", lambda: (plain_trainer(model_dir, texts, labels[:rows], args, out / "plain", True), None, "bf16")),
            ("ecomsft default", lambda: ecomsft_row(model_dir, sub, out / "run")),
            ("ecomsft, precision bf16", lambda: ecomsft_row(model_dir, sub, out / "run", **{"training.precision": "bf16"})),
            ("ecomsft default, batch 128, lr 2e-4", lambda: ecomsft_row(model_dir, sub, out / "run", **{"training.batch_size": 128, "training.lr": 2e-4})),
        )[:6 if shape == "minilm" else 4][::2 if args.quick else 1]:
            try:
                speed, seconds, precision = fn()
            except Exception as err:  # a row that fails is reported, the others still run
                print(f"{shape:<10} {label:<42} FAILED: {type(err).__name__}: {str(err)[:300]}", flush=True)
                continue
            base = base or speed
            share = speed * flops_per_sample / (peak * 1e12)
            whole = f"  whole run {seconds:6.1f} s" if seconds else ""
            print(f"{shape:<10} {label:<42} {speed:8.0f} samples/s  {speed / base:5.2f}x  {precision:<5} "
                  f"{share:6.2%} of bf16 peak  epoch {rows / speed:5.1f} s{whole}", flush=True)
            results.append({"model": shape, "parameters": params, "row": label, "samples_per_second": speed,
                            "ratio": speed / base, "precision": precision, "peak_share": share, "whole_run_s": seconds})
            gc.collect()
            torch.cuda.empty_cache()
    (out / "results.json").write_text(json.dumps(results, indent=1))
    if not args.no_profile:
        profile_steps(make_model(args.tokenizer, "minilm", out / "minilm"), files, out / "run")


if __name__ == "__main__":
    main()
