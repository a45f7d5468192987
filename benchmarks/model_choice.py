"""Which model, and is adapting it worth it? The README table of issue "choosing the pretrained model".

On ../shared/data/online_shopping_10_cats (62,774 real Chinese shop reviews): one fixed seeded split
(stratified on category and sentiment together, so both tasks share it) and the same fine-tuning
budget (optimizer steps) for every row, for both tasks (sentiment `label`, 10-way category `cat`):
tfidf-lr; minilm as is; minilm with vocabulary extension; minilm with vocabulary extension and
domain-adaptive masked-LM pretraining (DAPT) on the training reviews, its time stated.

    .venv/bin/python benchmarks/model_choice.py --precision fp32     # the README table: ~80 min on 2 cores
    .venv/bin/python benchmarks/model_choice.py --samples 3000 --steps 20 --pretrain-steps 20   # a quick look
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "online_shopping_10_cats" / "online_shopping_10_cats.csv"
TASKS = {"sentiment": "label", "category": "cat"}


def fixed_split(data: str, samples: int | None, out: Path) -> dict[str, str]:
    """Write train/valid/test CSVs (80/10/10, seed 42) shared by both tasks; returns their paths."""
    import pandas as pd

    from ecomsft.data.splitting import stratified_split

    frame = pd.read_csv(data, encoding="utf-8-sig").dropna(subset=["review"])
    frame["review"] = frame["review"].str.strip()
    frame = frame[frame["review"] != ""].drop_duplicates("review", keep=False)  # keep=False: no conflicts
    frame["label"] = frame["cat"] + "/" + frame["label"].astype(str)  # the strata of the split
    if samples:
        frame, _, _ = stratified_split(frame, 0.0, 1 - samples / len(frame), seed=42)
    parts = dict(zip(("train", "valid", "test"), stratified_split(frame, 0.1, 0.1, seed=42)))
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, part in parts.items():
        part = part.assign(label=part["label"].str.split("/").str[1])
        paths[name] = str(out / f"{name}.csv")
        part[["cat", "label", "review"]].to_csv(paths[name], index=False)
    print(f"split: {', '.join(f'{k} {len(v)}' for k, v in parts.items())} rows", flush=True)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--samples", type=int, default=None, help="stratified sample of the file first")
    parser.add_argument("--steps", type=int, default=400, help="fine-tuning optimizer steps, every row")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--pretrain-steps", type=int, default=600)
    parser.add_argument("--output", default="runs/model_choice")
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated: sentiment, category")
    parser.add_argument("--variants", default=None, help="comma-separated row numbers of the transformer variants (default: all)")
    parser.add_argument("--precision", default="auto", help="training.precision for every row (the README table: fp32)")
    parser.add_argument("--reuse-dapt", action="store_true", help="use the DAPT model of an earlier run in --output")
    args = parser.parse_args()
    if not Path(args.data).is_file():
        sys.exit(f"skipped: {args.data} is absent (the shared data sets are not part of a clone)")

    from ecomsft.api import pretrain
    from ecomsft.config import build_config
    from ecomsft.runner import run as train
    from ecomsft.tasks.pretraining.config import build_pretrain_config

    out = Path(args.output)
    split = fixed_split(args.data, args.samples, out / "split")
    common = {"model.max_length": args.max_length, "training.batch_size": args.batch_size,
              "training.progress_bar": False, "overwrite": True, "training.precision": args.precision}
    variants = {
        "minilm as is": {"model.extend_vocab": "never"},
        "minilm + vocabulary extension": {"model.extend_vocab": "always"},
        # The DAPT model has no tokens left to add: its embeddings fine-tune at the plain rate here,
        # and at the 20x rate of freshly added rows in the next row (ecomsft's default since it was measured).
        "minilm + vocabulary extension + DAPT, plain embedding lr": {"model.name": str(out / "dapt" / "model"),
                                                                     "training.embedding_lr": 1e-4},
        "minilm + vocabulary extension + DAPT, embedding lr 20x": {"model.name": str(out / "dapt" / "model"),
                                                                   "training.embedding_lr": 2e-3},
        # The bundled multilingual encoder with ecomsft's defaults for it (trimmed vocabulary, frozen
        # word embeddings, head+tail truncation): what model.name auto picks for Chinese text.
        "me5": {"model.name": "me5"},
    }
    if args.variants:
        variants = {name: v for i, (name, v) in enumerate(variants.items()) if str(i) in args.variants.split(",")}
    started = time.perf_counter()
    dapt, dapt_seconds = {}, None
    needs_dapt = any("DAPT" in name for name in variants)
    if needs_dapt and args.reuse_dapt:
        dapt = json.loads((out / "table.json").read_text())["dapt"]
        dapt_seconds = dapt["seconds"]
    elif needs_dapt:
        # The pretraining corpus is the training split only: validation and test stay unseen.
        dapt = pretrain(build_pretrain_config(None, {
            **common, "data.files": [split["train"]], "data.text_column": "review", "model.name": "minilm",
            "training.max_steps": args.pretrain_steps, "output": str(out / "dapt")})).metrics
        dapt_seconds = time.perf_counter() - started  # vocabulary extension included
    if dapt:
        print(json.dumps({"dapt_seconds": dapt_seconds, **{k: dapt.get(k) for k in ("valid_loss", "valid_perplexity")}}), flush=True)

    rows = []
    for task, label in TASKS.items():
        if task not in args.tasks.split(","):
            continue
        base = {**common, "data.train": split["train"], "data.valid": split["valid"], "data.test": split["test"],
                "data.text_column": "review", "data.label_column": label, "model.name": "minilm",
                "training.max_steps": args.steps, "training.lr": 1e-4}
        task_rows = []
        for name, extra in variants.items():
            folder = out / task / (name.replace(" + ", "_plus_").replace(", ", "_").replace(" ", "_") + f"_{args.steps}_steps")
            result = train(build_config(None, {**base, **extra, "output": str(folder), "baseline": not task_rows}))
            if not task_rows:
                b = result.metrics["baseline_tfidf_lr"]
                task_rows.append({"task": task, "model": "tfidf-lr", "accuracy": b["accuracy"],
                                  "f1_macro": b["f1_macro"], "train_seconds": b["train_seconds"]})
            task_rows.append({"task": task, "model": name, "accuracy": result.test["accuracy"],
                              "f1_macro": result.test["f1_macro"],
                              "train_seconds": result.metrics["timings"]["train_seconds"],
                              "pretrain_seconds": dapt_seconds if "DAPT" in name else None})
            print(json.dumps(task_rows[-1]), flush=True)
        rows += task_rows
    if dapt:
        print(f"\nDAPT: {args.pretrain_steps} steps, {dapt_seconds:.0f} s, held-out perplexity {dapt.get('valid_perplexity')}")
    print("\n| task | model | accuracy | macro-F1 | fine-tuning s |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['task']} | {r['model']} | {r['accuracy']:.4f} | {r['f1_macro']:.4f} | {r['train_seconds']:.0f} |")
    table = out / ("table.json" if not (args.variants or args.reuse_dapt) else f"table-{args.variants}-{args.steps}.json")
    table.write_text(json.dumps({"dapt": {"seconds": dapt_seconds, **dapt}, "rows": rows}, indent=2, default=str))


if __name__ == "__main__":
    main()
