"""Corpus-level checks: duplicate ids, ratings against instruments, in-memory sessions."""

from __future__ import annotations

import pytest

from care.data.session import RatingSet, Session, Turn
from care.data.validation import validate_sessions


def session(session_id: str, *ratings: RatingSet, turns: list[Turn] | None = None) -> Session:
    if turns is None:
        turns = [Turn(0, "counselor", "Hello."), Turn(1, "client", "Hi.")]
    return Session(id=session_id, turns=turns, ratings=list(ratings))


def wai(**values: float) -> RatingSet:
    return RatingSet("wai-sr-client", "client", dict(values))


def test_valid_sessions_have_no_problems() -> None:
    sessions = [
        session("a", wai(item1=1, item2=5, item12=3.5)),
        session("b"),
        session(
            "c", RatingSet("kokorochat-feedback", "client", {"overall": 88, "felt_respected": 0})
        ),
        session("d", RatingSet("esconv-seeker-survey", "client", {"empathy": 4})),
    ]
    assert validate_sessions(sessions, file="f.jsonl") == []


def test_duplicate_ids_name_both_places() -> None:
    sessions = [session("a"), session("b"), session("a")]
    problems = validate_sessions(sessions, file="f.jsonl", records=["line 1", "line 2", "line 3"])
    assert len(problems) == 1
    problem = problems[0]
    assert (problem.file, problem.record, problem.field) == ("f.jsonl", "line 3", "id")
    assert "also at f.jsonl, line 1" in problem.message and problem.fix


def test_duplicate_ids_without_records_use_positions() -> None:
    problems = validate_sessions([session("a"), session("a")], file=["x.csv", "y.csv"])
    assert problems[0].file == "y.csv" and problems[0].record == "session 'a'"
    assert "also at x.csv, session #1" in problems[0].message


def test_every_bad_rating_is_reported() -> None:
    sessions = [
        session("a", wai(item1=0, item2=6, item3=3)),
        session("b", wai(item13=2), RatingSet("wai-sr-client", "therapist", {"item1": 2})),  # type: ignore[arg-type]
        session("c", RatingSet("kokorochat-feedback", "client", {"overall": 101})),
    ]
    problems = validate_sessions(sessions, file="f.jsonl")
    assert [(p.record, p.field) for p in problems] == [
        ("session 'a'", "ratings[0].values.item1"),
        ("session 'a'", "ratings[0].values.item2"),
        ("session 'b'", "ratings[0].values.item13"),
        ("session 'b'", "ratings[1].rater"),
        ("session 'c'", "ratings[0].values.overall"),
    ]
    assert "outside the scale 1-5" in problems[0].message
    assert "no item 'item13'" in problems[2].message and "item1" in (problems[2].fix or "")
    assert "0-100" in problems[4].message
    assert all(p.fix for p in problems)


def test_unknown_instrument_is_reported_once_with_a_count() -> None:
    mine = RatingSet("my-scale", "client", {"q1": 3})
    problems = validate_sessions([session("a", mine), session("b", mine)], file="f.jsonl")
    assert len(problems) == 1
    assert problems[0].message == "unknown instrument 'my-scale' (in 2 rating sets)"
    assert problems[0].record == "session 'a'" and problems[0].field == "ratings[0].instrument"
    assert "`care instruments`" in (problems[0].fix or "")


def test_sessions_built_in_code_are_checked_too() -> None:
    bad = session("a", turns=[Turn(0, "coach", "Hi."), Turn(1, "client", "  ")])  # type: ignore[arg-type]
    problems = validate_sessions([bad, session("b", turns=[])])
    assert [(p.record, p.field) for p in problems] == [
        ("session 'a'", "turns[0].role"),
        ("session 'a'", "turns[1].text"),
        ("session 'b'", "turns"),
    ]


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError):
        validate_sessions([session("a")], records=["line 1", "line 2"])
