"""How fast the web interface answers, and how much each page weighs (issue 42's targets: under
300 ms, training aside; under 300 KB without the run's report).

The pages are asked in-process (Starlette's TestClient: the handler's time, no network) over a root
holding the run folders given, after an upload of a CSV of ``--rows`` reviews; each page 20 times,
the median and the slowest reported:

    .venv/bin/python benchmarks/ui_pages.py --run runs/quickstart --run runs/other --rows 20000
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", required=True, help="a finished run folder (twice: compare)")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    from conftest import make_reviews
    from fastapi.testclient import TestClient

    from ecomsft.ui.app import create_ui

    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "runs"
        names = []
        for i, run in enumerate(args.run):
            names.append(f"run{i}")
            shutil.copytree(run, root / names[-1], ignore=shutil.ignore_patterns("checkpoints"))
        client = TestClient(create_ui(root, watch=False))
        data = make_reviews(args.rows).to_csv(index=False).encode()
        started = time.perf_counter()
        upload = client.post("/upload", files={"file": ("reviews.csv", data)}, follow_redirects=False)
        upload_ms = (time.perf_counter() - started) * 1000
        pages = ["/", "/new", upload.headers["location"], f"/runs/{names[0]}"]
        if len(names) > 1:
            pages.append("/compare?" + "&".join(f"run={n}" for n in names))
        print(f"upload of {len(data) / 1e6:.1f} MB ({args.rows} rows) with its preview: {upload_ms:.0f} ms")
        print("| page | median ms | slowest ms | KB |\n|---|---|---|---|")
        for page in pages:
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                answer = client.get(page)
                times.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, (page, answer.text[:300])
            print(f"| {page.split('?')[0]} | {statistics.median(times):.1f} | {max(times):.1f} | {len(answer.content) / 1024:.1f} |")


if __name__ == "__main__":
    main()
