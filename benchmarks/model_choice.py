"""Which model, and is adapting it worth it? The README table of issue "choosing the pretrained model".

On ../shared/data/online_shopping_10_cats (62,774 real Chinese shop reviews), one fixed seeded
split and the same fine-tuning budget for every row, for both tasks (sentiment `label`, 10-way
category `cat`): tfidf-lr; minilm as is; minilm with vocabulary extension; minilm with vocabulary
extension and domain-adaptive masked-LM pretraining on the training reviews (time stated).

    .venv/bin/python benchmarks/model_choice.py                     # the full table: hours on 2 cores
    .venv/bin/python benchmarks/model_choice.py --samples 2000 --epochs 1 --pretrain-epochs 1   # a quick look
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "online_shopping_10_cats" / "online_shopping_10_cats.csv"
TASKS = {"sentiment": "label", "category": "cat"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--samples", type=int, default=None, help="stratified sample of the file first")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--pretrain-epochs", type=float, default=1.0)
    parser.add_argument("--output", default="runs/model_choice")
    args = parser.parse_args()
    if not Path(args.data).is_file():
        sys.exit(f"skipped: {args.data} is absent (the shared data sets are not part of a clone)")

    from ecomsft.config import build_config
    from ecomsft.pretrain import build_pretrain_config, pretrain
    from ecomsft.run import read_splits, train

    out = Path(args.output)
    rows = []
    for task, label in TASKS.items():
        base = {"data.train": args.data, "data.text_column": "review", "data.label_column": label,
                "data.max_samples": args.samples, "model.name": "minilm", "model.max_length": args.max_length,
                "training.epochs": args.epochs, "training.lr": 1e-4, "training.progress_bar": False,
                "overwrite": True}
        cfg = build_config(None, {**base, "output": str(out / task / "probe")})
        splits, _ = read_splits(cfg)
        with tempfile.TemporaryDirectory() as tmp:
            # The pretraining corpus is the training split only: validation and test stay unseen.
            corpus = Path(tmp) / "train_reviews.csv"
            splits["train"][["text"]].to_csv(corpus, index=False)
            dapt = pretrain(build_pretrain_config(None, {
                "data.files": [str(corpus)], "model.name": "minilm", "model.max_length": args.max_length,
                "training.epochs": args.pretrain_epochs, "training.progress_bar": False,
                "output": str(out / "dapt" / task), "overwrite": True}))
        variants = {
            "minilm as is": {"model.extend_vocab": "never"},
            "minilm + vocabulary extension": {"model.extend_vocab": "always"},
            "minilm + vocabulary extension + DAPT": {"model.name": str(out / "dapt" / task / "model")},
        }
        baseline = None
        for name, extra in variants.items():
            result = train(build_config(None, {**base, **extra, "output": str(out / task / name.replace(" ", "_").replace("+", "plus")),
                                               "baseline": baseline is None}))
            baseline = baseline or result.metrics["baseline_tfidf_lr"]
            rows.append({"task": task, "model": name, "accuracy": result.test["accuracy"], "f1_macro": result.test["f1_macro"],
                         "train_seconds": result.metrics["timings"]["train_seconds"],
                         "pretrain_seconds": dapt["timings"]["train_seconds"] if "DAPT" in name else None,
                         "pretrain_perplexity": dapt["valid_perplexity"] if "DAPT" in name else None})
            print(json.dumps(rows[-1]), flush=True)
        rows.insert(len(rows) - 3, {"task": task, "model": "tfidf-lr", "accuracy": baseline["accuracy"],
                                    "f1_macro": baseline["f1_macro"], "train_seconds": baseline["train_seconds"]})
    print("\n| task | model | accuracy | macro-F1 | fine-tuning s | pretraining s |\n|---|---|---|---|---|---|")
    for r in rows:
        pre = f"{r['pretrain_seconds']:.0f}" if r.get("pretrain_seconds") else ""
        print(f"| {r['task']} | {r['model']} | {r['accuracy']:.4f} | {r['f1_macro']:.4f} | {r['train_seconds']:.0f} | {pre} |")
    (out / "table.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
