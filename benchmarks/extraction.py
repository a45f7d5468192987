"""Attribute extraction on ../shared/data/ecommerce_ner_zh (Chinese product titles; HP = brand,
HC = product): the CRF baseline's entity F1 per type and micro/macro on the dev split.

    .venv/bin/python benchmarks/extraction.py [--data ../shared/data/ecommerce_ner_zh]

(The fine-tuned encoder's row comes with the extraction task, issue 19.)
"""

import argparse
import json
import sys
import time
from pathlib import Path

from ecomsft.data.tagging import read_conll
from ecomsft.evaluation.crf_baseline import run_crf

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ecommerce_ner_zh"))
parser.add_argument("--max-iterations", type=int, default=100)
args = parser.parse_args()
folder = Path(args.data)
if not (folder / "train.txt.bieos").is_file():
    sys.exit(f"skipped: {folder} is absent (the shared data sets are not part of a clone)")

train, dev = read_conll(folder / "train.txt.bieos"), read_conll(folder / "dev.txt.bieos")
print(f"train {len(train.items)} titles ({train.scheme}, {train.repaired} tags repaired), dev {len(dev.items)}", flush=True)
started = time.perf_counter()
metrics, _, _ = run_crf([(i.tokens, i.spans) for i in train.items], [(i.tokens, i.spans) for i in dev.items],
                        train.labels, max_iterations=args.max_iterations)
print(json.dumps({"model": "crf (char n-grams, window 2)", "seconds": round(time.perf_counter() - started, 1),
                  "f1_micro": round(metrics["f1_micro"], 4), "f1_macro": round(metrics["f1_macro"], 4),
                  "token_accuracy": round(metrics["token_accuracy"], 4),
                  "per_type": {t: {k: round(v, 4) for k, v in d.items()} for t, d in metrics["per_type"].items()}},
                 ensure_ascii=False))
