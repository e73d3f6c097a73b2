"""The session model: turns, ratings, truncation, re-indexing and merging."""

from __future__ import annotations

import pytest

from care.data import RatingSet, Session, Turn
from care.data.session import merge_consecutive_turns, reindex


def make() -> Session:
    turns = [
        Turn(0, "counselor", "Hello.", speaker="T", time="10:00"),
        Turn(1, "client", "Hi.", speaker="C"),
        Turn(2, "client", "I am nervous.", speaker="C", meta={"note": "x"}),
        Turn(3, "client", "Sorry.", speaker="C2"),
        Turn(4, "counselor", "Take your time.", speaker="T"),
    ]
    ratings = [RatingSet("wai-sr-client", "client", {"item1": 4.0})]
    return Session("s", turns, language="en", client_id="c", ratings=ratings, meta={"k": 1})


def test_basics() -> None:
    session = make()
    assert len(session) == 5 and [t.index for t in session] == list(range(5))
    assert [t.text for t in session.turns_by("counselor")] == ["Hello.", "Take your time."]
    assert session.rating("wai-sr-client") is session.ratings[0]
    assert session.rating("wai-sr-client", "counselor") is None
    assert Turn(0, "client", "x").meta == {} and Session("e", []).ratings == []


def test_truncated_keeps_ratings_and_at_least_one_turn() -> None:
    session = make()
    short = session.truncated(0.4)
    assert [t.index for t in short.turns] == [0, 1]
    assert short.ratings == session.ratings and short.meta["truncated_fraction"] == 0.4
    assert len(session.truncated(0.01).turns) == 1
    with pytest.raises(ValueError):
        session.truncated(0)


def test_reindex() -> None:
    turns = reindex([Turn(7, "client", "a"), Turn(3, "counselor", "b")])
    assert [t.index for t in turns] == [0, 1]


def test_merge_consecutive_turns_of_one_speaker_only() -> None:
    session = make()
    merged = merge_consecutive_turns(session)
    assert [t.text for t in merged.turns] == [
        "Hello.",
        "Hi.\nI am nervous.",
        "Sorry.",  # same role, another speaker: kept apart
        "Take your time.",
    ]
    assert [t.index for t in merged.turns] == [0, 1, 2, 3]
    assert merged.turns[1].meta == {"merged_from": [1, 2]}
    assert merged.meta == {"k": 1, "merged_consecutive_turns": True}
    # The original is untouched.
    assert len(session.turns) == 5 and session.turns[1].text == "Hi."
    assert "merged_from" not in session.turns[1].meta
