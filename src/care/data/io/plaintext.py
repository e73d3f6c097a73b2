"""Plain-text transcripts: one turn per line, each starting with a speaker prefix.

Example::

    === session intake-01 ===
    [10:02] Counselor: What brings you here today?
    Client: I have not been sleeping well.
      It started after I changed jobs.
    Counselor: Tell me more about that.

    === session intake-02 ===
    咨询师：你今天想聊些什么？
    来访者：我最近睡不好。

Rules:

* A turn starts with ``SPEAKER:`` (ASCII ``:`` or full-width ``：``). Speakers are matched
  case-insensitively against :data:`DEFAULT_SPEAKER_ROLES` and the user's ``speaker_map``
  (for example ``{"Dr. Lee": "counselor"}``, on the command line ``--speaker "Dr. Lee=counselor"``),
  which adds to and overrides the defaults.
* Built-in speakers: English ``Counselor``/``Counsellor``/``Therapist`` (counselor) and
  ``Client``/``Patient`` (client), ``Other``; Chinese ``咨询师``/``咨询员``/``心理咨询师``/
  ``治疗师`` (counselor) and ``来访者``/``咨询者``/``求助者`` (client); Japanese
  ``相談員``/``カウンセラー`` (counselor) and ``相談者``/``クライエント``/``クライアント``
  (client). Note that in Chinese counseling corpora **咨询者** ("the one consulting")
  is the *client*, not the counselor; care maps it, like 来访者 and 求助者, to ``client``.
* An optional timestamp in brackets before the speaker, such as ``[10:02]`` or
  ``[2024-05-01 10:02:33]``, goes to the turn's ``time``.
* A line without a speaker prefix continues the previous turn (joined with a newline).
  A line that starts with whitespace is always a continuation, so indent continuation
  lines that themselves contain a colon (``He said: no``). Leading and trailing
  whitespace of each line is dropped; blank lines inside a turn are dropped too.
* A line that starts like a speaker prefix but names an unknown speaker (``Dr. Lee: ...``)
  is a problem: map the speaker with ``--speaker NAME=ROLE``. To count as a would-be
  prefix the name must look like a label: at most four words, each capitalised (or a
  CJK name of at most eight characters), followed by a colon and a space.
* A file holds one session, whose id is the file name without its extensions, or several
  sessions, each starting with a line ``=== session <id> ===``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from care.data.language import session_language
from care.data.session import ROLES, Role, Session, Turn
from care.errors import ParameterError, Problem, describe

__all__ = [
    "DEFAULT_SPEAKER_ROLES",
    "SESSION_MARKER",
    "SPEAKER_LINE",
    "format_transcript",
    "parse_text",
    "resolve_speaker_map",
    "session_id_from_file",
]

DEFAULT_SPEAKER_ROLES: dict[str, Role] = {
    # English
    "counselor": "counselor",
    "counsellor": "counselor",
    "therapist": "counselor",
    "client": "client",
    "patient": "client",
    "other": "other",
    # Chinese: 咨询者 / 求助者 / 来访者 are the person seeking help, i.e. the client.
    "咨询师": "counselor",
    "咨询员": "counselor",
    "心理咨询师": "counselor",
    "治疗师": "counselor",
    "来访者": "client",
    "咨询者": "client",
    "求助者": "client",
    # Japanese
    "相談員": "counselor",
    "カウンセラー": "counselor",
    "相談者": "client",
    "クライエント": "client",
    "クライアント": "client",
}

SESSION_MARKER = re.compile(r"^\s*={3,}\s*session\s+(?P<id>.*?)\s*={3,}\s*$", re.IGNORECASE)
_TIME = r"\[(?P<time>\d{1,4}(?:[-/.T ]\d{1,2})*(?::\d{2}){1,2}(?:[.,]\d+)?)\]"
SPEAKER_LINE = re.compile(
    rf"^(?:{_TIME}\s*)?(?P<speaker>[^:：\s][^:：]{{0,39}}?)\s*(?P<colon>[:：])(?P<rest>.*)$"
)
_LABEL_WORD = re.compile(r"^\(?[A-Z][\w.'’-]*\)?$|^\(?[0-9]+\)?$")
_CJK = re.compile(r"^[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]{1,8}$")


def resolve_speaker_map(speaker_map: Mapping[str, str] | None) -> dict[str, Role]:
    """The default speaker→role map updated with ``speaker_map``, keys case-folded.

    Raises:
        ParameterError: a role in ``speaker_map`` is not one of counselor, client, other.
    """
    roles: dict[str, Role] = {key.casefold(): role for key, role in DEFAULT_SPEAKER_ROLES.items()}
    for name, role in (speaker_map or {}).items():
        if role not in ROLES:
            raise ParameterError(
                f"speaker {name!r} is mapped to the unknown role {role!r}",
                field="speaker_map",
                fix=f"map each speaker to one of {list(ROLES)}, e.g. --speaker '{name}=counselor'",
            )
        roles[str(name).strip().casefold()] = role  # type: ignore[assignment]
    return roles


def session_id_from_file(file: str) -> str:
    """The file's name without its extensions (``a/b/intake.txt.gz`` → ``intake``)."""
    name = PurePath(file).name
    stem = name.split(".", 1)[0]
    return stem or name


def _looks_like_label(name: str) -> bool:
    if _CJK.match(name):
        return True
    words = name.split()
    return (
        0 < len(words) <= 4
        and any(char.isalpha() for char in name)
        and all(_LABEL_WORD.match(word) for word in words)
    )


def parse_text(
    text: str,
    *,
    file: str,
    speaker_map: Mapping[str, str] | None = None,
    language: str | None = None,
    session_id: str | None = None,
) -> tuple[list[Session], list[Problem]]:
    """Parse a plain-text transcript (see the module docstring).

    Args:
        text: The file's text.
        file: The file's name, used in problems and for the default session id.
        speaker_map: Extra speaker labels and their roles, e.g. ``{"Dr. Lee": "counselor"}``.
        language: The language of every session; detected from the text when None.
        session_id: The id of the session when the file has no ``=== session`` lines
            (default: the file name without extensions).

    Returns:
        The sessions parsed and every problem found.
    """
    located, problems = parse_text_located(
        text, file=file, speaker_map=speaker_map, language=language, session_id=session_id
    )
    return [session for session, _ in located], problems


def parse_text_located(
    text: str,
    *,
    file: str,
    speaker_map: Mapping[str, str] | None = None,
    language: str | None = None,
    session_id: str | None = None,
) -> tuple[list[tuple[Session, str]], list[Problem]]:
    """Like :func:`parse_text`, with where each session starts (``"line N"``)."""
    roles = resolve_speaker_map(speaker_map)
    problems: list[Problem] = []
    # Each block: (session id, line where it starts, list of (line number, line)).
    blocks: list[tuple[str, int, list[tuple[int, str]]]] = []
    preamble: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        marker = SESSION_MARKER.match(line)
        if marker:
            block_id = marker.group("id")
            if not block_id:
                problems.append(
                    Problem(
                        "a session line without an id",
                        file=file,
                        record=f"line {number}",
                        field="session id",
                        fix="write it as '=== session <id> ==='",
                    )
                )
                block_id = f"{session_id_from_file(file)}-{len(blocks) + 1}"
            blocks.append((block_id, number, []))
        elif blocks:
            blocks[-1][2].append((number, line))
        else:
            preamble.append((number, line))
    if not blocks:
        blocks = [(session_id or session_id_from_file(file), 1, preamble)]
    else:
        stray = next(((n, line) for n, line in preamble if line.strip()), None)
        if stray is not None:
            problems.append(
                Problem(
                    "text before the first '=== session <id> ===' line",
                    file=file,
                    record=f"line {stray[0]}",
                    fix="put it under a session line or remove it",
                )
            )

    sessions: list[tuple[Session, str]] = []
    for block_id, start, lines in blocks:
        turns, found = _parse_turns(lines, roles, file)
        problems.extend(found)
        if found:
            continue
        if not turns:
            problems.append(
                Problem(
                    f"session '{block_id}' has no turns",
                    file=file,
                    record=f"line {start}",
                    fix="add turns that start with a speaker, e.g. 'Client: ...', or remove it",
                )
            )
            continue
        session = Session(id=block_id, turns=turns, language=language)
        if session.language is None:
            session.language = session_language(session)
        sessions.append((session, f"line {start}"))
    return sessions, problems


def _parse_turns(
    lines: list[tuple[int, str]], roles: Mapping[str, Role], file: str
) -> tuple[list[Turn], list[Problem]]:
    turns: list[Turn] = []
    starts: list[int] = []
    parts: list[list[str]] = []
    problems: list[Problem] = []
    for number, line in lines:
        if not line.strip():
            continue
        match = None if line[:1].isspace() else SPEAKER_LINE.match(line)
        if match is not None:
            speaker = match.group("speaker").strip()
            role = roles.get(speaker.casefold())
            rest = match.group("rest")
            is_label = match.group("colon") == "：" or not rest or rest[:1].isspace()
            if role is not None:
                turns.append(
                    Turn(
                        index=len(turns),
                        role=role,
                        text="",
                        speaker=speaker,
                        time=match.group("time"),
                    )
                )
                starts.append(number)
                parts.append([rest.strip()] if rest.strip() else [])
                continue
            if is_label and _looks_like_label(speaker):
                problems.append(
                    Problem(
                        f"unknown speaker ({describe(speaker)})",
                        file=file,
                        record=f"line {number}",
                        field="speaker",
                        fix="map the label to a role with --speaker 'LABEL=ROLE' "
                        f"(ROLE is one of {', '.join(ROLES)})",
                    )
                )
                # Keep the line as a turn of unknown role so later lines do not
                # join the wrong turn; it is dropped with the session.
                turns.append(Turn(index=len(turns), role="other", text="", speaker=speaker))
                starts.append(number)
                parts.append([rest.strip()] if rest.strip() else [])
                continue
        if not turns:
            problems.append(
                Problem(
                    "text before the first speaker prefix",
                    file=file,
                    record=f"line {number}",
                    fix="start each turn with its speaker, e.g. 'Counselor: ...' or 'Client: ...'",
                )
            )
            continue
        parts[-1].append(line.strip())
    for turn, number, pieces in zip(turns, starts, parts, strict=True):
        turn.text = "\n".join(pieces)
        if not turn.text:
            problems.append(
                Problem(
                    "the turn has no text",
                    file=file,
                    record=f"line {number}",
                    field="text",
                    fix="give the turn its text after the speaker, or remove the line",
                )
            )
    return turns, problems


_ROLE_LABELS: dict[str, str] = {"counselor": "Counselor", "client": "Client", "other": "Other"}


def format_transcript(sessions: Any) -> str:
    """Plain-text transcripts of ``sessions`` that :func:`parse_text` reads back.

    Every session starts with ``=== session <id> ===``; turns are written as
    ``[time] Counselor: text``, continuation lines indented by two spaces.
    """
    blocks: list[str] = []
    for session in sessions:
        lines = [f"=== session {session.id} ==="]
        for turn in session.turns:
            time = f"[{turn.time}] " if turn.time and re.fullmatch(_TIME, f"[{turn.time}]") else ""
            first, *rest = turn.text.split("\n")
            lines.append(f"{time}{_ROLE_LABELS[turn.role]}: {first}")
            lines.extend(f"  {line}" for line in rest if line.strip())
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
