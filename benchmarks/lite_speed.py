"""Speed of the built-in assessor: batch throughput and one cold `care assess` call.

Run by hand (not part of the tests):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lite_speed.py [--sessions 500] [--repeats 5]

Batch sessions come from the shared KokoroChat file of the language (../shared/data, or
$CARE_SHARED_DATA); the cold start runs `care assess examples/session_en.json` in a fresh
process several times and reports the median wall time.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shared_file(language: str) -> Path:
    """The KokoroChat file of ``language`` in the shared data folder."""
    base = Path(os.environ.get("CARE_SHARED_DATA", ROOT.parent / "shared" / "data"))
    name = "kokorochat_english.jsonl.gz" if language == "en" else "kokorochat_chinese.jsonl.gz"
    return base / "kokorochat" / name


def batch_throughput(language: str, n_sessions: int, cut: bool) -> tuple[float, float]:
    """Sessions per second of LiteAssessor over ``n_sessions`` sessions (with evidence),
    and the mean number of turns per session."""
    from care.assessors.lite import LiteAssessor
    from care.data import load_corpus

    corpus = load_corpus(shared_file(language), limit=n_sessions)
    sessions = list(corpus)
    assessor = LiteAssessor(cut=cut)
    assessor.assess(sessions[:2])  # load the model outside the timing
    start = time.perf_counter()
    results = assessor.assess(sessions)
    elapsed = time.perf_counter() - start
    assert len(results) == len(sessions)
    turns = statistics.mean(len(session.turns) for session in sessions)
    return len(sessions) / elapsed, turns


def cold_start(repeats: int) -> list[float]:
    """Wall times of `care assess examples/session_en.json` in fresh processes."""
    care = Path(sys.executable).with_name("care")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(
            [str(care), "assess", str(ROOT / "examples" / "session_en.json")],
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    )
    for language in ("en", "zh"):
        for cut in (False, True):
            rate, turns = batch_throughput(language, args.sessions, cut)
            label = f"{language}{' cut' if cut else ''}"
            print(
                f"batch {label}: {rate:.1f} sessions/s over {args.sessions} sessions "
                f"(mean {turns:.0f} turns), evidence included"
            )
    times = cold_start(args.repeats)
    print(
        f"cold `care assess examples/session_en.json`: median {statistics.median(times):.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f}, {len(times)} runs)"
    )


if __name__ == "__main__":
    main()
