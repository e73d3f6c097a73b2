"""One quote rule: a quote the assessor marks verbatim is found by `care evaluate`'s
faithfulness count and by `care rationales check`, and one it marks not verbatim is found by
neither."""

from __future__ import annotations

from care.assessors.llm import LLMAssessor
from care.data.session import Session, Turn
from care.evaluate.rationales import quote_faithfulness
from care.rationales.check import check_rationales
from llm_doubles import ScriptedBackend

SESSION = Session(
    id="q",
    language="zh",
    turns=[
        Turn(index=0, role="counselor", text="你好，今天想聊些什么？"),
        Turn(index=1, role="client", text="我最近总是失眠，白天上班也没有精神。"),
        Turn(index=2, role="client", text="I keep  putting off my thesis, and I feel guilty."),
    ],
)
# Full-width/half-width punctuation, extra spaces and an ellipsis count as verbatim; other
# words and other letter case do not.
FOUND = ["我最近总是失眠,白天上班", "I keep putting off...guilty"]
NOT_FOUND = ["我最近总是睡不着", "i keep putting off my thesis"]


def _rationale() -> str:
    return "我说过" + "、".join(f"“{quote}”" for quote in FOUND + NOT_FOUND) + "。"


def test_the_assessor_evaluation_and_check_agree_on_every_quote() -> None:
    backend = ScriptedBackend(answer=lambda messages, options: "3\n" + _rationale())
    result = LLMAssessor(backend, instrument="wai-sr-client", items=["item1"]).assess([SESSION])[0]
    evidence = {piece.quote: piece.verbatim for piece in result.items["item1"].evidence}
    assert evidence == {**dict.fromkeys(FOUND, True), **dict.fromkeys(NOT_FOUND, False)}

    faithfulness = quote_faithfulness([_rationale()], [SESSION])
    assert faithfulness.n_quotes == 4 and faithfulness.n_found == 2
    assert sorted(faithfulness.unmatched) == sorted(NOT_FOUND)

    report = check_rationales(
        [{"session_id": "q", "item_id": "item1", "rating": 3, "rationale": _rationale()}],
        {"q": SESSION},
        scale=(1, 5),
    )
    checked = report["rationales"][0]
    located = {quote["quote"]: quote["turn"] for quote in checked["quotes"]}
    assert {quote for quote, turn in located.items() if turn is not None} == set(FOUND)
