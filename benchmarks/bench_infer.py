"""How fast does ecomsft predict, next to transformers.pipeline? (issue "Speed")

One run, the same trained run folder and the same test texts (the run's own test split, from its
predictions.csv) for every backend:
  transformers.pipeline("text-classification"), ecomsft's PyTorch predictor, and ecomsft's ONNX
  Runtime predictor, fp32 and dynamically quantized int8 (exported first when missing).
The ecomsft rows are the fine-tuned model alone (``--no-blend``); where the run chose a blend with
its tfidf-lr, two more rows time it (torch fp32 and ONNX int8) and its cost at batch 32 is printed.
Printed per backend: samples/s at batch 1 and at each batch size tried (the best marked), p50/p95
latency of one short review, test accuracy and its difference to the PyTorch fp32 model, and the
achieved model GFLOP/s (real tokens only) as a share of this machine's fp32 matmul peak measured in
the same run.

    .venv/bin/python benchmarks/bench_infer.py [RUN] [--texts 1000] [--batch-sizes 1,8,32,64]

Without RUN it uses runs/quickstart when finished, else trains a small run first (about 2 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from _measure import forward_flops, matmul_peak_gflops

SHORT_REVIEW = "物流很快，质量不错"


def find_or_train_run(run: str | None) -> Path:
    from ecomsft.quickstart import quickstart_config
    from ecomsft.runner import run as train

    if run:
        return Path(run)
    if (Path("runs/quickstart") / "model" / "config.json").is_file():
        return Path("runs/quickstart")
    folder = Path("runs/bench_infer-run")
    if not (folder / "model" / "config.json").is_file():
        print(f"no run given: training a small one into {folder}", flush=True)
        train(quickstart_config(fast=True, output=str(folder), overrides={"training.progress_bar": False, "baseline": False}))
    return folder


def make_backends(run: Path, max_length: int):
    """name -> predict(texts, batch_size) returning label names, in input order."""
    from transformers import pipeline

    from ecomsft.readers.classification.reader import Predictor, model_folder
    from ecomsft.models.lexical import LexicalModel

    model_dir = model_folder(run)
    pipe = pipeline("text-classification", model=str(model_dir), device=-1)
    predictors: dict[str, Predictor] = {}

    def pipeline_predict(texts, batch_size):
        out = pipe(texts, batch_size=batch_size, truncation=True, max_length=max_length)
        return [o["label"] for o in out]

    def ecomsft_predict(backend, blend=False):
        def predict(texts, batch_size):
            if (backend, blend) not in predictors:
                predictors[backend, blend] = Predictor(run, backend=backend, blend=blend)
            predictor = predictors[backend, blend]
            predictor.batch_size = batch_size
            return predictor.decide(predictor.predict_proba(texts))
        return predict

    backends = {
        "transformers.pipeline": pipeline_predict,
        "ecomsft torch fp32": ecomsft_predict("torch"),
        "ecomsft onnx fp32": ecomsft_predict("onnx"),
        "ecomsft onnx int8": ecomsft_predict("onnx-int8"),
    }
    # The same models mixed with the run's tfidf-lr, where its training chose a blend (what predict does by default).
    lexical = LexicalModel.load(model_dir)
    if lexical is not None and lexical.blend:
        backends["ecomsft torch fp32 + blend"] = ecomsft_predict("torch", True)
        backends["ecomsft onnx int8 + blend"] = ecomsft_predict("onnx-int8", True)
    return backends, pipe.model


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", nargs="?", default=None)
    parser.add_argument("--texts", type=int, default=1000, help="test texts timed at each batch size")
    parser.add_argument("--batch1-texts", type=int, default=200, help="texts timed at batch 1 (slow)")
    parser.add_argument("--batch-sizes", default="8,32,64")
    parser.add_argument("--latency-repeats", type=int, default=200)
    parser.add_argument("--output", default="runs/bench_infer.json")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import pandas as pd
    import torch
    from transformers import AutoTokenizer

    from ecomsft.inference.onnx_export import export_onnx, onnx_path

    run = find_or_train_run(args.run)
    if not (onnx_path(run).is_file() and onnx_path(run, int8=True).is_file()):
        export_onnx(run, int8=True)
    test = pd.read_csv(run / "predictions.csv", keep_default_na=False)
    gold = test["gold"].astype(str).tolist()
    texts = test["text"].astype(str).tolist()
    timed_texts = texts[:args.texts]
    max_length = int(json.loads((run / "metrics.json").read_text())["model"]["max_length"])
    tokenizer = AutoTokenizer.from_pretrained(run / "model")
    lengths = [len(ids) for ids in tokenizer(timed_texts, truncation=True, max_length=max_length)["input_ids"]]
    backends, torch_model = make_backends(run, max_length)
    flops = forward_flops(torch_model, lengths)
    sizes = [int(b) for b in args.batch_sizes.split(",")]

    peak = matmul_peak_gflops()
    print(f"run {run}: {len(texts)} test texts ({len(timed_texts)} timed, mean {np.mean(lengths):.0f} tokens, "
          f"max length {max_length}); {torch.get_num_threads()} torch threads; fp32 matmul peak {peak:.0f} GFLOP/s", flush=True)
    results = {}
    for name, predict in backends.items():
        predict(timed_texts[:64], 32)  # warm-up: loading, first-call allocations
        row = {}
        row["batch1_samples_per_second"] = args.batch1_texts / timed(lambda: predict(timed_texts[:args.batch1_texts], 1))
        for size in sizes:
            row[f"batch{size}_samples_per_second"] = len(timed_texts) / timed(lambda: predict(timed_texts, size))
        best = max(sizes, key=lambda s: row[f"batch{s}_samples_per_second"])
        row["best_batch_size"] = best
        row["gflops_best"] = flops * row[f"batch{best}_samples_per_second"] / len(timed_texts) / 1e9
        latencies = [timed(lambda: predict([SHORT_REVIEW], 1)) * 1000 for _ in range(args.latency_repeats)]
        row["p50_ms"], row["p95_ms"] = float(np.percentile(latencies, 50)), float(np.percentile(latencies, 95))
        predicted = predict(texts, best)
        row["accuracy"] = float(np.mean([p == g for p, g in zip(predicted, gold)]))
        row["predicted"] = predicted
        results[name] = row
        print(name, json.dumps({k: v for k, v in row.items() if k != "predicted"}), flush=True)
    peak_after = matmul_peak_gflops()

    reference = results["ecomsft torch fp32"]
    base = results["transformers.pipeline"]
    print(f"\nfp32 matmul peak {peak:.0f} GFLOP/s before, {peak_after:.0f} after; short review: {SHORT_REVIEW!r}\n")
    columns = ["batch1", *[f"batch{s}" for s in sizes]]
    print("| backend | " + " | ".join(f"samples/s {c.replace('batch', 'batch ')}" for c in columns)
          + " | vs pipeline at batch 32 | p50 ms | p95 ms | GFLOP/s at best batch (share of peak) | accuracy | vs torch fp32 | agreement |")
    print("|---" * (len(columns) + 8) + "|")
    for name, r in results.items():
        ratio = r.get("batch32_samples_per_second", 0) / base["batch32_samples_per_second"] if "batch32_samples_per_second" in base else float("nan")
        agree = np.mean([a == b for a, b in zip(r["predicted"], reference["predicted"])])
        cells = [f"{r[c + '_samples_per_second']:.1f}" + ("*" if c == f"batch{r['best_batch_size']}" else "") for c in columns]
        print(f"| {name} | " + " | ".join(cells) + f" | {ratio:.2f}x | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} "
              f"| {r['gflops_best']:.0f} ({100 * r['gflops_best'] / peak:.0f}%) | {r['accuracy']:.4f} "
              f"| {100 * (r['accuracy'] - reference['accuracy']):+.2f} pt | {100 * agree:.1f}% |")
    for name in ("ecomsft torch fp32", "ecomsft onnx int8"):
        if f"{name} + blend" in results and "batch32_samples_per_second" in results[name]:
            alone, mixed = results[name], results[f"{name} + blend"]
            cost = alone["batch32_samples_per_second"] / mixed["batch32_samples_per_second"] - 1
            print(f"blend cost, {name}: {100 * cost:+.1f}% latency at batch 32; p50 of one review {alone['p50_ms']:.1f} -> "
                  f"{mixed['p50_ms']:.1f} ms; accuracy {alone['accuracy']:.4f} -> {mixed['accuracy']:.4f}")
    print("\n* best batch size. int8 GFLOP/s counts the same model FLOPs as fp32 (its share of the fp32 peak can pass 100%).")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"peak_gflops": [peak, peak_after], "rows": {
        k: {kk: vv for kk, vv in v.items() if kk != "predicted"} for k, v in results.items()}}, indent=2))


if __name__ == "__main__":
    main()
