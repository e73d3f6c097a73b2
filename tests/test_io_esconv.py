"""ESConv importer: the shared sample and hand-made records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from care.data import Corpus, load_corpus, read_sessions
from care.data.io import detect_format
from care.data.io.esconv import parse_esconv
from care.instruments import get_instrument, instrument_from_dict, instrument_to_dict
from shared_data import shared_data

SAMPLE = shared_data() / "samples" / "esconv_sample.json"
needs_data = pytest.mark.skipif(
    not SAMPLE.exists(), reason=f"the shared ESConv sample is not at {SAMPLE}"
)


@pytest.fixture(scope="module")
def sample() -> Corpus:
    return load_corpus(SAMPLE)


@needs_data
def test_sample_sessions(sample: Corpus) -> None:
    assert detect_format(SAMPLE, SAMPLE.read_text(encoding="utf-8")) == "esconv"
    assert sample.ids == ["esconv-0", "esconv-1", "esconv-2"]
    assert sample.languages() == {"en": 3}
    for session in sample:
        assert {turn.role for turn in session.turns} == {"counselor", "client"}
        for turn in session.turns:
            assert turn.speaker in ("usr", "sys")
            assert (turn.role == "counselor") == (turn.speaker == "sys")
            if turn.role == "counselor":
                assert "strategy" in turn.meta
        for key in ("emotion_type", "problem_type", "situation", "experience_type"):
            assert key in session.meta


@needs_data
def test_sample_surveys(sample: Corpus) -> None:
    session = sample["esconv-0"]
    seeker = session.rating("esconv-seeker-survey", "client")
    supporter = session.rating("esconv-supporter-survey", "counselor")
    assert seeker is not None and supporter is not None
    assert set(seeker.values) == {
        "empathy",
        "relevance",
        "initial_emotion_intensity",
        "final_emotion_intensity",
    }
    assert all(1 <= value <= 5 for value in seeker.values.values())
    assert set(supporter.values) == {"relevance"}


def test_builtin_survey_instruments() -> None:
    seeker = get_instrument("esconv-seeker-survey")
    assert seeker.rater == "client"
    assert set(seeker.item_ids) == {
        "empathy",
        "relevance",
        "initial_emotion_intensity",
        "final_emotion_intensity",
    }
    assert seeker.scored_item_ids == ("empathy", "relevance")
    assert seeker.check_value("empathy", 6) is not None
    supporter = get_instrument("esconv-supporter-survey")
    assert supporter.rater == "counselor" and supporter.item_ids == ("relevance",)
    for instrument in (seeker, supporter):
        assert instrument.citation and instrument.source and instrument.description
        assert instrument_from_dict(instrument_to_dict(instrument)) == instrument


def _conversation(**fields: object) -> dict:
    record: dict = {
        "emotion_type": "sadness",
        "problem_type": "breakup",
        "situation": "A made-up situation for a test.",
        "dialog": [
            {"speaker": "usr", "text": "I feel low since the breakup."},
            {"speaker": "sys", "text": "I am sorry to hear that.", "strategy": "Affirmation"},
        ],
    }
    record.update(fields)
    return record


def test_unrated_and_own_ids() -> None:
    text = json.dumps([_conversation(), _conversation(id="conv-9")])
    sessions, problems = parse_esconv(text, file="e.json")
    assert not problems
    assert [session.id for session in sessions] == ["esconv-0", "conv-9"]
    assert all(session.ratings == [] for session in sessions)


def test_jsonl_variant_is_read() -> None:
    text = "\n".join(json.dumps(_conversation()) for _ in range(2))
    sessions, problems = parse_esconv(text, file="e.jsonl")
    assert not problems and [s.id for s in sessions] == ["esconv-0", "esconv-1"]


def test_bad_records_are_all_reported(tmp_path: Path) -> None:
    records = [
        _conversation(),
        _conversation(dialog=[{"speaker": "bot", "text": "Hi."}]),
        _conversation(dialog=[{"speaker": "usr", "text": ""}]),
        _conversation(survey_score={"seeker": {"empathy": "7", "relevance": "4"}}),
        _conversation(survey_score={"supporter": {"relevance": "high"}}),
    ]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    sessions, problems = read_sessions(path)
    assert [session.id for session in sessions] == ["esconv-0", "esconv-3"]
    assert [(p.record, p.field) for p in problems] == [
        ("record 2", "dialog[0].speaker"),
        ("record 3", "dialog[0].text"),
        ("record 5", "survey_score.supporter.relevance"),
        ("record 4", "ratings[0].values.empathy"),  # checked after parsing, on the scale
    ]
    assert "outside the scale 1-5" in problems[3].message
    assert all(p.file == str(path) and p.fix for p in problems)
