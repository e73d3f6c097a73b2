"""KokoroChat importer, on the shared English and Chinese files and on hand-made lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from care.data import Corpus, load_corpus, read_sessions
from care.data.io import detect_format
from care.data.io.kokorochat import FEEDBACK_ITEMS, parse_kokorochat
from care.data.io.text_files import read_text
from care.errors import ParameterError
from shared_data import CHINESE, ENGLISH, needs_data

LIMIT = 50


@pytest.fixture(scope="module")
def english() -> Corpus:
    return load_corpus(ENGLISH, limit=LIMIT)


@pytest.fixture(scope="module")
def chinese() -> Corpus:
    return load_corpus(CHINESE, limit=LIMIT)


@needs_data
def test_detected_as_kokorochat() -> None:
    text, problems = read_text(ENGLISH, max_lines=2)
    assert not problems and text is not None
    assert detect_format(ENGLISH, text) == "kokorochat"


@needs_data
def test_english_sessions(english: Corpus) -> None:
    assert len(english) == LIMIT
    assert english.languages() == {"en": LIMIT}
    for session in english:
        assert session.turns and all(turn.text.strip() for turn in session.turns)
        assert {turn.role for turn in session.turns} <= {"counselor", "client"}
        assert [turn.index for turn in session.turns] == list(range(len(session.turns)))
        assert all("origin" in turn.meta for turn in session.turns)
        assert "topic" in session.meta and "evaluation_id" in session.meta
        assert isinstance(session.client_id, str) and isinstance(session.counselor_id, str)


@needs_data
def test_ratings(english: Corpus) -> None:
    for session in english:
        rating = session.rating("kokorochat-feedback", "client")
        assert rating is not None
        assert set(rating.values) <= {*FEEDBACK_ITEMS, "overall"}
        assert "overall" in rating.values and 0 <= rating.values["overall"] <= 100
        assert all(0 <= value <= 5 for key, value in rating.values.items() if key != "overall")
        assert set(rating.meta) >= {
            "harmful_due_to_ignorance",
            "other_potentially_unethical",
            "unwilling_to_continue",
        }


@needs_data
def test_chinese_matches_english(english: Corpus, chinese: Corpus) -> None:
    assert chinese.languages() == {"zh": LIMIT}
    assert chinese.ids == english.ids
    first_en, first_zh = next(iter(english)), next(iter(chinese))
    assert first_en.ratings[0].values == first_zh.ratings[0].values
    assert first_en.turns[0].meta["origin"] == first_zh.turns[0].meta["origin"]


@needs_data
def test_format_override_and_language_parameter() -> None:
    corpus = load_corpus(ENGLISH, format="kokorochat", limit=3, language="ja")
    assert len(corpus) == 3 and corpus.languages() == {"ja": 3}


@needs_data
def test_options_of_other_formats_are_refused_with_an_explicit_format() -> None:
    with pytest.raises(ParameterError, match="speaker_map"):
        load_corpus(ENGLISH, format="kokorochat", limit=1, speaker_map={"A": "client"})


def _line(**fields: object) -> str:
    record = {
        "session_id": "k1",
        "dialogue": [
            {
                "role": "counselor",
                "time": "2021-01-01T10:00:00",
                "origin": "こんにちは",
                "content": "Hello.",
            },
            {"role": "client", "time": "2021-01-01T10:01:00", "origin": "はい", "content": "Hi."},
        ],
        "topic": {"main_en": "Work"},
    }
    record.update(fields)
    return json.dumps(record, ensure_ascii=False)


def test_sessions_without_review_are_unrated() -> None:
    sessions, problems = parse_kokorochat(_line(), file="k.jsonl")
    assert not problems
    assert sessions[0].ratings == [] and sessions[0].client_id is None
    assert sessions[0].language == "en"


def test_review_values_flags_and_nulls() -> None:
    review = {
        "client_id": 12,
        "counselor_id": 7,
        "score": 70,
        "felt_respected": 4,
        "felt_heard_and_understood": None,
        "unwilling_to_continue": None,
        "harmful_due_to_ignorance": "checked",
    }
    sessions, problems = parse_kokorochat(_line(review_by_client=review), file="k.jsonl")
    assert not problems
    session = sessions[0]
    assert (session.client_id, session.counselor_id) == ("12", "7")
    rating = session.ratings[0]
    assert rating.instrument == "kokorochat-feedback" and rating.rater == "client"
    assert rating.values == {"felt_respected": 4.0, "overall": 70.0}
    assert rating.meta["harmful_due_to_ignorance"] == "checked"


def test_empty_turns_are_skipped_and_recorded_or_reported() -> None:
    dialogue = [
        {"role": "counselor", "content": "How are you?", "origin": "元気？"},
        {"role": "client", "content": " ", "origin": "。"},
        {"role": "client", "content": "Fine.", "origin": "元気です"},
    ]
    text = _line(dialogue=dialogue)
    sessions, problems = parse_kokorochat(text, file="k.jsonl")
    assert not problems
    assert [turn.text for turn in sessions[0].turns] == ["How are you?", "Fine."]
    assert sessions[0].meta["skipped_empty_turns"] == [{"position": 1, "origin": "。"}]
    sessions, problems = parse_kokorochat(text, file="k.jsonl", empty_turns="error")
    assert sessions == []
    assert [(p.record, p.field) for p in problems] == [("line 1", "dialogue[1].content")]
    assert problems[0].fix


def test_limit_counts_sessions_not_lines() -> None:
    text = "\n".join([_line(session_id="a"), "", _line(session_id="b"), _line(session_id="c")])
    sessions, _ = parse_kokorochat(text, file="k.jsonl", limit=2)
    assert [session.id for session in sessions] == ["a", "b"]
    with pytest.raises(ParameterError):
        parse_kokorochat(text, file="k.jsonl", limit=-1)


def test_bad_lines_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    lines = [
        _line(session_id="ok"),
        _line(dialogue=[{"role": "coach", "content": "Hi."}]),
        _line(review_by_client={"score": "high"}),
        _line(session_id="cut")[:40],
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    sessions, problems = read_sessions(path)
    assert [session.id for session in sessions] == ["ok"]
    assert [(p.record, p.field) for p in problems] == [
        ("line 2", "dialogue[0].role"),
        ("line 3", "review_by_client.score"),
        ("line 4", None),
    ]
    assert all(p.file == str(path) and p.fix for p in problems)


@needs_data
def test_whole_shared_files_load() -> None:
    """Both published files load completely, every session rated by its client."""
    english = load_corpus(ENGLISH)
    chinese = load_corpus(CHINESE)
    assert (len(english), len(chinese)) == (5225, 5210)
    for corpus, language in ((english, "en"), (chinese, "zh")):
        assert corpus.languages() == {language: len(corpus)}
        assert all(s.rating("kokorochat-feedback", "client") is not None for s in corpus)
        assert all(s.client_id is not None for s in corpus)
