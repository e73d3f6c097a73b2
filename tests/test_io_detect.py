"""Format detection, --format override, directories, gzip, options of load_corpus."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from care.data import load_corpus, read_sessions
from care.data.io import FORMATS, detect_format
from care.errors import DataError, ParameterError

DATA = Path(__file__).parent / "data"
ESCONV_RECORD = {"dialog": [{"speaker": "usr", "text": "Hi."}], "emotion_type": "anger"}
KOKORO_RECORD = {"session_id": "1", "dialogue": [{"role": "client", "content": "Hi."}]}


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("a.jsonl", '{"id": "a", "turns": []}\n{"id": "b", "turns": []}\n', "native"),
        ("a.json", '{"sessions": [{"id": "a"}]}', "native"),
        ("a.json", json.dumps([ESCONV_RECORD], indent=2), "esconv"),
        ("a.jsonl", json.dumps(KOKORO_RECORD) + "\n", "kokorochat"),
        ("a.data", json.dumps(KOKORO_RECORD) + "\n", "kokorochat"),  # the name does not matter
        ("a.jsonl", "{broken\n" + json.dumps(KOKORO_RECORD) + "\n", "kokorochat"),
        ("a.csv", "transcript_id,interlocutor,utterance_text\n1,client,Hi\n", "annomi"),
        ("a.csv", "conv,who,utterance\nc,client,Hi\n", "csv"),
        ("a.tsv", "conv\twho\tutterance\nc\tclient\tHi\n", "tsv"),
        ("a.dat", "session_id,role,text\ns,client,Hi\n", "csv"),
        ("a.dat", "role\ttext\nclient\tHi\n", "tsv"),
        ("a.dat", "Counselor: Hello, how are you?\nClient: Fine.\n", "text"),
        ("a.dat", "[10:02] Counselor: Hello.\n", "text"),
        ("a.dat", "=== session x ===\nDr. Lee: Hello.\n", "text"),
        ("a.txt", "Dr. Lee: Hello.\n", "text"),
        ("a.dat", "\ufeff来访者：你好。\n", "text"),
    ],
)
def test_detect_format(name: str, text: str, expected: str) -> None:
    assert detect_format(name, text) == expected
    assert expected in FORMATS


@pytest.mark.parametrize(
    ("name", "text", "words"),
    [
        ("a.json", '{"foo": 1}', "none of native"),
        ("a.json", '[{"turns": [], "dialog": []}]', "several formats"),
        ("a.json", "[]", "not an object"),
        ("a.jsonl", "hello", "name says JSON"),
        ("a.dat", "Dr. Lee: Hello.\n", "known speaker"),
    ],
)
def test_ambiguous_files_ask_for_format(name: str, text: str, words: str) -> None:
    with pytest.raises(DataError, match=words) as caught:
        detect_format(name, text)
    assert caught.value.problem.file == name
    assert "--format" in (caught.value.problem.fix or "")


def test_format_override(tmp_path: Path) -> None:
    path = tmp_path / "notes.dat"
    path.write_text("Dr. Lee: Hello.\nMs. Park: Hi.\n", encoding="utf-8")
    sessions, problems = read_sessions(path)
    assert sessions == [] and "--format" in (problems[0].fix or "")
    speakers = {"Dr. Lee": "counselor", "Ms. Park": "client"}
    corpus = load_corpus(path, format="text", speaker_map=speakers)
    assert [turn.role for turn in corpus["notes"].turns] == ["counselor", "client"]
    # A CSV header read as plain text on request.
    table = tmp_path / "table.txt"
    table.write_text("session_id,role,text\ns1,client,Hi\n", encoding="utf-8")
    assert load_corpus(table).ids == ["s1"]
    _, problems = read_sessions(table, format="txt")
    assert problems and problems[0].record == "line 1"


def test_directories_are_read_recursively_with_gzip(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    shutil.copy(DATA / "sessions.jsonl", tmp_path / "a.jsonl")
    data = (DATA / "sessions_zh.txt").read_bytes()
    (tmp_path / "sub" / "b.txt.gz").write_bytes(gzip.compress(data))
    shutil.copy(DATA / "turns.csv", tmp_path / "sub" / "deeper" / "c.csv")
    shutil.copy(DATA / "session_ja.txt", tmp_path / ".hidden" / "skipped.txt")
    (tmp_path / "README.md").write_text("not a session file", encoding="utf-8")
    corpus = load_corpus(tmp_path)
    # Sorted paths: a.jsonl, sub/b.txt.gz, sub/deeper/c.csv.
    assert corpus.ids == ["en-01", "zh-01", "ja-01", "zh-a", "zh-b", "csv-en", "csv-zh"]


def test_gzip_is_recognised_by_content_not_name(tmp_path: Path) -> None:
    path = tmp_path / "plain-name.jsonl"
    path.write_bytes(gzip.compress((DATA / "sessions.jsonl").read_bytes()))
    assert len(load_corpus(path)) == 3


def test_missing_paths_and_empty_directories(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    sessions, problems = read_sessions([tmp_path / "nope.jsonl", tmp_path / "empty"])
    assert sessions == []
    assert [p.message for p in problems] == [
        "no such file or directory",
        "the directory holds no session files",
    ]
    assert all(p.fix for p in problems)


def test_load_corpus_raises_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(
        '{"id": "a", "turns": [{"role": "coach", "text": "Hi"}]}\n'
        '{"id": "b", "turns": [{"role": "client", "text": ""}]}\n',
        encoding="utf-8",
    )
    with pytest.raises(DataError) as caught:
        load_corpus(path)
    assert len(caught.value.problems) == 2
    assert "(and 1 more problems)" in str(caught.value)


def test_parameter_errors() -> None:
    with pytest.raises(ParameterError, match="unknown format"):
        load_corpus(DATA / "sessions.jsonl", format="docx")
    with pytest.raises(ParameterError, match="unknown option 'limt'"):
        load_corpus(DATA / "sessions.jsonl", limt=3)
    with pytest.raises(ParameterError, match="applies to kokorochat"):
        load_corpus(DATA / "sessions.jsonl", format="native", limit=3)
    with pytest.raises(ParameterError, match="unknown encoding"):
        load_corpus(DATA / "sessions.jsonl", encoding="no-such-codec")
    with pytest.raises(ParameterError, match="no files"):
        load_corpus([])


def test_options_only_reach_the_formats_that_take_them() -> None:
    corpus = load_corpus(
        [DATA / "sessions.jsonl", DATA / "custom.tsv"],
        columns={"session_id": "conv", "turn_index": "num", "role": "who", "text": "utterance"},
        speaker_map={"CO": "counselor", "CL": "client"},
    )
    assert corpus.ids == ["en-01", "zh-01", "ja-01", "tsv-ja"]


def test_language_parameter_fills_only_unstated_languages() -> None:
    corpus = load_corpus(DATA / "sessions.jsonl", language="ja")
    assert corpus.languages() == {"en": 1, "ja": 2}
