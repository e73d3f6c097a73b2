"""``--engine ray`` on a real local Ray cluster: the same records as the local engine, resume
by result identity, failures of single sessions kept out of the way."""

from __future__ import annotations

import gzip
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray")
pytest.importorskip("pyarrow")

import ray

from care.assessors.ray_engine import RayRunReport, run_on_ray
from care.assessors.registry import get_assessor
from care.assessors.run import RunCounts, run
from care.data.io import save_corpus
from care.data.io.stream import iter_sessions
from care.data.session import Session, Turn
from care.output import ResultsFile
from care.output.parquet_results import ParquetResults, iter_parquet_results
from shared_data import ENGLISH, needs_data


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    os.environ.setdefault("RAY_worker_niceness", "0")  # as care's own local cluster
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """210 KokoroChat sessions in three shards of three formats: care's JSON Lines gzipped,
    Parquet, and the original KokoroChat lines."""
    if not ENGLISH.exists():
        pytest.skip("the shared KokoroChat data are not here")
    folder = tmp_path_factory.mktemp("shards")
    sessions = list(itertools.islice(iter_sessions(ENGLISH), 140))
    first = save_corpus(sessions[:70], folder / "a.jsonl.gz")
    second = save_corpus(sessions[70:140], folder / "b.parquet")
    third = folder / "c.jsonl"
    with gzip.open(ENGLISH, "rb") as handle:
        lines = [next(handle) for _ in range(210)][140:]
    third.write_bytes(b"".join(lines))
    return [first, second, third]


@pytest.fixture(scope="module")
def local(shards: list[Path], tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The local engine's results file for the shards, line by line."""
    out = tmp_path_factory.mktemp("local") / "local.jsonl"
    with ResultsFile(out) as sink:
        list(run(get_assessor(None), iter_sessions(shards), sink=sink))
    return out.read_text(encoding="utf-8").splitlines()


@needs_data
def test_ray_writes_the_local_engines_records(cluster, shards, local, tmp_path: Path) -> None:
    assert len(local) == 210
    counts = RunCounts()
    with ResultsFile(tmp_path / "ray.jsonl") as sink:
        fresh = list(run_on_ray(shards, sink=sink, workers=2, batch_size=16, counts=counts))
    assert counts.assessed == 210 and len(fresh) == 210
    on_ray = (tmp_path / "ray.jsonl").read_text(encoding="utf-8").splitlines()
    assert on_ray == local  # the same records, in the same order, byte for byte
    # ... and the same as Parquet (one worker), read back by pandas.
    import pandas as pd

    with ParquetResults(tmp_path / "ray.parquet") as sink:
        list(run_on_ray(shards[1:2], sink=sink, workers=1))
    back = [json.dumps(r, ensure_ascii=False) for r in iter_parquet_results(sink.path)]
    assert back == local[70:140]
    frame = pd.read_parquet(sink.path)
    assert list(frame["session_id"]) == [json.loads(line)["session_id"] for line in back]


@needs_data
def test_ray_resumes_what_the_output_holds(cluster, shards, local, tmp_path: Path) -> None:
    out = tmp_path / "ray.jsonl"
    # A run that was stopped after 70 results, the last one cut off by the kill.
    out.write_text("\n".join(local[:70]) + "\n" + local[70][:50], encoding="utf-8")
    counts = RunCounts()
    with ResultsFile(out) as sink:
        fresh = list(
            run_on_ray(shards, sink=sink, finished=sink.finished(), workers=2, counts=counts)
        )
    assert (counts.skipped, counts.assessed, len(fresh)) == (70, 140, 140)
    assert out.read_text(encoding="utf-8").splitlines() == local
    # A finished session under another key (the cut model) is refused, not overwritten.
    from care.errors import OutputError

    with (
        pytest.raises(OutputError, match="one file holds one result per session"),
        ResultsFile(out) as sink,
    ):
        list(
            run_on_ray(
                shards[:1],
                options={"cut": True},
                sink=sink,
                finished=sink.finished(),
                workers=1,
            )
        )


def test_a_failing_session_is_reported_and_the_others_assessed(cluster, tmp_path: Path) -> None:
    turns = [
        Turn(0, "counselor", "How have you been since we last met?"),
        Turn(1, "client", "Better. I slept well and I went for walks with my sister."),
        Turn(2, "counselor", "That sounds like real progress."),
    ]
    sessions = [Session(f"s{n}", list(turns), language="en") for n in range(4)]
    # No built-in model reads Japanese: this session's assessment raises.
    sessions.insert(2, Session("ja1", list(turns), language="ja"))
    source = save_corpus(sessions, tmp_path / "mixed.jsonl")
    report = RayRunReport()
    with ResultsFile(tmp_path / "out.jsonl") as sink:
        fresh = list(run_on_ray([source], sink=sink, workers=1, report=report))
    assert [a.session_id for a in fresh] == ["s0", "s1", "s2", "s3"]
    assert [f.session_id for f in report.failures] == ["ja1"]
    assert "'ja'" in report.failures[0].reason
    assert "slept" not in report.failures[0].reason
    written = [json.loads(line)["session_id"] for line in sink.path.read_text().splitlines()]
    assert written == ["s0", "s1", "s2", "s3"]


@needs_data
def test_care_assess_engine_ray_on_the_command_line(cluster, shards, local, tmp_path) -> None:
    from click.testing import CliRunner

    from care.cli.main import cli

    here = tmp_path / "local.jsonl"
    assert (
        CliRunner().invoke(cli, ["assess", str(shards[0]), "--out", str(here), "-q"]).exit_code == 0
    )
    out = tmp_path / "r.parquet"
    command = ["assess", str(shards[0]), "--engine", "ray", "--workers", "1", "--out", str(out)]
    result = CliRunner().invoke(cli, [*command, "-q"])
    assert result.exit_code == 0, result.output
    # The same records as the local engine's command (intervals included).
    records = [json.dumps(r, ensure_ascii=False) for r in iter_parquet_results(out)]
    assert records == here.read_text(encoding="utf-8").splitlines()
    again = CliRunner().invoke(cli, [*command, "-q"])
    assert again.exit_code == 0 and "70 of 70 sessions already in" in again.stderr
    refused = CliRunner().invoke(cli, [*command, "--store", str(tmp_path / "s.sqlite")])
    assert refused.exit_code == 2 and "--store" in refused.stderr
