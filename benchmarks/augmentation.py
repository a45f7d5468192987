"""Does augmentation help when labels are few? Sentiment on ../shared/data/online_shopping_10_cats
with 200, 1,000 and 5,000 labelled training reviews (stratified seeded samples of the fixed training
split of benchmarks/model_choice.py), with and without `augment:` (EDA operations on jieba words,
Cilin synonyms, character noise), each trained 3 epochs over its own training set (so the augmented
runs see more, different rows), evaluated on the same 2,000 test reviews.

    .venv/bin/python benchmarks/augmentation.py                  # the README table (about 90 minutes here)
    .venv/bin/python benchmarks/augmentation.py --sizes 200,1000     # its first four rows (about 30 minutes)
    .venv/bin/python benchmarks/augmentation.py --sizes 200 --test-rows 300   # a quick look
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from model_choice import DATA, fixed_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--sizes", default="200,1000,5000")
    parser.add_argument("--copies", default="200:4,1000:4,5000:1", help="augmented copies per size")
    parser.add_argument("--test-rows", type=int, default=2000)
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--output", default="runs/augmentation")
    args = parser.parse_args()
    if not Path(args.data).is_file():
        sys.exit(f"skipped: {args.data} is absent (the shared data sets are not part of a clone)")
    import pandas as pd

    from ecomsft.config import build_config
    from ecomsft.data.splitting import stratified_split
    from ecomsft.runner import run as train

    out = Path(args.output)
    split = fixed_split(args.data, None, out / "split")
    copies = dict(item.split(":") for item in args.copies.split(","))
    test = pd.read_csv(split["test"])
    test, _, _ = stratified_split(test, 0.0, 1 - args.test_rows / len(test), seed=42)
    valid = pd.read_csv(split["valid"]).sample(500, random_state=42)
    test.to_csv(out / "test.csv", index=False)
    valid.to_csv(out / "valid.csv", index=False)
    train_all = pd.read_csv(split["train"])
    rows = []
    for size in map(int, args.sizes.split(",")):
        sample, _, _ = stratified_split(train_all, 0.0, 1 - size / len(train_all), seed=42)
        sample.to_csv(out / f"train_{size}.csv", index=False)
        for n_copies in (0, int(copies.get(str(size), 2))):
            result = train(build_config(None, {
                "data.train": str(out / f"train_{size}.csv"), "data.valid": str(out / "valid.csv"),
                "data.test": str(out / "test.csv"), "data.text_column": "review", "data.label_column": "label",
                "model.name": "minilm", "model.max_length": 64, "training.epochs": args.epochs, "training.lr": 1e-4,
                "training.batch_size": 32, "training.progress_bar": False, "augment.copies": n_copies,
                "output": str(out / f"{size}_copies{n_copies}"), "overwrite": True, "baseline": n_copies == 0}))
            rows.append({"train_reviews": size, "copies": n_copies, "accuracy": result.test["accuracy"],
                         "f1_macro": result.test["f1_macro"], "train_rows": result.metrics["data"]["sizes"]["train"],
                         "train_seconds": result.metrics["timings"]["train_seconds"],
                         "tfidf_lr": (result.metrics.get("baseline_tfidf_lr") or {}).get("accuracy")})
            print(json.dumps(rows[-1]), flush=True)
    print("\n| labelled reviews | augmented copies | training rows | accuracy | macro-F1 | training s |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['train_reviews']} | {r['copies']} | {r['train_rows']} | {r['accuracy']:.4f} | {r['f1_macro']:.4f} | "
              f"{r['train_seconds']:.0f} |")
    (out / "table.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
