"""How quick the command line is to answer: ``ecomsft --help`` and ``ecomsft predict RUN "text"`` as
whole processes (median of --runs), and the parts of one prediction inside a process: the imports,
loading the run, tokenizing, the forward pass.

    .venv/bin/python benchmarks/startup.py runs/quickstart
    .venv/bin/python benchmarks/startup.py runs/quickstart --runs 7 --text "物流很快，质量不错"

Targets (issue 44): ``--help`` at most 0.3 s, one prediction at most 2.5 s, on 2 cores. A run with
an ONNX export (``ecomsft export RUN``) is timed on both backends.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ECOMSFT = Path(sys.executable).with_name("ecomsft")


def whole(args: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([str(ECOMSFT), *args], check=True, capture_output=True)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


PARTS = r"""
import sys, time, json
began = time.perf_counter()
import ecomsft.api as api
from ecomsft.inference.registry import inference_for
imported = time.perf_counter()
reader = inference_for(sys.argv[1]).load(sys.argv[1], batch_size=1, backend=sys.argv[3])
loaded = time.perf_counter()
encoded = reader.tokenizer([sys.argv[2]], truncation=True, max_length=64) if hasattr(reader, "tokenizer") else None
tokenized = time.perf_counter()
reader.answer([sys.argv[2]])
answered = time.perf_counter()
print(json.dumps({"imports": imported - began, "load": loaded - imported, "tokenize": tokenized - loaded,
                  "answer (tokenize + forward + blend)": answered - tokenized}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--text", default="物流很快，质量不错")
    args = parser.parse_args()
    if not (args.run / "metrics.json").is_file():
        sys.exit(f"{args.run}: not a run folder (run ecomsft quickstart first)")
    import json

    bare = statistics.median([_timed([sys.executable, "-c", "pass"]) for _ in range(args.runs)])
    help_ = whole(["--help"], args.runs)
    print(f"python alone: {bare:.2f} s")
    print(f"ecomsft --help: {help_:.2f} s (target 0.3)")
    # torch, and the ONNX export where the run has one (what --backend auto, the default, takes then)
    exported = (args.run / "model" / "onnx" / "model.onnx").is_file()
    for backend in ("torch", "onnx") if exported else ("torch",):
        predict = whole(["predict", str(args.run), args.text, "--backend", backend], args.runs)
        done = subprocess.run([sys.executable, "-c", PARTS, str(args.run), args.text, backend], check=True,
                              capture_output=True, text=True)
        parts = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"ecomsft predict RUN \"text\" --backend {backend}: {predict:.2f} s (target 2.5)")
        print("  inside one process: " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))
    if not exported:
        print("(no ONNX export in this run: ecomsft export RUN, then --backend auto takes it)")


def _timed(command: list[str]) -> float:
    began = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - began


if __name__ == "__main__":
    main()
