"""What lets the bundled encoder learn the 10 categories of online_shopping_10_cats in 400 steps?

The split and budget of ``model_choice.py`` (50,143 / 6,268 / 6,268 reviews, 400 steps of batch 32,
lr 1e-4, max length 64), ``me5`` with its defaults and with one change per row; every row reports
its validation figures (what chooses) and test figures (what is reported), and the blend with the
run's own tfidf-lr where the run chose it (on validation). ``training.head_lr: auto`` (30 x lr for an
e5-family encoder) is the default since this benchmark chose it.

    .venv/bin/python benchmarks/categories.py --precision fp32                 # every row, ~15 min each here
    .venv/bin/python benchmarks/categories.py --rows 1,2 --task sentiment
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_choice import DATA, TASKS, fixed_split  # noqa: E402

ROWS = {
    "me5, head at lr (the earlier default)": {"training.head_lr": None},
    "me5 defaults: head lr 30x": {},
    "head lr 30x, word embeddings trained": {"training.freeze_embeddings": False},
    "head lr 30x, balanced class weights": {"training.class_weight": "balanced"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--task", default="category", choices=list(TASKS))
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--rows", default=None, help="comma-separated row numbers (default: all)")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--output", default="runs/categories")
    args = parser.parse_args()
    if not Path(args.data).is_file():
        sys.exit(f"skipped: {args.data} is absent (the shared data sets are not part of a clone)")

    from ecomsft.config import build_config
    from ecomsft.runner import run as train

    out = Path(args.output)
    split = fixed_split(args.data, None, out / "split")
    base = {"data.train": split["train"], "data.valid": split["valid"], "data.test": split["test"],
            "data.text_column": "review", "data.label_column": TASKS[args.task], "model.name": "me5",
            "model.max_length": 64, "training.batch_size": 32, "training.max_steps": args.steps, "training.lr": 1e-4,
            "training.progress_bar": False, "training.precision": args.precision, "overwrite": True}
    rows = {name: extra for i, (name, extra) in enumerate(ROWS.items()) if not args.rows or str(i) in args.rows.split(",")}
    table = []
    for name, extra in rows.items():
        folder = out / args.task / re.sub(r"[^\w.-]+", "_", name).strip("_")
        metrics = train(build_config(None, {**base, **extra, "output": str(folder)})).metrics
        blend = metrics.get("blend") or {}
        row = {"row": name, "valid_f1_macro": metrics["validation"]["f1_macro"], "valid_accuracy": metrics["validation"]["accuracy"],
               "test_f1_macro": metrics["test"]["f1_macro"], "test_accuracy": metrics["test"]["accuracy"],
               "tfidf_lr_test_f1_macro": metrics["baseline_tfidf_lr"]["f1_macro"],
               "blend_weight": blend.get("weight"), "blend_test_f1_macro": (blend.get("test") or {}).get("f1_macro"),
               "blend_test_accuracy": (blend.get("test") or {}).get("accuracy"),
               "train_seconds": metrics["timings"]["train_seconds"]}
        table.append(row)
        print(json.dumps(row), flush=True)
    print("\n| row | valid macro-F1 | test accuracy | test macro-F1 | blend test macro-F1 | train s |\n|---|---|---|---|---|---|")
    for r in table:
        blend = f"{r['blend_test_f1_macro']:.4f}" if r["blend_test_f1_macro"] is not None else "-"
        print(f"| {r['row']} | {r['valid_f1_macro']:.4f} | {r['test_accuracy']:.4f} | {r['test_f1_macro']:.4f} | {blend} "
              f"| {r['train_seconds']:.0f} |")
    (out / f"table-{args.task}-{args.rows or 'all'}.json").write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
