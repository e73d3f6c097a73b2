"""Tell the language of a transcript from the scripts its text is written in.

Only the languages care ships prompts for are told apart, and only by script:

* any real share of kana (hiragana or katakana) means Japanese (``"ja"``);
* Han characters without kana mean Chinese (``"zh"``);
* Latin letters (when they outweigh the CJK characters) mean English (``"en"``).

Text without letters gives None. Other languages written in Latin script are reported
as ``"en"``; give the language explicitly (``language=...``, ``--language``) for those.
"""

from __future__ import annotations

from care.data.session import Session

__all__ = ["detect_language", "session_language"]

# A Han character carries about as much text as a short word; Latin letters come about
# five to a word. Latin text wins only when it clearly outweighs the CJK text.
_LATIN_PER_CJK = 3
# Chinese text may quote a Japanese name or use the katakana middle dot; Japanese text
# has far more kana than this.
_MIN_KANA_SHARE = 0.1
_SAMPLE_CHARS = 4000


def _is_kana(code: int) -> bool:
    return (
        0x3041 <= code <= 0x309F  # hiragana
        or (0x30A0 <= code <= 0x30FF and code not in (0x30FB, 0x30FC))  # katakana, not ・ ー
        or 0x31F0 <= code <= 0x31FF  # katakana phonetic extensions
        or 0xFF66 <= code <= 0xFF9D  # half-width katakana
    )


def _is_han(code: int) -> bool:
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x2FA1F
    )


def detect_language(text: str) -> str | None:
    """The language of ``text``: ``"en"``, ``"zh"``, ``"ja"``, or None when it has no letters.

    Decided by script alone (see the module docstring), so it is fast and needs no model.
    """
    kana = han = latin = 0
    for char in text:
        code = ord(char)
        if code < 0x80:
            if char.isalpha():
                latin += 1
        elif _is_kana(code):
            kana += 1
        elif _is_han(code):
            han += 1
        elif code < 0x250 and char.isalpha():
            latin += 1  # accented Latin letters
    cjk = kana + han
    if cjk and latin <= _LATIN_PER_CJK * cjk:
        if kana and kana >= _MIN_KANA_SHARE * cjk:
            return "ja"
        return "zh" if han else "ja"
    if latin:
        return "en"
    return None


def session_language(session: Session, sample_chars: int = _SAMPLE_CHARS) -> str | None:
    """The language of a session's turns, from about the first ``sample_chars`` characters.

    Importers call this for sessions whose source does not state a language and for which
    the user gave none.
    """
    parts: list[str] = []
    size = 0
    for turn in session.turns:
        parts.append(turn.text)
        size += len(turn.text)
        if size >= sample_chars:
            break
    return detect_language("\n".join(parts))
