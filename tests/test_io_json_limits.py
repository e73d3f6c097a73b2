"""JSON beyond care's limits is refused when read, with where and how to fix it; the
helpers that keep messages free of client text and on one line; evidence rules."""

from __future__ import annotations

import json
import math

import pytest

from care.assessors.degenerate import consistent_evidence, session_warnings
from care.data.io.json_text import MAX_DEPTH, MAX_INT_DIGITS, JSONInputError, loads
from care.data.session import Session, Turn
from care.errors import describe, key_name, one_line
from care.results import Evidence


def _nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def test_ordinary_json_is_read_as_json_loads_reads_it() -> None:
    text = json.dumps({"id": "s", "n": 10**200, "x": 1.5, "emoji": "\U0001f600", "nan": None})
    assert loads(text) == json.loads(text)
    assert loads(json.dumps({"e": "\U0001f600"}, ensure_ascii=True))["e"] == "\U0001f600"
    assert loads(r'{"path": "C:\\ud800"}')["path"] == "C:\\ud800"  # an escaped backslash
    assert loads(_nested(MAX_DEPTH - 1))


@pytest.mark.parametrize("digits", [MAX_INT_DIGITS + 1, 4301, 5000])
def test_huge_integers_name_their_column(digits: int) -> None:
    with pytest.raises(JSONInputError) as caught:
        loads('{"id": "s", "n": ' + "7" * digits + "}")
    assert f"{digits} digits at column 18" in caught.value.message and caught.value.limit
    assert loads('{"n": -' + "7" * MAX_INT_DIGITS + "}")["n"] < 0


def test_numbers_that_overflow_a_float() -> None:
    with pytest.raises(JSONInputError, match="too large"):
        loads('{"rating": 1e999}')
    assert math.isnan(loads('{"rating": NaN}')["rating"])  # as json.loads, for meta values


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, 5000, 50000])
def test_deep_nesting_is_refused_at_any_depth(depth: int) -> None:
    with pytest.raises(JSONInputError, match=f"more than {MAX_DEPTH} levels") as caught:
        loads(_nested(depth))
    assert caught.value.limit
    with pytest.raises(JSONInputError, match="levels"):
        loads("[" * depth + "]" * depth)


def test_lone_surrogates_name_the_field() -> None:
    with pytest.raises(JSONInputError) as caught:
        loads('{"turns": [{"text": "ok"}, {"text": "bad \\ud800"}]}')
    assert caught.value.field == "turns[1].text" and "lone surrogate" in caught.value.message
    with pytest.raises(JSONInputError) as caught:
        loads('{"meta": {"\\udfff": 1}}')
    assert caught.value.field == "meta"
    with pytest.raises(JSONInputError) as caught:
        loads('{"My secret line": {"x": "\\ud800"}}')
    assert caught.value.field == "<key>.x"


def test_invalid_json_is_not_a_limit() -> None:
    with pytest.raises(JSONInputError) as caught:
        loads('{"id": ')
    assert not caught.value.limit and "invalid JSON" in caught.value.message


def test_messages_describe_values_without_their_text() -> None:
    assert describe("I feel sad") == "a text of 10 characters"
    assert describe("  ") == "an empty text"
    assert describe(7) == "7" and describe(None) == "null" and describe([1]) == "a list of 1 value"
    assert key_name("item_1") == "item_1" and key_name("I feel sad") == "<key>"
    assert key_name("x" * 41) == "<key>" and key_name(3) == "<key>"
    assert one_line("a\nb\x85c\u2028d\re") == "a\\nb\\x85c\\u2028d\\re"


def _evidence(*contributions: float) -> list[Evidence]:
    return [Evidence(turn_index=i, quote="q", contribution=c) for i, c in enumerate(contributions)]


def test_evidence_never_contradicts_a_score_at_a_bound() -> None:
    pieces = _evidence(0.3, -0.2, 0.0)
    assert consistent_evidence(2.5, 0, 5, pieces) == pieces
    assert [p.contribution for p in consistent_evidence(0.0, 0, 5, pieces)] == [-0.2, 0.0]
    assert [p.contribution for p in consistent_evidence(5.0, 0, 5, pieces)] == [0.3, 0.0]
    assert consistent_evidence(float("nan"), 0, 5, pieces) == []


def test_thin_sessions_are_named_in_warnings() -> None:
    def session(*roles: str) -> Session:
        return Session("s9", [Turn(i, role, "text") for i, role in enumerate(roles)])  # type: ignore[arg-type]

    assert session_warnings(session("counselor", "client")) == []
    [only] = session_warnings(session("counselor", "counselor"))
    assert "'s9' has no client turns" in only
    assert len(session_warnings(session("client"))) == 2
    assert "no counselor turns" in session_warnings(session("client", "client"))[0]
