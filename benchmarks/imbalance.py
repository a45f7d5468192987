"""Class imbalance on the 10-way product category task of ../shared/data/online_shopping_10_cats
(smallest class 热水器, largest 10,000 rows): macro-F1 and the smallest class's recall with plain
cross-entropy, class-weighted cross-entropy, focal loss and class-balanced sampling, on the fixed
split and budget of benchmarks/model_choice.py (400 steps of batch 32, minilm with vocabulary
extension, max length 64).

    .venv/bin/python benchmarks/imbalance.py                  # the README table (about 25 minutes here)
    .venv/bin/python benchmarks/imbalance.py --samples 3000 --steps 20   # a quick look
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from model_choice import DATA, fixed_split

VARIANTS = {
    "cross-entropy (default)": {},
    "class-weighted cross-entropy (balanced)": {"training.class_weight": "balanced"},
    "focal loss, gamma 2, balanced weights": {"training.class_weight": "balanced", "training.focal_gamma": 2.0},
    "class-balanced sampling": {"training.balanced_sampling": True},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--samples", type=int, default=None)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--output", default="runs/imbalance")
    args = parser.parse_args()
    if not Path(args.data).is_file():
        sys.exit(f"skipped: {args.data} is absent (the shared data sets are not part of a clone)")
    from ecomsft.config import build_config
    from ecomsft.runner import run as train

    out = Path(args.output)
    split = fixed_split(args.data, args.samples, out / "split")
    base = {"data.train": split["train"], "data.valid": split["valid"], "data.test": split["test"],
            "data.text_column": "review", "data.label_column": "cat", "model.name": "minilm", "model.max_length": 64,
            "training.max_steps": args.steps, "training.lr": 1e-4, "training.batch_size": 32,
            "training.progress_bar": False, "overwrite": True, "baseline": False}
    rows = []
    for name, extra in VARIANTS.items():
        folder = out / name.split(" (")[0].replace(",", "").replace(" ", "_")
        result = train(build_config(None, {**base, **extra, "output": str(folder)}))
        test = result.test
        support = {k: v["support"] for k, v in test["per_class"].items()}
        smallest = min(support, key=support.get)
        rows.append({"variant": name, "accuracy": test["accuracy"], "f1_macro": test["f1_macro"],
                     "smallest_class": smallest, "smallest_support": support[smallest],
                     "smallest_recall": test["per_class"][smallest]["recall"],
                     "lowest_recall": min(v["recall"] for v in test["per_class"].values()),
                     "train_seconds": result.metrics["timings"]["train_seconds"]})
        print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    print(f"\n| variant | accuracy | macro-F1 | recall of {rows[0]['smallest_class']} ({rows[0]['smallest_support']} test rows) "
          "| lowest class recall | training s |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['accuracy']:.4f} | {r['f1_macro']:.4f} | {r['smallest_recall']:.4f} | "
              f"{r['lowest_recall']:.4f} | {r['train_seconds']:.0f} |")
    (out / "table.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
