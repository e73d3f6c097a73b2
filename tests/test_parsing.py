"""Reading answers: CARE's two lines and JSON, English and Chinese; never a guessed score."""

from __future__ import annotations

import pytest

from care.assessors.parsing import (
    AnswerParseError,
    parse_item_answer,
    parse_one_pass_answer,
)
from care.data.session import Session, Turn
from care.evidence import extract_quotes, verify_quotes

VALUES = (1, 2, 3, 4, 5)
EN = ("Seldom", "Sometimes", "Fairly often", "Very often", "Always")
ZH = ("从来没有", "偶尔如此", "有时如此", "经常如此", "总是如此")


@pytest.mark.parametrize(
    ("text", "value", "reason"),
    [
        ('4\nThe counselor said "I\'m glad you told me".', 4, "The counselor said \"I'm glad"),
        ("4. Very often\nReason: she listened.", 4, "she listened."),
        ("Choice: 2\nReason: we did not set goals.", 2, "we did not set goals."),
        ("Very often\nshe listened", 4, "she listened"),
        ("3. Fairly often. Reason: some goals were agreed.", 3, "some goals were agreed."),
        ("**Answer:** 5\n\nBecause: it helped", 5, "it helped"),
        (
            "选择：4. 经常如此\n理由：咨询师说“我很高兴你告诉我”。",
            4,
            "咨询师说“我很高兴你告诉我”。",
        ),
        ("经常如此\n理由：她在听我说。", 4, "她在听我说。"),
        ('{"choice": 3, "reason": "we agreed"}', 3, "we agreed"),
        ('```json\n{"choice": "5", "reason": "理由"}\n```', 5, "理由"),
        ('Sure! {"option": 1, "rationale": "no goals"}', 1, "no goals"),
    ],
)
def test_answers_that_parse(text: str, value: int, reason: str) -> None:
    labels = ZH if any("\u4e00" <= ch <= "\u9fff" for ch in text[:8]) else EN
    answer = parse_item_answer(text, VALUES, labels)
    assert answer.value == value
    assert answer.reason is not None and answer.reason.startswith(reason)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("The capital of France is Paris.", "no option number"),
        ("7\nit was great", "not an option"),
        ("3 or 4\nhard to say", "several options"),
        ("4", "no reason"),
        ('{"reason": "nice"}', 'no "choice"'),
        ('{"choice": 3.5, "reason": "x"}', "not an option number"),
    ],
)
def test_answers_that_do_not_parse_say_why(text: str, why: str) -> None:
    with pytest.raises(AnswerParseError, match=why):
        parse_item_answer(text, VALUES, EN)


def test_reason_can_be_optional() -> None:
    assert parse_item_answer("4", VALUES, EN, require_reason=False).reason is None


def test_one_pass_lines_and_json() -> None:
    lines = "1. 4 | we agreed on goals\n2. 2 | not really\n3. 9 | ???\n"
    answers, problems = parse_one_pass_answer(lines, 4, VALUES, EN)
    assert {n: a.value for n, a in answers.items()} == {1: 4, 2: 2}
    assert "not an option" in problems[3] and "no answer for question 4" in problems[4]
    text = '{"1": {"choice": 5, "reason": "a"}, "2": {"choice": 1, "reason": "b"}}'
    answers, problems = parse_one_pass_answer(text, 2, VALUES, EN)
    assert [answers[1].value, answers[2].value] == [5, 1] and not problems
    answers, _ = parse_one_pass_answer('{"items": [{"choice": 3, "reason": "c"}]}', 1, VALUES)
    assert answers[1].value == 3


def test_quotes_are_checked_against_the_transcript() -> None:
    session = Session(
        id="s",
        turns=[
            Turn(index=0, role="counselor", text="I'm glad you told me."),
            Turn(index=1, role="client", text="谢谢你，说出来感觉好多了。"),
        ],
    )
    rationale = (
        'The counselor said "I\'m glad you told me" and I said “说出来感觉好多了”, '
        'but never "you are doing great".'
    )
    assert extract_quotes(rationale) == [
        "I'm glad you told me",
        "说出来感觉好多了",
        "you are doing great",
    ]
    evidence = {piece.quote: piece for piece in verify_quotes(rationale, session)}
    assert (
        evidence["I'm glad you told me"].verbatim
        and evidence["I'm glad you told me"].turn_index == 0
    )
    assert evidence["说出来感觉好多了"].verbatim and evidence["说出来感觉好多了"].turn_index == 1
    assert not evidence["you are doing great"].verbatim
    assert verify_quotes("no quotes here", session) == []
