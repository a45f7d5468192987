"""The GPU path of task generation in one short run: bf16 + LoRA (QLoRA too where bitsandbytes is
installed) on a small decoder built in code, or on a pretrained one such as the bundled Gemma 3 270M
(``--model gemma3-270m``); prints the training loss, the accuracy of the parsed answers on held-out
rows, whether every answer stopped by EOS, training samples/s and the peak GPU memory. For a machine
with a CUDA GPU (the test suite never needs one; ``--cpu`` runs the same path in fp32 as a smoke test):

    .venv/bin/python benchmarks/gpu_generation.py [--model scratch|gemma3-270m|FOLDER|FILE.gguf] [--qlora]
        [--data rows.jsonl] [--rows 2000] [--epochs 2] [--output /tmp/gpu-generation]

``--data``: prompt/completion rows with label answers (``ecomsft data recipe review-sentiment
reviews.csv --output rows.jsonl``); without it, 2,000 synthetic review rows. A tenth of the rows is
held out as the test split.
"""

import argparse
import json
import random
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from ecomsft.config import build_config
from ecomsft.models.decoders import build_decoder
from ecomsft.runner import run

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--model", default="scratch", help="scratch (built in code), gemma3-270m, or a decoder's folder or .gguf file")
parser.add_argument("--data", type=Path, default=None, help="prompt/completion JSONL rows (default: synthetic reviews)")
parser.add_argument("--rows", type=int, default=2000, help="rows used (train + held-out tenth)")
parser.add_argument("--epochs", type=float, default=None, help="default: 2 from scratch, 1 pretrained")
parser.add_argument("--lr", type=float, default=None, help="default: 2e-3 from scratch, 2e-4 pretrained")
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--max-length", type=int, default=128)
parser.add_argument("--lora-r", type=int, default=16)
parser.add_argument("--qlora", action="store_true", help="4-bit base (bitsandbytes) under the LoRA adapters")
parser.add_argument("--cpu", action="store_true", help="no GPU: the same path in fp32 (a smoke test, not a timing)")
parser.add_argument("--output", default="/tmp/gpu-generation")
args = parser.parse_args()
if not torch.cuda.is_available() and not args.cpu:
    sys.exit("skipped: no CUDA GPU here (--cpu runs the same path in fp32)")
scratch = args.model == "scratch"

folder = Path(args.output)
folder.mkdir(parents=True, exist_ok=True)
if args.data:
    rows = pd.read_json(args.data, lines=True).sample(frac=1.0, random_state=0).head(args.rows)
else:
    rng = random.Random(0)
    good, bad = ["很好", "不错", "喜欢", "满意", "很快"], ["很差", "失望", "坏了", "退货", "太慢"]
    rows = pd.DataFrame([{"prompt": f"评论{i}：物流{rng.choice(good if i % 2 == 0 else bad)}，包装{rng.choice(good + bad)}",
                          "completion": "好评" if i % 2 == 0 else "差评"} for i in range(args.rows)])
held = max(1, len(rows) // 10)
rows.iloc[held:].to_json(folder / "train.jsonl", orient="records", lines=True, force_ascii=False)
rows.iloc[:held].to_json(folder / "test.jsonl", orient="records", lines=True, force_ascii=False)
model = args.model
if scratch:
    model = str(build_decoder(folder / "decoder", list(rows["prompt"] + rows["completion"]), vocab_size=1000, hidden=256, layers=4))
gpu = torch.cuda.is_available() and not args.cpu
if gpu:
    torch.cuda.reset_peak_memory_stats()
started = time.perf_counter()
result = run(build_config(None, {
    "task.type": "generation", "data.train": str(folder / "train.jsonl"), "data.test": str(folder / "test.jsonl"),
    "model.name": model, "model.max_length": args.max_length,
    "training.epochs": args.epochs or (2 if scratch else 1), "training.lr": args.lr or (2e-3 if scratch else 2e-4),
    "training.batch_size": args.batch_size, "training.lora_r": args.lora_r, "training.lora_alpha": 2 * args.lora_r,
    "training.precision": "bf16" if gpu else "fp32", "training.device": "auto" if gpu else "cpu",
    "training.progress_bar": False, "task.max_new_tokens": 8,
    "task.quantization": "4bit" if args.qlora else "none", "task.keep_adapter": True,
    "output": str(folder / "run"), "overwrite": True}))
m = result.metrics
losses = [e["loss"] for e in json.loads((result.run_dir / "training_log.json").read_text()) if "loss" in e]
print(json.dumps({"device": torch.cuda.get_device_name(0) if gpu else "cpu", "model": args.model,
                  "precision": m["training"]["precision"], "quantization": "4bit" if args.qlora else "none",
                  "trainable_parameters": m["model"]["trainable_parameters"], "parameters": m["model"]["parameters"],
                  "rows": m["data"]["sizes"], "loss_first_last": [losses[0], losses[-1]] if losses else None,
                  "loss_fell": bool(losses) and losses[-1] < losses[0] / 2,
                  "test_accuracy": m["test"].get("accuracy"), "test_unparseable": m["test"].get("unparseable"),
                  "stopped_by_eos": m["test"]["stopped_by_eos"],
                  "train_seconds": round(m["timings"]["train_seconds"], 1),
                  "train_samples_per_second": m["timings"].get("train_samples_per_second"),
                  "total_seconds": round(time.perf_counter() - started, 1),
                  "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if gpu else None,
                  "adapter_kept": (result.run_dir / "adapter" / "adapter_config.json").is_file()}, indent=1))
