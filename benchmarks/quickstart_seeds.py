"""What the quickstart delivers over several seeds: the fine-tuned model, its tfidf-lr and the blend
the run chose on validation (README, "Quickstart").

Each seed is its own stratified split of the bundled reviews (``training.seed``), trained with the
quickstart's recipe; the first seed keeps its time budget and is the timed one, the others run
without it so that they finish their epoch as the first did.

    .venv/bin/python benchmarks/quickstart_seeds.py                # seeds 42, 7, 13: ~35 min on 2 cores
    .venv/bin/python benchmarks/quickstart_seeds.py --seeds 42 --fast
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="42,7,13")
    parser.add_argument("--fast", action="store_true", help="the --fast sample (2,000 reviews)")
    parser.add_argument("--output", default="runs/quickstart_seeds")
    parser.add_argument("--untimed", action="store_true", help="every seed without the time budget (when the cores are shared)")
    parser.add_argument("--threads", type=int, default=None, help="training.threads (default: one per physical core)")
    args = parser.parse_args()

    from ecomsft.quickstart import quickstart_config
    from ecomsft.runner import run as train

    rows = []
    for i, seed in enumerate(int(s) for s in args.seeds.split(",")):
        overrides = {"training.seed": seed, "training.progress_bar": False, "training.threads": args.threads}
        if i or args.untimed:
            overrides["training.max_seconds"] = None
        started = time.perf_counter()
        result = train(quickstart_config(fast=args.fast, output=f"{args.output}/seed{seed}", overrides=overrides))
        metrics = result.metrics
        blend = metrics["blend"]
        delivered = blend["test"] if blend["used"] else metrics["test"]
        long = metrics.get("by_length") or {}
        row = {"seed": seed, "model": metrics["test"]["accuracy"], "tfidf_lr": metrics["baseline_tfidf_lr"]["accuracy"],
               "delivered": delivered["accuracy"], "blend_used": blend["used"], "weight": blend.get("weight"),
               "valid_model": blend.get("model"), "valid_blend": blend.get("blend"), "metric": blend.get("metric"),
               "long_reviews": {k: long.get(k, [None])[-1] for k in ("model", "tfidf_lr", "blend")},
               "train_seconds": metrics["timings"]["train_seconds"], "whole_run_seconds": time.perf_counter() - started}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| seed | fine-tuned test | tfidf-lr test | delivered (blend where chosen) | weight | validation: alone / blend | over 160 chars: model / tfidf-lr / blend | whole run s |")
    print("|---|---|---|---|---|---|---|---|")
    fmt = lambda v: "—" if v is None else f"{v:.4f}"  # noqa: E731
    for r in rows:
        long = r["long_reviews"]
        print(f"| {r['seed']} | {r['model']:.4f} | {r['tfidf_lr']:.4f} | {r['delivered']:.4f} | "
              f"{r['weight'] if r['blend_used'] else 'not used'} | {fmt(r['valid_model'])} / {fmt(r['valid_blend'])} | "
              f"{fmt(long['model'])} / {fmt(long['tfidf_lr'])} / {fmt(long['blend'])} | {r['whole_run_seconds']:.0f} |")
    mean = {k: sum(r[k] for r in rows) / len(rows) for k in ("model", "tfidf_lr", "delivered")}
    print(f"| mean | {mean['model']:.4f} | {mean['tfidf_lr']:.4f} | {mean['delivered']:.4f} "
          f"({100 * (mean['delivered'] - mean['tfidf_lr']):+.2f} points over tfidf-lr) | | | | |")
    Path(args.output).mkdir(parents=True, exist_ok=True)
    (Path(args.output) / "table.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
