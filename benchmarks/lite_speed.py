"""Speed of the built-in assessor against a plain scikit-learn pipeline, and one cold
`care assess` call.

Run by hand (not part of the tests); it needs scikit-learn (the `dev` or `train` extra):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lite_speed.py [--sessions 500] [--repeats 3]

For each language, the first ``--sessions`` sessions of the shared KokoroChat file
(../shared/data, or $CARE_SHARED_DATA) are assessed by the built-in model (whole and cut,
evidence included) and by a plain scikit-learn pipeline timed in the same run on the
same sessions: TF-IDF of the client's and the counselor's turns (word uni- and bigrams
for English, character uni- and bigrams for Chinese; sublinear tf, min_df 3, at most
40,000 features each) and a ridge regression on the 20 items, fitted beforehand (not
timed) on the next 1,000 sessions. No evidence for that pipeline. The runs alternate,
``--repeats`` times each; the best and the median are printed, as sessions per second of
wall time and of the process's CPU time (one thread: sessions per second per core). The
ratio is the built-in model's CPU time over the pipeline's (best runs).

The cold start runs `care assess examples/session_en.json` in a fresh process several
times and reports the median wall time.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TRAIN_SESSIONS = 1000


def shared_file(language: str) -> Path:
    """The KokoroChat file of ``language`` in the shared data folder."""
    base = Path(os.environ.get("CARE_SHARED_DATA", ROOT.parent / "shared" / "data"))
    name = "kokorochat_english.jsonl.gz" if language == "en" else "kokorochat_chinese.jsonl.gz"
    return base / "kokorochat" / name


def role_documents(sessions: list, role: str) -> list[str]:
    """One document per session: the turns of ``role`` joined."""
    return ["\n".join(turn.text for turn in s.turns if turn.role == role) for s in sessions]


def sklearn_pipeline(language: str, train: list) -> Callable[[list], np.ndarray]:
    """A fitted plain TF-IDF (client and counselor blocks) + ridge predictor."""
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge

    from care.instruments import get_instrument

    options = {"ngram_range": (1, 2), "sublinear_tf": True, "min_df": 3, "max_features": 40000}
    if language == "zh":
        options["analyzer"] = "char"
    roles = ("client", "counselor")
    vectorizers = [TfidfVectorizer(**options).fit(role_documents(train, r)) for r in roles]
    items = get_instrument("kokorochat-feedback").scored_item_ids
    rated = [s for s in train if s.rating("kokorochat-feedback") is not None]
    targets = np.array(
        [[s.rating("kokorochat-feedback").values.get(i, np.nan) for i in items] for s in rated]
    )
    targets = np.where(np.isnan(targets), np.nanmean(targets, axis=0), targets)

    def features(sessions: list) -> sparse.csr_matrix:
        blocks = [
            v.transform(role_documents(sessions, r))
            for v, r in zip(vectorizers, roles, strict=True)
        ]
        return sparse.hstack(blocks, format="csr")

    ridge = Ridge(alpha=3.0).fit(features(rated), targets)
    return lambda sessions: ridge.predict(features(sessions))


def timed(run: Callable[[], object]) -> tuple[float, float]:
    """Wall and CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def compare(language: str, n_sessions: int, repeats: int) -> None:
    """Time the built-in model (whole and cut) and the scikit-learn pipeline, alternating."""
    from care.assessors.lite import LiteAssessor
    from care.data import load_corpus

    corpus = list(load_corpus(shared_file(language), limit=n_sessions + TRAIN_SESSIONS))
    sessions, train = corpus[:n_sessions], corpus[n_sessions:]
    turns = statistics.mean(len(session.turns) for session in sessions)
    runs: dict[str, Callable[[], object]] = {}
    for cut in (False, True):
        assessor = LiteAssessor(cut=cut)
        assert len(list(assessor.iter_assess(sessions))) == len(sessions)  # warm up
        runs[f"care-lite{' cut' if cut else ''}"] = lambda a=assessor: list(a.iter_assess(sessions))
    predict = sklearn_pipeline(language, train)
    predict(sessions[:10])
    runs["scikit-learn"] = lambda: predict(sessions)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(timed(run))
    best_sklearn_cpu = min(cpu for _, cpu in times["scikit-learn"])
    print(f"\n{language}: {n_sessions} sessions, mean {turns:.0f} turns")
    print("| system | sessions/s wall, best (median) | sessions/s CPU, best (median) | ratio |")
    print("|---|---|---|---|")
    for name, measured in times.items():
        walls = [wall for wall, _ in measured]
        cpus = [cpu for _, cpu in measured]
        ratio = min(cpus) / best_sklearn_cpu
        wall = f"{n_sessions / min(walls):.0f} ({n_sessions / statistics.median(walls):.0f})"
        cpu = f"{n_sessions / min(cpus):.0f} ({n_sessions / statistics.median(cpus):.0f})"
        print(f"| {name} | {wall} | {cpu} | {ratio:.2f} |")


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
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cold-runs", type=int, default=5)
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average {os.getloadavg()[0]:.1f}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"
    )
    print("care-lite: evidence included; scikit-learn: predictions only")
    for language in ("en", "zh"):
        compare(language, args.sessions, args.repeats)
    if args.cold_runs:
        times = cold_start(args.cold_runs)
        print(
            f"\ncold `care assess examples/session_en.json`: median "
            f"{statistics.median(times):.2f} s (min {min(times):.2f}, max {max(times):.2f}, "
            f"{len(times)} runs)"
        )


if __name__ == "__main__":
    main()
