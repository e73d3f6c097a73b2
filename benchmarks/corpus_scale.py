"""Memory and throughput of ``care assess`` on large corpora, with both engines.

Builds a corpus of N sessions from the shared KokoroChat sessions repeated with new ids
(care's JSON Lines, gzipped, in shards of 10,000), then assesses it with the built-in model,
each run in a fresh process:

* ``local``: the runner over the lazily read sessions (``iter_sessions``), one process;
* ``ray-K``: ``--engine ray`` with K workers on a local Ray cluster started for the run.

Results go to a Parquet results folder. Printed per run: sessions, wall seconds, sessions/s,
the driver's peak RSS, and (Ray) the peak of the summed RSS of the driver and every Ray
process, sampled twice a second. Peak RSS should not grow with N: neither engine holds the
corpus, and only the finished keys (a few dozen bytes a session) grow.

Run by hand (it takes long: 200,000 sessions are about 1 hour at 50 sessions/s)::

    python benchmarks/corpus_scale.py --sizes 20000 200000 --engines local ray-1 ray-2

Needs the ``ray`` extra for the Ray runs.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import itertools
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "kokorochat" / "kokorochat_english.jsonl.gz"
SHARD = 10_000

_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    engine, out, *inputs = sys.argv[1:]
    from care.output.parquet_results import ParquetResults
    started = time.perf_counter()
    with ParquetResults(out, overwrite=True) as sink:
        if engine == "local":
            from care.assessors.registry import get_assessor
            from care.assessors.run import RunCounts, run
            from care.data.io.stream import iter_sessions
            counts = RunCounts()
            for _ in run(get_assessor(None), iter_sessions(inputs), sink=sink, counts=counts):
                pass
        else:
            from care.assessors.ray_engine import run_on_ray
            from care.assessors.run import RunCounts
            counts = RunCounts()
            workers = int(engine.split("-")[1])
            for _ in run_on_ray(inputs, sink=sink, workers=workers, counts=counts):
                pass
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {"sessions": counts.assessed, "seconds": seconds, "driver_peak_kib": peak_kib}
    print(json.dumps(result))
    """
)


def build_corpus(source: Path, size: int, folder: Path) -> list[Path]:
    """``size`` sessions: the source's sessions again and again, each copy with a new id."""
    from care.data.io.native import dumps_line, session_to_record
    from care.data.io.stream import iter_sessions

    base = [session_to_record(session) for session in iter_sessions(source)]
    shards: list[Path] = []
    copies = itertools.cycle(base)
    for start in range(0, size, SHARD):
        path = folder / f"shard-{start // SHARD:04d}.jsonl.gz"
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as handle:
            for number in range(start, min(size, start + SHARD)):
                record = dict(next(copies))
                record["id"] = f"copy-{number}"
                handle.write(dumps_line(record) + "\n")
        shards.append(path)
    return shards


def _tree_rss(pid: int) -> int:
    """Summed RSS (bytes) of a process and its descendants (a local Ray cluster's GCS,
    raylet and workers are all descendants of the driver that started it)."""
    import psutil

    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in family:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total


def measure(engine: str, shards: list[Path], out: Path) -> dict:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(
        [sys.executable, "-c", _CHILD, engine, str(out), *map(str, shards)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=environment,
        text=True,
    )
    peak = 0
    while process.poll() is None:
        if engine != "local":
            with contextlib.suppress(ImportError):
                peak = max(peak, _tree_rss(process.pid))
        time.sleep(0.5)
    output = process.stdout.read() if process.stdout else ""
    if process.returncode != 0:
        raise SystemExit(f"{engine} failed with exit code {process.returncode}")
    result = json.loads(output.strip().splitlines()[-1])
    result["cluster_peak_bytes"] = peak or None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="source sessions")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--engines", nargs="+", default=["local", "ray-1", "ray-2"])
    parser.add_argument("--work-dir", type=Path, default=None, help="where corpora are built")
    arguments = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    work = arguments.work_dir or Path(tempfile.mkdtemp(prefix="care-scale-"))
    print(f"machine: {os.cpu_count()} CPUs; corpus: {arguments.data.name} repeated with new ids")
    print(
        f"{'engine':<8} {'sessions':>9} {'seconds':>9} {'sess/s':>8} {'driver MiB':>11} "
        f"{'all MiB':>8}"
    )
    for size in arguments.sizes:
        folder = work / f"corpus-{size}"
        folder.mkdir(parents=True, exist_ok=True)
        shards = sorted(folder.glob("shard-*.jsonl.gz")) or build_corpus(
            arguments.data, size, folder
        )
        for engine in arguments.engines:
            result = measure(engine, shards, work / f"results-{engine}-{size}.parquet")
            rate = result["sessions"] / result["seconds"]
            everything = result["cluster_peak_bytes"]
            print(
                f"{engine:<8} {result['sessions']:>9} {result['seconds']:>9.1f} {rate:>8.1f} "
                f"{result['driver_peak_kib'] / 1024:>11.0f} "
                f"{(everything / 2**20) if everything else float('nan'):>8.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
