"""Search relevance on ../shared/data/home_depot_relevance: the README table of the ranking issue.

59,497 real (search term, product title) pairs graded 1.0-3.0. One query-grouped seeded split
(10% of the queries for validation, 10% for test; no query in two parts), shared by every row:
BM25, the bundled MiniLM zero-shot (cosine), the training mean, the fine-tuned cross-encoder
(task relevance) and the fine-tuned bi-encoder (task retrieval), each re-ranking every test query's
candidates (NDCG@10 with gain 2^(grade-1)-1, RMSE); and recall@10 of retrieving each test query's
relevant products (grade >= 2) from all 44,965 distinct product titles.

    .venv/bin/python benchmarks/relevance.py                       # the README table (about an hour here)
    .venv/bin/python benchmarks/relevance.py --samples 3000 --epochs 1 --bi-epochs 1   # a quick look
    .venv/bin/python benchmarks/relevance.py --model me5 --zero-shot   # me5 as it is, beside BM25 and MiniLM

``--model me5``: the bundled multilingual e5 (its ``query: ``/``passage: `` prefixes applied); each
fine-tuned run then also reports that model zero-shot. ``--zero-shot``: no training, the baselines
only (BM25, MiniLM and the model itself zero-shot), computed by the retrieval task's own code.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "home_depot_relevance" / "home_depot_relevance.csv"


def config(task: str, args, output: Path, epochs: float, lr: float):
    from ecomsft.config import build_config

    extra = {"task.pairwise_weight": args.pairwise_weight, "task.blend_zero_shot": False if args.no_blend else None} if task == "relevance" else {}
    return build_config(None, {**extra,
        "data.train": str(args.data), "data.text_column": "search_term", "data.text_pair_column": "product_title",
        "data.label_column": "relevance", "data.max_samples": args.samples, "task.type": task,
        "model.name": args.model, "model.max_length": args.max_length, "training.epochs": epochs, "training.lr": lr,
        "training.batch_size": args.batch_size, "output": str(output), "overwrite": True,
        "training.progress_bar": not args.no_progress, "baseline": not args.no_baselines,
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_relevance"))
    parser.add_argument("--model", default="minilm", help="minilm, me5, or a model folder")
    parser.add_argument("--zero-shot", action="store_true", help="no training: the baselines and the model zero-shot")
    parser.add_argument("--samples", type=int, default=None, help="rows to keep (whole queries); default all")
    parser.add_argument("--epochs", type=float, default=2.0, help="cross-encoder epochs")
    parser.add_argument("--bi-epochs", type=float, default=1.0, help="bi-encoder epochs")
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--bi-lr", type=float, default=2e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--pairwise-weight", type=float, default=0.0, help="cross-encoder: RankNet loss weight")
    parser.add_argument("--no-blend", action="store_true", help="cross-encoder: no blend with the zero-shot cosine (default: the run's own choice on validation)")
    parser.add_argument("--skip", choices=("cross", "bi"), action="append", default=[],
                        help="reuse that model's finished run in --out instead of training it")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--no-baselines", action="store_true",
                        help="train only (the baselines of this split: --zero-shot prints them)")
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"skipped: {args.data} is absent (the shared data sets are not part of a clone)")
        return
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from ecomsft.runner import run as train

    if args.zero_shot:
        return zero_shot(args)
    args.out = args.out if args.model == "minilm" else args.out.with_name(f"{args.out.name}-{Path(args.model).name}")
    runs = {}
    for task, key, epochs, lr in (("relevance", "cross", args.epochs, args.lr), ("retrieval", "bi", args.bi_epochs, args.bi_lr)):
        folder = args.out / (f"{key}-encoder" + ("-pairwise" if key == "cross" and args.pairwise_weight else ""))
        if key in args.skip and (folder / "metrics.json").is_file():
            runs[key] = json.loads((folder / "metrics.json").read_text())
        elif key not in args.skip:
            runs[key] = train(config(task, args, folder, epochs, lr)).metrics
    cross, bi = runs.get("cross"), runs.get("bi")
    base = (cross or {}).get("baselines") or (bi or {}).get("baselines_reranking") or {}
    rows = [("random order / training mean", base.get("train_mean")), ("BM25 (bm25s)", base.get("bm25")),
            ("MiniLM zero-shot cosine", base.get("zero_shot_cosine")),
            (f"{args.model} zero-shot cosine", base.get("zero_shot_base_model"))]
    crosses = {folder.name: json.loads((folder / "metrics.json").read_text())
               for folder in sorted(args.out.glob("cross-encoder*")) if (folder / "metrics.json").is_file()}
    for name, run in crosses.items():
        rows.append((f"fine-tuned cross-encoder, {run['training'].get('loss', 'MSE')} ({run['training']['epochs']:g} epochs, "
                     f"{run['timings']['train_seconds'] / 60:.0f} min)", run["test"]))
        if run.get("test_blend"):
            rows.append(("  the same, blended with the zero-shot cosine (weights fitted on validation)", run["test_blend"]))
    if bi:
        rows.append((f"fine-tuned bi-encoder ({bi['training']['epochs']:g} epoch, "
                     f"{bi['timings']['train_seconds'] / 60:.0f} min)", bi["test_reranking"]))
    data = (cross or bi)["data"]
    print(f"\nsplit: {data['sizes']} rows, {data['queries']} queries; test queries also in train: "
          f"{data['queries_also_in_train']['test']}")
    reranking_table(rows)
    if bi:
        retrieval_table(bi["data"]["catalog_products"], bi["test"]["queries"],
                        [*catalogue_rows(args, bi["baselines"] or {}), ("fine-tuned bi-encoder", bi["test"])])
    for name, run in crosses.items():
        print(f"\n{name}: the blend the run chose on validation: {run.get('blend_choice')}")
        for label, m in (("", run["test"]), (" + blend", run.get("test_blend"))):
            if m:
                print(f"\n{name}{label}: target NDCG@10 >= 0.915: {'met' if m['ndcg@10'] >= 0.915 else 'NOT met'} "
                      f"({m['ndcg@10']:.4f}), RMSE <= 0.47: {'met' if m['rmse'] <= 0.47 else 'NOT met'} ({m['rmse']:.4f}); "
                      f"{run['timings']['train_samples_per_second']:.1f} samples/s, {run['training']['precision']}")

def reranking_table(rows) -> None:
    print("\n| re-ranking each test query's candidates | NDCG@5 | NDCG@10 | MRR | MAP | RMSE | MAE |")
    print("|---|---|---|---|---|---|---|")
    for name, m in rows:
        if m:
            print(f"| {name} | {m['ndcg@5']:.4f} | {m['ndcg@10']:.4f} | {m['mrr']:.4f} | {m['map']:.4f} | "
                  f"{m.get('rmse', float('nan')):.4f} | {m.get('mae', float('nan')):.4f} |")


def catalogue_rows(args, baselines: dict) -> list:
    return [(name, baselines.get(key)) for name, key in (
        ("BM25", "bm25"), ("MiniLM zero-shot", "zero_shot_cosine"), (f"{args.model} zero-shot", "zero_shot_base_model"))]


def retrieval_table(products: int, queries: int, rows) -> None:
    print(f"\n| retrieving from all {products:,} product titles ({queries} test queries) | recall@5 | recall@10 | NDCG@10 | MRR@10 |")
    print("|---|---|---|---|---|")
    for name, m in rows:
        if m:
            print(f"| {name} | {m['recall@5']:.4f} | {m['recall@10']:.4f} | {m['ndcg@10']:.4f} | {m['mrr@10']:.4f} |")


def zero_shot(args) -> None:
    """The retrieval task's own baselines on the shared split, the model as it is (no training)."""
    import time

    from ecomsft.models.resolve import resolve_model
    from ecomsft.tasks import get_task

    began = time.perf_counter()
    task = get_task("retrieval")(config("retrieval", args, args.out / "zero-shot", 1.0, args.bi_lr))
    info = task.load_data()
    task.base_model = resolve_model(args.model)
    found = task.baselines(None)
    print(f"\nsplit: {info['sizes']} rows; {time.perf_counter() - began:.0f} s")
    base = found["baselines_reranking"]
    reranking_table([("random order / training mean", base.get("train_mean")), ("BM25 (bm25s)", base.get("bm25")),
                     ("MiniLM zero-shot cosine", base.get("zero_shot_cosine")),
                     (f"{args.model} zero-shot cosine", base.get("zero_shot_base_model"))])
    retrieval_table(len(task.catalog), found["baselines"]["bm25"]["queries"], catalogue_rows(args, found["baselines"]))
    # The validation split, for choosing between the models (model.name auto): re-ranking its queries' candidates.
    from ecomsft.evaluation.ranking_baselines import base_model_encoder, score_baselines

    valid, _ = score_baselines(task.splits["train"], task.splits["valid"], task.grading, task.ks, task.cfg.training.seed, corpus=task.catalog,
                               base_encoder=base_model_encoder(task.base_model, args.max_length))
    print("\nvalidation split (for choosing):", {name: round(m["ndcg@10"], 4) for name, m in valid.items()})


if __name__ == "__main__":
    sys.exit(main())
