"""Load test of `care serve` on loopback: N assessments at C concurrent, default assessor.

Run by hand: ``python benchmarks/serve_load.py [--requests 200] [--concurrency 8]``.
Starts its own server on 127.0.0.1 with a temporary store, reports p50/p99 latency, the
throughput and the errors (which must be zero; the exit code is 1 otherwise).
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

TEXT = (Path(__file__).parent.parent / "examples" / "transcript_en.txt").read_text("utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as folder:
        store = str(Path(folder) / "store.sqlite")
        server = subprocess.Popen(
            [sys.executable, "-m", "care", "serve", "--port", str(port), "--store", store],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise SystemExit("the server did not start") from None
                    time.sleep(0.1)
            limits = httpx.Limits(max_connections=args.concurrency)
            with httpx.Client(base_url=url, timeout=60, limits=limits) as client:
                client.post("/v1/assessments", json={"session": {"text": TEXT}})  # warm-up

                def one(_: int) -> tuple[float, int]:
                    start = time.perf_counter()
                    try:
                        status = client.post(
                            "/v1/assessments", json={"session": {"text": TEXT}}
                        ).status_code
                    except httpx.HTTPError:
                        status = 0
                    return time.perf_counter() - start, status

                began = time.perf_counter()
                with ThreadPoolExecutor(args.concurrency) as pool:
                    results = list(pool.map(one, range(args.requests)))
                elapsed = time.perf_counter() - began
        finally:
            server.terminate()
            server.wait(10)
    latencies = sorted(seconds * 1000 for seconds, _ in results)
    errors = sum(1 for _, status in results if status != 201)
    p99 = latencies[min(len(latencies) - 1, round(0.99 * len(latencies)) - 1)]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}")
    print(f"requests: {args.requests} at {args.concurrency} concurrent, {elapsed:.1f} s")
    print(f"throughput: {args.requests / elapsed:.1f} requests/s")
    print(f"latency ms: p50 {statistics.median(latencies):.1f}, p99 {p99:.1f}")
    print(f"errors: {errors}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
