"""Plain-text transcripts in English, Chinese and Japanese."""

from __future__ import annotations

from pathlib import Path

from care.data import load_corpus, read_sessions, save_corpus
from care.data.io.native import session_to_record
from care.data.io.plaintext import parse_text

DATA = Path(__file__).parent / "data"


def test_english_prefixes_timestamps_and_continuations() -> None:
    corpus = load_corpus(DATA / "intake_en.txt")
    assert corpus.ids == ["intake_en"]  # the file stem
    session = corpus["intake_en"]
    assert session.language == "en"
    assert [turn.role for turn in session.turns] == [
        "counselor",
        "client",
        "counselor",
        "client",
        "counselor",
    ]
    assert [turn.speaker for turn in session.turns] == [
        "Counselor",
        "Client",
        "Therapist",
        "patient",
        "COUNSELOR",
    ]
    assert session.turns[0].time == "10:02" and session.turns[3].time is None
    assert session.turns[1].text == (
        "My sister suggested I talk to someone.\nShe thinks I have been withdrawing from everyone."
    )
    assert session.turns[3].text.endswith("Most days I do not want to leave the house.")


def test_chinese_sessions_and_client_words() -> None:
    corpus = load_corpus(DATA / "sessions_zh.txt")
    assert corpus.ids == ["zh-a", "zh-b"]
    assert corpus.languages() == {"zh": 2}
    # 咨询者 and 求助者 (like 来访者) are the client; ASCII and full-width colons both work.
    assert [turn.role for turn in corpus["zh-b"].turns] == [
        "counselor",
        "client",
        "counselor",
        "client",
    ]
    assert corpus["zh-a"].turns[2].text == "能具体说说最近发生了什么吗？"


def test_japanese_prefixes() -> None:
    session = load_corpus(DATA / "session_ja.txt")["session_ja"]
    assert session.language == "ja"
    assert [turn.role for turn in session.turns] == ["counselor", "client"] * 2


def test_unknown_speaker_is_a_problem_until_mapped() -> None:
    text = "Dr. Lee: Good morning.\nClient: Morning.\nDr. Lee: How did the week go?\n"
    sessions, problems = parse_text(text, file="lee.txt")
    assert sessions == []
    assert [(p.record, p.field) for p in problems] == [("line 1", "speaker"), ("line 3", "speaker")]
    # A speaker label may be a name: it is not echoed, the line says where it is.
    assert "--speaker 'LABEL=ROLE'" in (problems[0].fix or "")
    assert "Lee" not in str(problems[0])
    sessions, problems = parse_text(text, file="lee.txt", speaker_map={"dr. lee": "counselor"})
    assert not problems
    assert [t.role for t in sessions[0].turns] == ["counselor", "client", "counselor"]
    assert sessions[0].turns[0].speaker == "Dr. Lee"


def test_colons_inside_continuations_are_not_speakers() -> None:
    text = (
        "Client: I made a list:\n"
        "  Note: indented lines always continue.\n"
        "he said: fine\n"
        "see https://example.org\n"
        "Counselor: Thanks.\n"
    )
    sessions, problems = parse_text(text, file="c.txt")
    assert not problems
    assert len(sessions[0].turns) == 2
    assert sessions[0].turns[0].text.count("\n") == 3


def test_problems_name_lines() -> None:
    text = (
        "Opening remarks without a speaker.\n"
        "Counselor: Hello.\n"
        "Client:\n"
        "Counselor: Are you there?\n"
    )
    sessions, problems = parse_text(text, file="p.txt")
    assert sessions == []
    assert [(p.record, p.field) for p in problems] == [("line 1", None), ("line 3", "text")]
    assert all(p.fix for p in problems)


def test_text_before_the_first_session_line_and_empty_sessions() -> None:
    text = "Client: stray\n=== session a ===\n=== session b ===\nClient: Hi.\n"
    sessions, problems = parse_text(text, file="m.txt")
    assert [s.id for s in sessions] == ["b"]
    assert [p.record for p in problems] == ["line 1", "line 2"]
    assert "no turns" in problems[1].message


def test_round_trip_corpus_text_corpus(tmp_path: Path) -> None:
    corpus = load_corpus([DATA / "sessions_zh.txt", DATA / "intake_en.txt"])
    path = save_corpus(corpus, tmp_path / "out.txt")
    again = load_corpus(path)
    assert again.ids == corpus.ids
    for original, copy in zip(corpus, again, strict=True):
        assert [(t.role, t.text, t.time) for t in copy.turns] == [
            (t.role, t.text, t.time) for t in original.turns
        ]
        assert copy.language == original.language


def test_saved_text_of_native_sessions(tmp_path: Path) -> None:
    corpus = load_corpus(DATA / "sessions.jsonl")
    path = save_corpus(corpus, tmp_path / "native.txt")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("=== session en-01 ===\n[")  # the ISO time is kept
    sessions, problems = read_sessions(path)
    assert not problems
    assert [session_to_record(s)["turns"][-1]["text"] for s in sessions] == [
        s.turns[-1].text for s in corpus
    ]
