"""Tell the language of a transcript from the scripts its text is written in.

Only the languages care ships prompts for are told apart, and only by script:

* any real share of kana (hiragana or katakana) means Japanese (``"ja"``);
* Han characters without kana mean Chinese (``"zh"``);
* Latin letters (when they outweigh the CJK characters) mean English (``"en"``).

Text without letters gives None. Other languages written in Latin script are reported
as ``"en"``; give the language explicitly (``language=...``, ``--language``) for those.
"""

from __future__ import annotations

import re

from care.data.session import Session

__all__ = ["LANGUAGES", "detect_language", "session_language", "unknown_language"]

LANGUAGES: tuple[str, ...] = ("en", "zh", "ja")
"""The language codes a session may carry: those care tells apart and ships prompts or
models for. Any other value is refused when a file is read (it would otherwise choose
files such as a model by name)."""

# A Han character carries about as much text as a short word; Latin letters come about
# five to a word. Latin text wins only when it clearly outweighs the CJK text.
_LATIN_PER_CJK = 3
# Chinese text may quote a Japanese name or use the katakana middle dot; Japanese text
# has far more kana than this.
_MIN_KANA_SHARE = 0.2
_SAMPLE_CHARS = 20000


_KANA = re.compile("[\u3041-\u309f\u30a0-\u30fa\u30fd-\u30ff\u31f0-\u31ff\uff66-\uff9d]")
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f]")
_LATIN = re.compile("[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]")


def detect_language(text: str) -> str | None:
    """The language of ``text``: ``"en"``, ``"zh"``, ``"ja"``, or None when it has no letters.

    Decided by script alone (see the module docstring), so it is fast and needs no model.
    """
    kana = len(_KANA.findall(text))
    han = len(_HAN.findall(text))
    latin = len(_LATIN.findall(text))
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


def unknown_language(code: object) -> str | None:
    """None when ``code`` is one of :data:`LANGUAGES`, else what is wrong with it (a
    message that shows the value only when it is short and plain)."""
    if isinstance(code, str) and code in LANGUAGES:
        return None
    plain = isinstance(code, str) and re.fullmatch(r"[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})?", code)
    if not plain:
        return f"the language is not a language code (care knows {', '.join(LANGUAGES)})"
    return f"unknown language {code!r} (care knows {', '.join(LANGUAGES)})"
