"""The GPU path of task generation in one short run: bf16 + LoRA on a small decoder built in code
(QLoRA too where bitsandbytes is installed); prints whether the loss fell and every answer stopped
by EOS. For a machine with a CUDA GPU (the test suite never needs one):

    .venv/bin/python benchmarks/gpu_generation.py [--output /tmp/gpu-generation] [--qlora]
"""

import argparse
import json
import random
import sys
from pathlib import Path

import pandas as pd
import torch

from ecomsft.config import build_config
from ecomsft.models.decoders import build_decoder
from ecomsft.runner import run

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--output", default="/tmp/gpu-generation")
parser.add_argument("--qlora", action="store_true", help="4-bit base (bitsandbytes) under the LoRA adapters")
args = parser.parse_args()
if not torch.cuda.is_available():
    sys.exit("skipped: no CUDA GPU here")

folder = Path(args.output)
rng = random.Random(0)
good, bad = ["很好", "不错", "喜欢", "满意", "很快"], ["很差", "失望", "坏了", "退货", "太慢"]
rows = [{"prompt": f"评论{i}：物流{rng.choice(good if i % 2 == 0 else bad)}，包装{rng.choice(good + bad)}",
         "completion": "好评" if i % 2 == 0 else "差评"} for i in range(2000)]
folder.mkdir(parents=True, exist_ok=True)
pd.DataFrame(rows).to_json(folder / "rows.jsonl", orient="records", lines=True, force_ascii=False)
model = build_decoder(folder / "decoder", [r["prompt"] + r["completion"] for r in rows], vocab_size=1000, hidden=256, layers=4)
result = run(build_config(None, {
    "task.type": "generation", "data.train": str(folder / "rows.jsonl"), "model.name": str(model), "model.max_length": 64,
    "training.epochs": 2, "training.lr": 2e-3, "training.batch_size": 32, "training.lora_r": 16, "training.lora_alpha": 32,
    "training.precision": "bf16", "training.progress_bar": False, "task.max_new_tokens": 8,
    "task.quantization": "4bit" if args.qlora else "none", "task.keep_adapter": True,
    "output": str(folder / "run"), "overwrite": True}))
m = result.metrics
losses = [e["loss"] for e in json.loads((result.run_dir / "training_log.json").read_text()) if "loss" in e]
print(json.dumps({"device": torch.cuda.get_device_name(0), "precision": m["training"]["precision"],
                  "trainable_parameters": m["model"]["trainable_parameters"], "parameters": m["model"]["parameters"],
                  "loss_first_last": [losses[0], losses[-1]], "loss_fell": losses[-1] < losses[0] / 2,
                  "test_accuracy": m["test"]["accuracy"], "stopped_by_eos": m["test"]["stopped_by_eos"],
                  "train_seconds": round(m["timings"]["train_seconds"], 1),
                  "adapter_kept": (result.run_dir / "adapter" / "adapter_config.json").is_file()}, indent=1))
