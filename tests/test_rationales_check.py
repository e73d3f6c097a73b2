"""care rationales check: quotes with turns (English, Chinese, changed punctuation and
whitespace), lengths, rating consistency, duplicates, inter-reviewer agreement."""

from __future__ import annotations

from care.data.session import Session, Turn
from care.evidence import find_quote
from care.rationales.check import check_rationales, rating_inconsistent
from care.rationales.store import Review

EN = Session(
    "en",
    [
        Turn(0, "counselor", "What brings you here today?"),
        Turn(1, "client", "I keep putting off my thesis, and I feel guilty about it."),
        Turn(2, "counselor", "That sounds exhausting. Let's set one small goal."),
    ],
    language="en",
)
ZH = Session(
    "zh",
    [
        Turn(0, "counselor", "你好，今天想聊些什么？"),
        Turn(1, "client", "我最近总是失眠，白天上班也没有精神。"),
        Turn(2, "counselor", "我们一起定一个小目标，好吗？"),
    ],
    language="zh",
)


def test_quotes_found_with_their_turn_english_and_chinese() -> None:
    assert find_quote("I keep putting off my thesis", EN) == 1
    # changed whitespace and trailing punctuation still match
    assert find_quote("I keep  putting off\nmy thesis,", EN) == 1
    # half-width comma for the Chinese full-width one, and a dropped full stop
    assert find_quote("我最近总是失眠,白天上班也没有精神", ZH) == 1
    assert find_quote("我最近总是失眠，\n白天上班", ZH) is None  # a space added: no match
    assert find_quote("  失眠，白天上班 。", ZH) == 1  # edge spaces/punctuation stripped
    # an ellipsis marks left-out words
    assert find_quote("I keep putting off...guilty", EN) == 1
    # changed words or changed inner punctuation do not match; case matters
    assert find_quote("I keep putting off my essay", EN) is None
    assert find_quote("I keep putting off my thesis and I feel", EN) is None
    assert find_quote("i keep putting off", EN) is None
    assert find_quote("我最近总是睡不着", ZH) is None


def test_report_counts_quotes_lengths_tone_duplicates() -> None:
    zh_text = "我觉得咨询师理解我的困扰，她说“我们一起定一个小目标，好吗”，让我感到被支持。"
    records = [
        {
            "session_id": "en",
            "item_id": "item1",
            "rating": 5,
            "language": "en",
            "rationale": 'I felt supported. The counselor said "Let\'s set one small goal."',
        },
        {
            "session_id": "en",
            "item_id": "item2",
            "rating": 1,
            "language": "en",
            "rationale": 'I felt understood and helped: "set one big goal"',
        },
        {
            "session_id": "zh",
            "item_id": "item1",
            "rating": 5,
            "language": "zh",
            "rationale": zh_text,
        },
        {
            "session_id": "zh",
            "item_id": "item3",
            "rating": 4,
            "language": "zh",
            "rationale": zh_text,
        },
    ]
    report = check_rationales(records, {"en": EN, "zh": ZH}, target_length=20)
    summary = report["summary"]
    assert summary["quotes"]["n_quotes"] == 4
    assert summary["quotes"]["n_found"] == 3
    rows = report["rationales"]
    assert rows[0]["quotes"] == [{"quote": "Let's set one small goal.", "found": True, "turn": 2}]
    assert rows[1]["quotes"][0]["turn"] is None
    assert rows[1]["rating_inconsistent"] and not rows[0]["rating_inconsistent"]
    assert summary["n_rating_inconsistent"] == 1
    assert rows[2]["quotes"][0]["turn"] == 2
    assert rows[2]["length"] == len(zh_text)
    assert rows[3]["duplicate_of"] and summary["n_duplicates"] == 1
    assert summary["length"]["min"] == 9


def test_tone_handles_negation_and_chinese() -> None:
    assert rating_inconsistent("I did not feel understood at all.", 5, 1, 5)
    assert not rating_inconsistent("I did not feel understood at all.", 1, 1, 5)
    assert rating_inconsistent("我觉得咨询师并不理解我，只是敷衍。", 5, 1, 5)
    assert rating_inconsistent("咨询师很理解我，也很支持我。", 1, 1, 5)


def test_inter_reviewer_agreement() -> None:
    key = ("en", "wai-sr-client", "item1", "t", "v")
    key2 = ("en", "wai-sr-client", "item2", "t", "v")
    reviews = [
        Review(*key, "ann", "accept", scores={"faithfulness": 5, "relevance": 4}, created_at=1),
        Review(*key, "bo", "accept", scores={"faithfulness": 5, "relevance": 2}, created_at=2),
        Review(*key2, "ann", "accept", scores={"faithfulness": 2}, created_at=3),
        Review(*key2, "bo", "reject", scores={"faithfulness": 3}, created_at=4),
    ]
    report = check_rationales([], {}, reviews=reviews)
    agreement = report["summary"]["agreement"]
    assert agreement["reviewers"] == ["ann", "bo"]
    faith = agreement["scales"]["faithfulness"]
    assert faith["n_items"] == 2 and faith["exact"] == 0.5 and faith["within_1"] == 1.0
    assert 0 < faith["weighted_kappa"] <= 1
    assert agreement["scales"]["relevance"]["mean_abs_diff"] == 2
