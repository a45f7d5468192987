"""How should the bundled multilingual encoder (me5) be fine-tuned on 2 CPU cores? The same short
fine-tuning on the bundled Chinese reviews with its full 250k-row vocabulary or trimmed to the
training texts (model.trim_vocab), the word embeddings frozen or trained, and long reviews cut to
their head or to head+tail (model.head_share), over several seeds.

The split is vocab_extension.py's: one fixed test set of 2,000 reviews; each seed draws its own
training sample and validation reviews from the rest, and trains every variant on them. Prints, per
variant, mean test and validation accuracy with their standard error over the seeds, embedding rows
kept, the saved model's size, and training and evaluation samples/s measured in the same run.

    .venv/bin/python benchmarks/me5_setup.py                           # the README table (~35 min)
    .venv/bin/python benchmarks/me5_setup.py --seeds 1 --samples 500 --test 300 --variants "trimmed, embeddings trained"
"""

from __future__ import annotations

import json
from pathlib import Path

from vocab_extension import run_seeded, seeded_arguments, summary

VARIANTS = {
    "full vocabulary, embeddings frozen": {"model.trim_vocab": False, "training.freeze_embeddings": True},
    "trimmed, embeddings frozen": {"model.trim_vocab": True, "training.freeze_embeddings": True},
    "trimmed, embeddings trained": {"model.trim_vocab": True, "training.freeze_embeddings": False},
    "trimmed, frozen, head+tail 0.25": {"model.trim_vocab": True, "training.freeze_embeddings": True,
                                        "model.head_share": 0.25},
    "trimmed, frozen, head+tail 0.5": {"model.trim_vocab": True, "training.freeze_embeddings": True,
                                       "model.head_share": 0.5},
}


def folder_megabytes(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6


def main() -> None:
    args = seeded_arguments(__doc__, VARIANTS, "runs/me5_setup.jsonl")

    def make_row(m: dict, run: Path) -> dict:
        evaluated = m["data"]["sizes"]["valid"] + m["data"]["sizes"]["test"]
        return {"accuracy": m["test"]["accuracy"], "f1_macro": m["test"]["f1_macro"],
                "valid_accuracy": m["validation"]["accuracy"],
                "vocab_rows": m["model"].get("vocab_rows") or m["model"].get("vocab_rows_before") or 250037,
                "model_mb": folder_megabytes(run / "model"),
                "train_samples_per_second": m["timings"]["train_samples_per_second"],
                "eval_samples_per_second": evaluated / m["timings"]["eval_seconds"],
                "tfidf_lr_accuracy": (m.get("baseline_tfidf_lr") or {}).get("accuracy")}

    print_table(run_seeded(args, VARIANTS, {"model.name": "me5"}, make_row))


def print_table(results: Path) -> None:
    rows = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines() if line.strip()]
    first = [r for r in rows if r["variant"] == rows[0]["variant"]]
    base_train, _ = summary([r["train_samples_per_second"] for r in first])
    base_eval, _ = summary([r["eval_samples_per_second"] for r in first])
    print("\n| me5 | seeds | test accuracy | validation accuracy | rows | model MB | training samples/s | evaluation samples/s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == name]
        acc, acc_se = summary([r["accuracy"] for r in mine])
        val, val_se = summary([r["valid_accuracy"] for r in mine])
        train_speed, _ = summary([r["train_samples_per_second"] for r in mine])
        eval_speed, _ = summary([r["eval_samples_per_second"] for r in mine])
        print(f"| {name} | {len(mine)} | {acc:.4f} ± {acc_se:.4f} | {val:.4f} ± {val_se:.4f} | {mine[0]['vocab_rows']:,} | "
              f"{mine[0]['model_mb']:.0f} | {train_speed:.1f} ({train_speed / base_train:.2f}x) | "
              f"{eval_speed:.1f} ({eval_speed / base_eval:.2f}x) |")
    baseline = [r["tfidf_lr_accuracy"] for r in rows if r["tfidf_lr_accuracy"] is not None]
    if baseline:
        acc, acc_se = summary(baseline)
        print(f"| tfidf-lr (same samples) | {len(baseline)} | {acc:.4f} ± {acc_se:.4f} | | | | | |")


if __name__ == "__main__":
    main()
