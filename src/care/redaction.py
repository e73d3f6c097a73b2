"""Redacting names and contact details from transcripts, English and Chinese.

The LLM assessor runs this step before any text goes to a remote model; ``care redact`` runs
it on files so that a user can see exactly what would be sent, and test it.

What is replaced (by a placeholder naming the kind):

* ``[EMAIL]`` e-mail addresses; ``[URL]`` web addresses;
* ``[PHONE]`` phone numbers (7 or more digits, with the usual separators; Chinese mobiles);
* ``[ID]`` Chinese resident ID numbers (18 characters);
* ``[CONTACT]`` messenger ids after WeChat/微信/QQ/Line/Telegram/... and ``@handles``;
* ``[NAME]`` names: those the user gives, the speakers' names, and names introduced by cues
  (``my name is``, ``call me``, ``Dr./Mr./Ms.``, ``我叫``, ``我的名字是``, ``叫我``, a
  common surname followed by ``老师``/``先生``/``女士``/...). A name found anywhere in a
  session is replaced everywhere in it.

Redaction is a best effort, not a guarantee: names with no cue ("Anna said ...") are only
caught when the user lists them (``care redact --name Anna``).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from care.data.session import Session

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
    "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾"
    "毛郝龚邵万钱严覃武戴莫孔向汤"
)
_HAN = r"[\u4e00-\u9fff]"
_GENERIC_SPEAKERS = {
    "counselor",
    "counsellor",
    "therapist",
    "client",
    "patient",
    "seeker",
    "supporter",
    "user",
    "assistant",
    "咨询师",
    "来访者",
    "求助者",
    "心理咨询师",
}

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("EMAIL", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("URL", re.compile(r"(?:https?://|www\.)[^\s，。）)\]]*[^\s，。）)\].,;:!?]", re.IGNORECASE)),
    ("ID", re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")),
    (
        "CONTACT",
        re.compile(
            r"(?:微信号?|QQ号?|qq号?|vx|VX|[Ww]e[Cc]hat(?: ID| id)?|[Tt]elegram|LINE ID|[Ll]ine id)"
            r"(?:\s*(?:is|号|是|:|：)\s*|\s+)(?P<value>[A-Za-z0-9_.-]{5,})"
        ),
    ),
    ("NAME", re.compile(rf"[{_SURNAMES}](?=老师|先生|女士|小姐|医生|同学|阿姨|叔叔)")),
    ("CONTACT", re.compile(r"(?<![\w@])@[A-Za-z0-9_]{3,}")),
    ("PHONE", re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")),
    (
        "PHONE",
        re.compile(
            r"(?<![\w])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?)?\d{2,4}(?:[\s.-]\d{2,4}){1,3}"
            r"(?![\w])|(?<!\d)\d{7,12}(?!\d)"
        ),
    ),
]

_NAME_CUES = [
    re.compile(
        r"\b(?:[Mm]y name is|[Mm]y name's|[Cc]all me|I'm called|I am called|[Tt]his is)\s+"
        r"([A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)"
    ),
    re.compile(r"\b(?:Dr|Mr|Mrs|Ms|Miss|Prof)\.?\s+([A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)"),
    re.compile(
        rf"(?:我叫|我的名字是|我的名字叫|叫我|我名叫)({_HAN}{{2,3}}?)(?=[，。,.!！？?\s]|$|，)"
    ),
    re.compile(rf"(?:我叫|我的名字是|我的名字叫|叫我|我名叫)({_HAN}{{2,3}})"),
    re.compile(rf"我是([{_SURNAMES}]{_HAN}{{1,2}}?)(?=[，。,.!！？?\s]|$)"),
    re.compile(rf"([{_SURNAMES}]{_HAN}{{0,2}}?)(?:老师|先生|女士|小姐|医生|同学|阿姨|叔叔)"),
]
_NOT_NAMES = {"This", "That", "It", "Me", "Here", "Not", "Just", "Really", "Very"}


@dataclass(frozen=True)
class Redaction:
    """One replacement: what kind, the original text, and the turn it was in."""

    kind: str
    original: str
    turn_index: int | None = None

    @property
    def placeholder(self) -> str:
        """The text that replaced the original."""
        return f"[{self.kind}]"


def find_names(texts: Iterable[str]) -> list[str]:
    """Names introduced by cues in ``texts`` (see the module docstring)."""
    found: list[str] = []
    for text in texts:
        for pattern in _NAME_CUES:
            for match in pattern.finditer(text):
                name = match.group(1).strip()
                if len(name) > 1 and name not in _NOT_NAMES and name not in found:
                    found.append(name)
    return found


def redact_text(
    text: str, names: Iterable[str] = (), turn_index: int | None = None
) -> tuple[str, list[Redaction]]:
    """``text`` with contact details, the given ``names`` and cued names replaced."""
    redactions: list[Redaction] = []

    def replace(kind: str) -> Callable[[re.Match[str]], str]:
        def substitute(match: re.Match[str]) -> str:
            whole = match.group(0)
            if kind == "PHONE" and sum(ch.isdigit() for ch in whole) < 7:
                return whole  # "10-12 hours", "2 weeks": not a phone number
            value = match.groupdict().get("value") or whole
            redactions.append(Redaction(kind, value, turn_index))
            return whole.replace(value, f"[{kind}]") if value != whole else f"[{kind}]"

        return substitute

    for kind, pattern in _PATTERNS:
        text = pattern.sub(replace(kind), text)
    all_names = sorted({*names, *find_names([text])}, key=len, reverse=True)
    for name in all_names:
        if not name.strip():
            continue
        if re.fullmatch(r"[\w .'-]+", name) and name.isascii():
            pattern = re.compile(rf"(?<![\w]){re.escape(name)}(?![\w])")
        else:
            pattern = re.compile(re.escape(name))
        text = pattern.sub(replace("NAME"), text)
    return text, redactions


def redact_session(session: Session, names: Iterable[str] = ()) -> tuple[Session, list[Redaction]]:
    """A copy of ``session`` with names and contact details redacted in every turn.

    Speakers' own names (``Turn.speaker``, unless generic like "Counselor") count as names;
    a name found in one turn is replaced in all of them. Speaker fields are cleared.
    """
    speakers = {
        turn.speaker.strip()
        for turn in session.turns
        if turn.speaker and turn.speaker.strip().lower() not in _GENERIC_SPEAKERS
    }
    known = [*names, *speakers, *find_names(turn.text for turn in session.turns)]
    redactions: list[Redaction] = []
    turns = []
    for turn in session.turns:
        text, found = redact_text(turn.text, known, turn.index)
        redactions.extend(found)
        turns.append(dataclasses.replace(turn, text=text, speaker=None))
    redacted = dataclasses.replace(session, turns=turns, meta={**session.meta, "redacted": True})
    return redacted, redactions
