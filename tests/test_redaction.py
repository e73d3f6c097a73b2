"""Redaction before remote calls, and `care redact`, in English and Chinese."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from care.cli.main import cli
from care.data.session import Session, Turn
from care.redaction import redact_session, redact_text


def test_english_contact_details_and_cued_names() -> None:
    text, found = redact_text(
        "Hi, my name is Sarah Miller. Mail sarah.m@example.com or call +1 (415) 555-0134, "
        "see www.example.org/me. I slept 10-12 hours in 2 weeks. Dr. Lee said so."
    )
    assert text == (
        "Hi, my name is [NAME]. Mail [EMAIL] or call [PHONE], see [URL]. "
        "I slept 10-12 hours in 2 weeks. Dr. [NAME] said so."
    )
    assert {r.kind for r in found} == {"NAME", "EMAIL", "PHONE", "URL"}


def test_chinese_contact_details_and_names() -> None:
    text, _ = redact_text(
        "我叫张伟，手机13812345678，微信号 zhangwei_88，身份证110101199003074518。"
        "王老师说可以加QQ：12345678。我考试前两周睡不着。"
    )
    assert text == (
        "我叫[NAME]，手机[PHONE]，微信号 [CONTACT]，身份证[ID]。"
        "[NAME]老师说可以加QQ：[CONTACT]。我考试前两周睡不着。"
    )


def test_a_name_found_once_is_redacted_in_every_turn() -> None:
    session = Session(
        id="s",
        turns=[
            Turn(index=0, role="client", text="My name is Anna.", speaker="Anna K"),
            Turn(index=1, role="counselor", text="Welcome, Anna. And Tom, your brother?"),
        ],
    )
    redacted, found = redact_session(session, names=["Tom"])
    assert [t.text for t in redacted.turns] == [
        "My name is [NAME].",
        "Welcome, [NAME]. And [NAME], your brother?",
    ]
    assert all(t.speaker is None for t in redacted.turns)
    assert session.turns[1].text.startswith("Welcome, Anna")  # the original is untouched
    assert sum(r.kind == "NAME" for r in found) == 3


def test_care_redact_command(tmp_path: Path) -> None:
    source = tmp_path / "s.jsonl"
    record = {
        "schema_version": 1,
        "id": "s1",
        "language": "en",
        "turns": [
            {"role": "counselor", "text": "Hello, I'm Dr. Smith."},
            {"role": "client", "text": "Hi, call me Jo. My email is jo@mail.com."},
        ],
    }
    source.write_text(json.dumps(record) + "\n", encoding="utf-8")
    out = tmp_path / "redacted.jsonl"
    result = CliRunner().invoke(cli, ["redact", str(source), "--out", str(out), "--show"])
    assert result.exit_code == 0, result.output
    assert "s1: EMAIL 1, NAME 2" in result.output
    written = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    texts = [turn["text"] for turn in written["turns"]]
    assert texts == ["Hello, I'm Dr. [NAME].", "Hi, call me [NAME]. My email is [EMAIL]."]
