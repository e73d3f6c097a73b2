"""Reading sessions lazily (both engines' reader): the same sessions as load_corpus, one at a
time, with problems located at their line, from files, folders and glob patterns."""

from __future__ import annotations

import gzip
import io
import itertools
import json
from pathlib import Path

import pytest

from care.data.io import load_corpus, save_corpus
from care.data.io.native import session_to_record
from care.data.io.ray_dataset import stream_lines
from care.data.io.stream import iter_sessions, plan_sources
from care.errors import DataError
from shared_data import ENGLISH, needs_data

DATA = Path(__file__).parent / "data"


def _records(sessions) -> list[dict]:
    return [session_to_record(session) for session in sessions]


def test_streamed_sessions_are_load_corpus_sessions() -> None:
    for name in ("sessions.jsonl", "turns.csv", "intake_en.txt"):
        path = DATA / name
        assert _records(iter_sessions(path)) == _records(load_corpus(path)), name


@needs_data
def test_kokorochat_lines_stream_as_load_corpus_reads_them() -> None:
    streamed = list(itertools.islice(iter_sessions(ENGLISH), 40))
    assert _records(streamed) == _records(load_corpus(ENGLISH, limit=40))


def _line(session_id: str, text: str = "Hello there.") -> str:
    record = {"id": session_id, "turns": [{"role": "client", "text": text}], "language": "en"}
    return json.dumps(record, ensure_ascii=False)


def test_sessions_are_read_one_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(_line("a") + "\n" + _line("b") + "\n" + '{"id": "c", "turns": [' + "\n")
    sessions = iter_sessions(path)
    assert next(sessions).id == "a"  # nothing past the first line was needed
    assert next(sessions).id == "b"
    with pytest.raises(DataError) as caught:
        next(sessions)
    assert caught.value.problem.file == str(path)
    assert caught.value.problem.record == "line 3"


def test_lines_split_on_newlines_only(tmp_path: Path) -> None:
    text = "one\u2028two\x85three"
    path = tmp_path / "s.jsonl"
    path.write_text(_line("a", text) + "\n", encoding="utf-8")
    (session,) = iter_sessions(path)
    assert session.turns[0].text == text
    # The Ray reader splits the same way, gzip or not, across chunk boundaries.
    data = (_line("a", text) + "\n\n" + _line("b") + "\n").encode("utf-8")
    for raw in (data, gzip.compress(data)):
        lines = list(stream_lines(io.BytesIO(raw)))
        assert [number for number, _ in lines] == [1, 3]
        assert json.loads(lines[0][1])["turns"][0]["text"] == text


def test_folders_and_globs_in_order(tmp_path: Path) -> None:
    sessions = list(load_corpus(DATA / "sessions.jsonl"))
    save_corpus(sessions[:1], tmp_path / "part-1.jsonl.gz")
    save_corpus(sessions[1:], tmp_path / "part-2.jsonl")
    by_glob = list(iter_sessions(str(tmp_path / "part-*")))
    by_folder = list(iter_sessions(tmp_path))
    assert _records(by_glob) == _records(by_folder) == _records(sessions)
    modes = [(source.path.name, source.mode) for source in plan_sources(tmp_path)]
    assert modes == [("part-1.jsonl.gz", "lines"), ("part-2.jsonl", "lines")]
    with pytest.raises(DataError, match="matches no file"):
        list(iter_sessions(str(tmp_path / "nothing-*.jsonl")))


def test_a_duplicate_id_is_refused_where_it_appears_naming_both_places(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(_line("s1") + "\n" + _line("s2") + "\n", encoding="utf-8")
    second.write_text(_line("s3") + "\n\n" + _line("s2") + "\n", encoding="utf-8")
    stream = iter_sessions([first, second])
    assert [session.id for session in itertools.islice(stream, 3)] == ["s1", "s2", "s3"]
    with pytest.raises(DataError) as caught:
        next(stream)
    (problem,) = caught.value.problems
    assert problem.file == str(second) and problem.record == "line 3"
    assert problem.field == "id" and f"{first}: line 2" in problem.message


def test_files_read_whole_get_the_same_checks_as_lines(tmp_path: Path) -> None:
    table = tmp_path / "sessions.csv"
    table.write_text(
        "session_id,turn,role,text,language\ns1,0,client,Hello,../etc\ns1,1,counselor,Hi,../etc\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError) as caught:
        list(iter_sessions(table))
    (problem,) = caught.value.problems
    assert problem.file == str(table) and problem.field == "language"
    assert "not a language code" in problem.message
