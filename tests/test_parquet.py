"""Parquet as a first-class format: sessions (``care convert``, every reader) and results
(``--out results.parquet``: a folder of parts, resumed after a kill, read by pandas, pyarrow,
polars and DuckDB as far as they are installed, and by ``care evaluate`` / ``care analyze``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("pyarrow")

import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

from care.cli.main import cli
from care.data.io import load_corpus, save_corpus
from care.data.io.native import session_to_record
from care.data.io.stream import iter_sessions
from care.errors import DataError, OutputError
from care.output.parquet_results import (
    ParquetResults,
    iter_parquet_results,
    record_from_row,
    row_from_record,
)
from care.results import SessionAssessment

DATA = Path(__file__).parent / "data"


def _records(sessions) -> list[dict]:
    from care.assessors.registry import get_assessor
    from care.assessors.run import assess_records

    return assess_records(get_assessor(None), list(sessions))


@pytest.fixture(scope="module")
def sessions():
    return list(load_corpus(DATA / "sessions.jsonl"))


@pytest.fixture(scope="module")
def records(sessions) -> list[dict]:
    import dataclasses

    known = [s for s in sessions if s.language in ("en", "zh")]
    copies = [dataclasses.replace(known[n % len(known)], id=f"copy-{n}") for n in range(7)]
    return _records(known + copies)


def test_sessions_round_trip_through_parquet(sessions, tmp_path: Path) -> None:
    target = save_corpus(sessions, tmp_path / "s.parquet")
    assert target.read_bytes()[:4] == b"PAR1"
    again = load_corpus(target)
    assert [session_to_record(s) for s in again] == [session_to_record(s) for s in sessions]
    streamed = list(iter_sessions(target))
    assert [session_to_record(s) for s in streamed] == [session_to_record(s) for s in sessions]
    # A folder with the Parquet file in it is read too.
    assert len(load_corpus(tmp_path)) == len(sessions)


def test_care_convert_writes_and_reads_parquet(tmp_path: Path) -> None:
    runner = CliRunner()
    parquet = tmp_path / "s.parquet"
    result = runner.invoke(cli, ["convert", str(DATA / "sessions.jsonl"), str(parquet)])
    assert result.exit_code == 0, result.output
    back = tmp_path / "back.jsonl"
    result = runner.invoke(cli, ["convert", str(parquet), str(back)])
    assert result.exit_code == 0, result.output
    original = [session_to_record(s) for s in load_corpus(DATA / "sessions.jsonl")]
    assert [json.loads(line) for line in back.read_text().splitlines()] == original
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries


def test_a_parquet_file_without_sessions_is_a_clear_error(tmp_path: Path) -> None:
    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "other.parquet")
    with pytest.raises(DataError, match="no column 'id'"):
        load_corpus(tmp_path / "other.parquet")


def test_result_rows_convert_back_to_the_same_records(records) -> None:
    for record in records:
        assert record_from_row(row_from_record(record)) == record
    # Fields this schema does not type yet (e.g. intervals) survive in `extra`.
    record = {**records[0], "intervals": {"level": 0.9, "goal": [2.0, 4.0]}}
    assert record_from_row(row_from_record(record)) == record


def test_parquet_results_are_readable_by_dataframe_tools(records, tmp_path: Path) -> None:
    out = tmp_path / "r.parquet"
    with ParquetResults(out, rows_per_part=2) as sink:
        for record in records:
            sink.write(record)
    parts = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert parts == [f"part-{n:06d}.parquet" for n in range((len(records) + 1) // 2)]
    assert list(iter_parquet_results(out)) == records
    ids = [record["session_id"] for record in records]
    import pandas as pd

    frame = pd.read_parquet(out)
    assert list(frame["session_id"]) == ids
    first_goal = dict(frame["dimensions"][0])["goal"]
    assert first_goal == pytest.approx(records[0]["dimensions"]["goal"])
    assert pq.read_table(out).num_rows == len(records)
    try:
        import polars as pl
    except ImportError:
        pl = None
    if pl is not None:
        assert pl.read_parquet(str(out / "*.parquet"))["session_id"].to_list() == ids
    try:
        import duckdb
    except ImportError:
        duckdb = None
    if duckdb is not None:
        rows = duckdb.sql(
            f"SELECT session_id, dimensions['goal'], len(evidence) FROM '{out}/*.parquet' "
            "ORDER BY session_id"
        ).fetchall()
        expected = sorted(
            (r["session_id"], r["dimensions"]["goal"], sum(map(len, r["evidence"].values())))
            for r in records
        )
        assert [(a, pytest.approx(b), c) for a, b, c in rows] == expected


_KILLED_WRITER = textwrap.dedent(
    """
    import json, os, signal, sys
    from care.output.parquet_results import ParquetResults
    records = [json.loads(line) for line in open(sys.argv[2], encoding="utf-8")]
    sink = ParquetResults(sys.argv[1], rows_per_part=2).open()
    for record in records[:5]:
        sink.write(record)  # two parts of two, and one result still gathering
    # A part being written when the kill came: never renamed into place.
    open(os.path.join(sys.argv[1], ".part-000009.parquet.tmp"), "wb").write(b"PAR1 cut")
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_parquet_results_resume_after_a_kill(records, tmp_path: Path) -> None:
    assert len(records) >= 5
    source = tmp_path / "records.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    out = tmp_path / "r.parquet"
    process = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, str(out), str(source)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True,
    )
    assert process.returncode == -signal.SIGKILL
    with ParquetResults(out) as sink:
        done = sink.finished()
        assert sorted(done) == sorted(r["session_id"] for r in records[:4])
        for record in records:
            key = SessionAssessment.from_record(record).key
            if not sink.is_finished(record["session_id"], key):
                sink.write(record)
    assert sorted(json.dumps(r) for r in iter_parquet_results(out)) == sorted(
        json.dumps(r) for r in records
    )
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_parquet_results_refuse_what_they_must_not_touch(records, tmp_path: Path) -> None:
    plain = tmp_path / "notes.parquet"
    plain.write_text("my notes")
    with pytest.raises(OutputError, match="folder of part files"):
        ParquetResults(plain).open()
    assert plain.read_text() == "my notes"
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.docx").write_text("chapter 1")
    with pytest.raises(OutputError, match="other files"):
        ParquetResults(folder).open()
    out = tmp_path / "r.parquet"
    with ParquetResults(out) as sink:
        sink.write(records[0])
        with pytest.raises(OutputError, match="in use"):
            ParquetResults(out).open()


def test_overwrite_replaces_the_parts_when_the_run_ends(records, tmp_path: Path) -> None:
    out = tmp_path / "r.parquet"
    with ParquetResults(out) as sink:
        for record in records:
            sink.write(record)
    with ParquetResults(out, overwrite=True) as sink:
        sink.write(records[0])
        assert len(list(iter_parquet_results(out))) == len(records)  # old ones until the end
    assert list(iter_parquet_results(out)) == records[:1]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_evaluate_and_analyze_read_parquet_results(records, tmp_path: Path) -> None:
    from care.cli.analyze_commands import _read_results
    from care.evaluate.predictions import read_predictions
    from care.results import Assessments

    out = tmp_path / "r.parquet"
    with ParquetResults(out) as sink:
        for record in records:
            sink.write(record)
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    expected = [a.to_record() for a in Assessments.read(jsonl)]
    assert [a.to_record() for a in Assessments.read(out)] == expected
    ((_, predicted),) = read_predictions(out)  # care evaluate --pred
    assert [a.to_record() for a in predicted] == expected
    assert [a.to_record() for a in _read_results(out, None)] == expected  # care analyze
