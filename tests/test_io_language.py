"""Language detection by script."""

from __future__ import annotations

import pytest

from care.data import Session, Turn, detect_language
from care.data.language import session_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I have not been sleeping well.", "en"),
        ("Je suis très fatigué.", "en"),  # Latin script; give other languages explicitly
        ("我最近总是失眠。", "zh"),
        ("我用Python写了一个脚本，但是总是出错。", "zh"),
        ("最近、仕事に行くのがつらくて。", "ja"),
        ("カウンセラー", "ja"),
        ("職場", "zh"),  # Han alone cannot be told from Chinese
        ("我喜欢东京・大阪的风景。", "zh"),  # the katakana middle dot is not kana here
        ("OK 好的", "zh"),
        ("12:30 ... !!", None),
        ("", None),
    ],
)
def test_detect_language(text: str, expected: str | None) -> None:
    assert detect_language(text) == expected


def test_session_language_uses_the_turns() -> None:
    session = Session("s", [Turn(0, "counselor", "こんにちは。"), Turn(1, "client", "はい。")])
    assert session_language(session) == "ja"
    assert session_language(Session("e", [])) is None
