"""The native JSONL/JSON format: reading, language detection, round trips, merging."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import jsonschema
import pytest

from care.data import Corpus, load_corpus, read_sessions, save_corpus
from care.data.io import detect_format
from care.data.io.native import session_to_record

DATA = Path(__file__).parent / "data"
SCHEMA = Path(__file__).parents[1] / "src" / "care" / "schemas" / "session.schema.json"


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus(DATA / "sessions.jsonl")


def test_reads_every_session_with_languages(corpus: Corpus) -> None:
    assert corpus.ids == ["en-01", "zh-01", "ja-01"]
    # en-01 states its language; the others are detected from the text.
    assert corpus.languages() == {"en": 1, "zh": 1, "ja": 1}


def test_fields_ratings_and_meta(corpus: Corpus) -> None:
    session = corpus["en-01"]
    assert session.client_id == "c1" and session.counselor_id == "t1"
    assert [turn.index for turn in session.turns] == [0, 1, 2, 3]
    assert session.turns[0].speaker == "Dr. Lee"
    assert session.turns[0].time == "2024-05-01T10:00:00"
    assert session.turns[3].meta == {"strategy": "reflection"}
    rating = session.rating("wai-sr-client")
    assert rating is not None
    assert rating.values == {"item1": 4.0, "item2": 3.0, "item3": 5.0}  # null item left out
    assert session.meta == {"source": "hand-written test data"}


def test_unrated_sessions_are_accepted(corpus: Corpus) -> None:
    assert corpus["zh-01"].ratings == []
    assert corpus["ja-01"].turns[2].role == "other"


def test_consecutive_turns_are_kept_unless_merging_is_asked(corpus: Corpus) -> None:
    assert len(corpus["en-01"].turns) == 4
    merged = load_corpus(DATA / "sessions.jsonl", merge_consecutive=True)
    turns = merged["en-01"].turns
    assert [turn.role for turn in turns] == ["counselor", "client", "counselor"]
    assert turns[1].text.startswith("I keep putting off") and "Every evening" in turns[1].text
    assert turns[1].meta["merged_from"] == [1, 2]
    assert merged["en-01"].meta["merged_consecutive_turns"] is True


def test_round_trip_native_corpus_native(tmp_path: Path, corpus: Corpus) -> None:
    first = save_corpus(corpus, tmp_path / "a.jsonl")
    again = load_corpus(first)
    second = save_corpus(again, tmp_path / "b.jsonl")
    assert first.read_text(encoding="utf-8") == second.read_text(encoding="utf-8")
    for original, copy in zip(corpus, again, strict=True):
        assert session_to_record(original) == session_to_record(copy)


@pytest.mark.parametrize("name", ["out.json", "out.jsonl.gz", "out.json.gz"])
def test_round_trip_json_and_gzip(tmp_path: Path, corpus: Corpus, name: str) -> None:
    path = save_corpus(corpus, tmp_path / name)
    if name.endswith(".gz"):
        assert gzip.decompress(path.read_bytes())  # really compressed
    again = load_corpus(path)
    assert [session_to_record(s) for s in again] == [session_to_record(s) for s in corpus]


def test_written_records_match_the_schema(tmp_path: Path, corpus: Corpus) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    path = save_corpus(corpus, tmp_path / "out.jsonl")
    for line in path.read_text(encoding="utf-8").splitlines():
        jsonschema.validate(json.loads(line), schema)


def test_line_separators_inside_texts_survive_jsonl(tmp_path: Path, corpus: Corpus) -> None:
    session = corpus["en-01"]
    session.turns[1].text = "first part\u2028second part"
    path = save_corpus([session], tmp_path / "ls.jsonl")
    assert len(path.read_text(encoding="utf-8").splitlines()) == 1
    assert load_corpus(path)["en-01"].turns[1].text == "first part\u2028second part"


def test_sessions_wrapper_and_single_object(tmp_path: Path) -> None:
    turns = [{"role": "client", "text": "Hello."}]
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"sessions": [{"id": "w", "turns": turns}]}), encoding="utf-8")
    single = tmp_path / "single.json"
    single.write_text(json.dumps({"id": "s", "turns": turns}, indent=2), encoding="utf-8")
    assert detect_format(wrapped, wrapped.read_text(encoding="utf-8")) == "native"
    assert load_corpus([wrapped, single]).ids == ["w", "s"]


def test_truncated_line_is_reported_and_the_rest_loads(tmp_path: Path) -> None:
    lines = (DATA / "sessions.jsonl").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "truncated.jsonl"
    path.write_text("\n".join([lines[0], lines[1][: len(lines[1]) // 2], lines[2]]) + "\n")
    sessions, problems = read_sessions(path)
    assert [session.id for session in sessions] == ["en-01", "ja-01"]
    assert len(problems) == 1
    problem = problems[0]
    assert problem.file == str(path) and problem.record == "line 2"
    assert "invalid JSON" in problem.message and "truncated" in (problem.fix or "")
