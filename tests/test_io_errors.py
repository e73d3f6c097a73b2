"""Every kind of bad input is reported with file, line/record, field and fix."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from care.data import load_corpus, read_sessions
from care.data.io.text_files import decode_bytes, read_text
from care.errors import DataError, Problem

DATA = Path(__file__).parent / "data"
ZH_TRANSCRIPT = "咨询师：你好，今天想聊些什么？\n来访者：我最近压力很大，晚上睡不着。\n"


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


@pytest.mark.parametrize("content", [b"", b"  \n\n\t \n", b"\xef\xbb\xbf\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    problem = only(read_sessions(path)[1])
    assert problem.message == "the file is empty"
    assert problem.file == str(path) and problem.fix


def test_gbk_file_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "gbk.txt"
    path.write_bytes(ZH_TRANSCRIPT.encode("gbk"))
    problem = only(read_sessions(path)[1])
    assert problem.message.startswith("not UTF-8 text (looks like ")
    assert problem.file == str(path) and problem.record == "line 1"
    assert "save the file as UTF-8 or pass --encoding" in (problem.fix or "")
    # The guess is a Chinese encoding and works when passed back.
    guess = (problem.fix or "").rsplit(" ", 1)[1]
    assert codecs.lookup(guess).name in ("gb18030", "gbk", "gb2312")
    corpus = load_corpus(path, encoding=guess)
    assert corpus["gbk"].turns[1].text == "我最近压力很大，晚上睡不着。"


def test_latin1_file_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("Client: Je suis fatigué.\nCounselor: Ça va?\n".encode("latin-1"))
    problem = only(read_sessions(path)[1])
    assert problem.message.startswith("not UTF-8 text")
    assert "--encoding" in (problem.fix or "")
    assert load_corpus(path, encoding="latin-1")["latin1"].turns[0].text == "Je suis fatigué."


def test_explicit_encoding_that_does_not_fit(tmp_path: Path) -> None:
    path = tmp_path / "utf8.txt"
    path.write_text(ZH_TRANSCRIPT, encoding="utf-8")
    problem = only(read_sessions(path, encoding="ascii")[1])
    assert "cannot be decoded as ascii" in problem.message and problem.record == "line 1"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-be", "utf-32"])
def test_unicode_with_bom_is_read(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "bom.txt"
    data = ZH_TRANSCRIPT.encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    path.write_bytes(data)
    corpus = load_corpus(path)
    assert corpus["bom"].turns[0].speaker == "咨询师"


def test_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage")
    problem = only(read_text(path)[1])
    assert "gzip" in problem.message and problem.fix


def test_spreadsheets_are_not_text(tmp_path: Path) -> None:
    path = tmp_path / "sessions.xlsx"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    problem = only(read_sessions(path)[1])
    assert "ZIP archive" in problem.message and "CSV" in (problem.fix or "")


def test_decode_bytes_directly() -> None:
    text, problems = decode_bytes(b"ok", file="f")
    assert text == "ok" and problems == []


@pytest.mark.parametrize(
    ("name", "content", "record", "field"),
    [
        (
            "n.jsonl",
            '{"id": "a", "turns": [{"role": "client", "text": "  "}]}',
            "line 1",
            "turns[0].text",
        ),
        ("t.txt", "Counselor: Hi.\nClient:\n", "line 2", "text"),
        ("c.csv", "session_id,role,text\na,client,\n", "row 2", "text"),
        ("e.json", '[{"dialog": [{"speaker": "usr", "text": ""}]}]', "record 1", "dialog[0].text"),
    ],
)
def test_turn_without_text(
    tmp_path: Path, name: str, content: str, record: str, field: str
) -> None:
    path = tmp_path / name
    path.write_text(content + "\n", encoding="utf-8")
    problem = only(read_sessions(path)[1])
    assert "no text" in problem.message
    assert (problem.file, problem.record, problem.field) == (str(path), record, field)
    assert problem.fix


@pytest.mark.parametrize(
    ("name", "content", "record", "field"),
    [
        (
            "n.jsonl",
            '{"id": "a", "turns": [{"role": "coach", "text": "Hi"}]}',
            "line 1",
            "turns[0].role",
        ),
        ("t.txt", "Counselor: Hi.\nCoach Amy: Hello.\n", "line 2", "speaker"),
        ("c.csv", "session_id,role,text\na,coach,Hi\n", "row 2", "role"),
        (
            "e.json",
            '[{"dialog": [{"speaker": "bot", "text": "Hi"}]}]',
            "record 1",
            "dialog[0].speaker",
        ),
        (
            "k.jsonl",
            '{"session_id": "1", "dialogue": [{"role": "bot", "content": "Hi"}]}',
            "line 1",
            "dialogue[0].role",
        ),
    ],
)
def test_unknown_role(tmp_path: Path, name: str, content: str, record: str, field: str) -> None:
    path = tmp_path / name
    path.write_text(content + "\n", encoding="utf-8")
    problem = only(read_sessions(path)[1])
    assert "unknown" in problem.message
    assert (problem.file, problem.record, problem.field) == (str(path), record, field)
    assert problem.fix


def test_rating_outside_the_scale(tmp_path: Path) -> None:
    record = {
        "id": "r",
        "turns": [{"role": "client", "text": "Hi"}],
        "ratings": [{"instrument": "wai-sr-client", "values": {"item1": 7, "item2": 3}}],
    }
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    problem = only(read_sessions(path)[1])
    assert "outside the scale 1-5" in problem.message
    # A .jsonl file is always read as JSON Lines: its session is "line 1".
    assert (problem.file, problem.record, problem.field) == (
        str(path),
        "line 1",
        "ratings[0].values.item1",
    )
    assert "1 to 5" in (problem.fix or "")


def test_duplicate_session_ids_name_both_places(tmp_path: Path) -> None:
    one = tmp_path / "one.jsonl"
    two = tmp_path / "two.jsonl"
    line = '{"id": "same", "turns": [{"role": "client", "text": "Hi"}]}\n'
    one.write_text(line * 2, encoding="utf-8")
    two.write_text(line.replace("same", "other") + line, encoding="utf-8")
    sessions, problems = read_sessions([one, two])
    assert len(sessions) == 4
    assert [(p.file, p.record, p.field) for p in problems] == [
        (str(one), "line 2", "id"),
        (str(two), "line 2", "id"),
    ]
    assert f"also at {one}, line 1" in problems[0].message
    assert f"also at {one}, line 1" in problems[1].message
    with pytest.raises(DataError, match="duplicate session id 'same'"):
        load_corpus([one, two])


def test_truncated_jsonl_keeps_the_other_lines(tmp_path: Path) -> None:
    lines = (DATA / "sessions.jsonl").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "cut.jsonl"
    path.write_text("\n".join([*lines[:2], lines[2][:30]]), encoding="utf-8")
    sessions, problems = read_sessions(path)
    assert [s.id for s in sessions] == ["en-01", "zh-01"]
    problem = only(problems)
    assert (problem.file, problem.record) == (str(path), "line 3") and problem.fix


def test_all_problems_of_a_file_are_reported(tmp_path: Path) -> None:
    records = [
        {"id": "ok", "turns": [{"role": "client", "text": "Fine."}]},
        {"id": "a", "turns": [{"role": "client", "text": ""}, {"role": "boss", "text": "x"}]},
        {
            "id": "b",
            "turns": [{"role": "client", "text": "Hi"}],
            "ratings": [{"instrument": "wai-sr-client", "values": {"item1": 0, "item99": 3}}],
        },
        {
            "id": "c",
            "turns": [{"role": "client", "text": "Hi"}],
            "ratings": [{"instrument": "my-own-scale", "values": {"q1": 3}}],
        },
        {"id": "ok", "turns": [{"role": "client", "text": "Again."}]},
    ]
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n{oops\n", encoding="utf-8")
    sessions, problems = read_sessions(path)
    assert [s.id for s in sessions] == ["ok", "b", "c", "ok"]
    assert [(p.record, p.field) for p in problems] == [
        ("line 2", "turns[0].text"),
        ("line 2", "turns[1].role"),
        ("line 6", None),
        ("line 3", "ratings[0].values.item1"),
        ("line 3", "ratings[0].values.item99"),
        ("line 4", "ratings[0].instrument"),
        ("line 5", "id"),
    ]
    assert all(p.file == str(path) and p.fix for p in problems)
    unknown = problems[5]
    assert unknown.message == "unknown instrument 'my-own-scale'"
    assert unknown.fix == (
        "use a builtin instrument id (`care instruments`) or give a custom instrument file"
    )
    with pytest.raises(DataError) as caught:
        load_corpus(path)
    assert len(caught.value.problems) == 7
