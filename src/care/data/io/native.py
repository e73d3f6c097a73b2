"""care's native session format: JSON Lines, one session per line.

Each line is an object validated by ``care/schemas/session.schema.json``::

    {"schema_version": 1, "id": "s1", "language": "en",
     "client_id": "c7", "counselor_id": "t2",
     "turns": [{"role": "counselor", "text": "Hello.", "speaker": "Dr. Lee",
                "time": "2024-05-01T10:00:00", "meta": {}}],
     "ratings": [{"instrument": "wai-sr-client", "rater": "client",
                  "values": {"item1": 4, "item2": 5}, "meta": {}}],
     "meta": {}}

A ``.json`` file may hold one such object, an array of them, or ``{"sessions": [...]}``.
Only ``id`` and ``turns`` (each with ``role`` and ``text``) are required.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from care.data.io.json_text import JSONInputError, json_problem, loads
from care.data.session import RATERS, ROLES, RatingSet, Session, Turn
from care.errors import Problem, describe, key_name
from care.output.atomic import atomic_write

SCHEMA_VERSION = 1
_SESSION_KEYS = {
    "schema_version",
    "id",
    "language",
    "client_id",
    "counselor_id",
    "turns",
    "ratings",
    "meta",
}
_TURN_KEYS = {"index", "role", "text", "speaker", "time", "meta"}
_RATING_KEYS = {"instrument", "rater", "values", "meta"}


def session_to_record(session: Session) -> dict[str, Any]:
    """The native JSON object for ``session``."""
    record: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "id": session.id}
    for key in ("language", "client_id", "counselor_id"):
        value = getattr(session, key)
        if value is not None:
            record[key] = value
    turns = []
    for turn in session.turns:
        item: dict[str, Any] = {"role": turn.role, "text": turn.text}
        if turn.speaker is not None:
            item["speaker"] = turn.speaker
        if turn.time is not None:
            item["time"] = turn.time
        if turn.meta:
            item["meta"] = turn.meta
        turns.append(item)
    record["turns"] = turns
    if session.ratings:
        record["ratings"] = [
            {
                "instrument": rating.instrument,
                "rater": rating.rater,
                "values": rating.values,
                **({"meta": rating.meta} if rating.meta else {}),
            }
            for rating in session.ratings
        ]
    if session.meta:
        record["meta"] = session.meta
    return record


def session_from_record(
    record: Any, *, file: str | None = None, where: str | None = None
) -> tuple[Session | None, list[Problem]]:
    """Parse one native record. Returns the session (None if it cannot be built) and
    every problem found, so that a validator can report them all."""
    problems: list[Problem] = []

    def problem(message: str, field: str | None, fix: str) -> None:
        problems.append(Problem(message, file=file, record=where, field=field, fix=fix))

    if not isinstance(record, dict):
        problem(
            f"expected a JSON object for a session, got {type(record).__name__}",
            None,
            "write one session object per line",
        )
        return None, problems
    version = record.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        problem(
            f"unsupported schema_version ({describe(version)})",
            "schema_version",
            f"use schema_version {SCHEMA_VERSION} (or upgrade care)",
        )
    unknown = sorted(set(record) - _SESSION_KEYS)
    if unknown:
        problem(
            _keys(unknown),
            None,
            f"allowed keys are {sorted(_SESSION_KEYS)}; put anything else in 'meta'",
        )
    session_id = record.get("id")
    if session_id is None or (isinstance(session_id, str) and not session_id.strip()):
        problem("missing session id", "id", "give every session a unique, non-empty 'id'")
        session_id = None
    elif not isinstance(session_id, str | int):
        problem(f"id must be a string, got {type(session_id).__name__}", "id", "use a string id")
        session_id = None
    if where is None and session_id is not None:
        where = f"session '{session_id}'"

    turns: list[Turn] = []
    raw_turns = record.get("turns")
    if not isinstance(raw_turns, list) or not raw_turns:
        problem("a session needs a non-empty 'turns' list", "turns", "add the session's turns")
        raw_turns = []
    for position, raw in enumerate(raw_turns):
        turn = _turn_from_record(raw, position, problem)
        if turn is not None:
            turns.append(turn)

    ratings: list[RatingSet] = []
    raw_ratings = record.get("ratings", [])
    if not isinstance(raw_ratings, list):
        problem("'ratings' must be a list", "ratings", "write ratings as a list of objects")
        raw_ratings = []
    for position, raw in enumerate(raw_ratings):
        rating = _rating_from_record(raw, position, problem)
        if rating is not None:
            ratings.append(rating)

    meta = record.get("meta", {})
    if not isinstance(meta, dict):
        problem("'meta' must be an object", "meta", "write meta as a JSON object")
        meta = {}
    language = record.get("language")
    if language is not None and not isinstance(language, str):
        problem("'language' must be a string", "language", "use a code such as 'en' or 'zh'")
        language = None
    if session_id is None or len(turns) != len(raw_turns) or not turns:
        return None, problems
    session = Session(
        id=str(session_id),
        turns=turns,
        language=language,
        client_id=_opt_str(record.get("client_id")),
        counselor_id=_opt_str(record.get("counselor_id")),
        ratings=ratings,
        meta=meta,
    )
    return session, problems


def _turn_from_record(raw: Any, position: int, problem: Any) -> Turn | None:
    field = f"turns[{position}]"
    if not isinstance(raw, dict):
        problem("a turn must be an object", field, "write each turn as {'role': ..., 'text': ...}")
        return None
    ok = True
    unknown = sorted(set(raw) - _TURN_KEYS)
    if unknown:
        problem(
            _keys(unknown),
            field,
            f"allowed keys are {sorted(_TURN_KEYS)}; put anything else in 'meta'",
        )
    role = raw.get("role")
    if role not in ROLES:
        problem(
            f"unknown role ({describe(role)})",
            f"{field}.role",
            f"use one of {list(ROLES)} (map speaker names to roles when importing)",
        )
        ok = False
    text = raw.get("text")
    if not isinstance(text, str) or not text.strip():
        problem(
            "the turn has no text",
            f"{field}.text",
            "give the turn its text, or remove the turn",
        )
        ok = False
    meta = raw.get("meta", {})
    if not isinstance(meta, dict):
        problem("'meta' must be an object", f"{field}.meta", "write meta as a JSON object")
        meta = {}
    if not ok:
        return None
    return Turn(
        index=position,
        role=role,
        text=text,
        speaker=_opt_str(raw.get("speaker")),
        time=_opt_str(raw.get("time")),
        meta=meta,
    )


def _rating_from_record(raw: Any, position: int, problem: Any) -> RatingSet | None:
    field = f"ratings[{position}]"
    if not isinstance(raw, dict):
        problem("a rating set must be an object", field, "see the native format in the docs")
        return None
    instrument = raw.get("instrument")
    rater = raw.get("rater", "client")
    values = raw.get("values")
    ok = True
    if not isinstance(instrument, str) or not instrument:
        problem(
            "missing instrument id",
            f"{field}.instrument",
            "name the instrument, e.g. 'wai-sr-client'",
        )
        ok = False
    if rater not in RATERS:
        problem(
            f"unknown rater ({describe(rater)})", f"{field}.rater", f"use one of {list(RATERS)}"
        )
        ok = False
    if not isinstance(values, dict):
        problem(
            "'values' must map item ids to numbers", f"{field}.values", "write {'item1': 4, ...}"
        )
        return None
    clean: dict[str, float] = {}
    for item_id, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            problem(
                f"a rating is not a number ({describe(value)})",
                f"{field}.values.{key_name(item_id)}",
                "write ratings as numbers; leave a skipped item out or null",
            )
            ok = False
            continue
        clean[str(item_id)] = float(value)
    meta = raw.get("meta", {})
    if not ok:
        return None
    return RatingSet(instrument=instrument, rater=rater, values=clean, meta=dict(meta or {}))


def _keys(unknown: list[str]) -> str:
    """The unknown keys as a message names them (free text as ``<key>``, see
    :func:`~care.errors.key_name`)."""
    names = [key_name(key) for key in unknown]
    return f"unknown key {names[0]!r}" if len(names) == 1 else f"unknown keys {names}"


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def iter_records(
    text: str, *, file: str, lines: bool | None = None
) -> Iterator[tuple[str, Any, Problem | None]]:
    """Yield ``(where, record, problem)`` for each record of a native JSON or JSONL text.

    ``where`` is ``"line N"`` for JSON Lines and ``"record N"`` for a JSON array. A line
    that is not valid JSON (for example a truncated last line), or that is beyond what
    care reads (see :mod:`care.data.io.json_text`), yields a problem and no record.
    ``lines`` forces JSON Lines (True) or one JSON document (False); by default a
    ``.jsonl`` file name means JSON Lines and otherwise the content decides. A ``.jsonl``
    file that is one pretty-printed document yields a single problem that says so.
    """
    stripped = text.lstrip()
    if lines is None and file.endswith((".jsonl", ".jsonl.gz")):
        pretty = pretty_printed(stripped)
        if pretty is not None:
            yield "line 1", None, Problem(pretty, file=file, record="line 1", fix=PRETTY_FIX)
            return
        lines = True
    if lines is None:
        lines = not (
            stripped.startswith("[") or (stripped.startswith("{") and _is_single_json(stripped))
        )
    if not lines:
        try:
            data = loads(stripped)
        except JSONInputError as error:
            yield (
                f"line {error.line}",
                None,
                json_problem(error, file=file, record=f"line {error.line}"),
            )
            return
        if isinstance(data, dict) and isinstance(data.get("sessions"), list):
            data = data["sessions"]
        items = data if isinstance(data, list) else [data]
        for position, item in enumerate(items):
            yield f"record {position + 1}", item, None
        return
    # Split on newlines only: JSON strings may hold U+2028 and other characters that
    # str.splitlines() would treat as line breaks.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", loads(line), None
        except JSONInputError as error:
            yield f"line {number}", None, json_problem(error, file=file, record=f"line {number}")


PRETTY_FIX = (
    "rename the file to .json (care reads one JSON document or array there), "
    "or write each session on one line"
)


def pretty_printed(text: str) -> str | None:
    """What a text named ``.jsonl`` is when it is one JSON document spread over several
    lines rather than JSON Lines; None when its first line is a record of its own."""
    first, _, rest = text.partition("\n")
    if first.strip() not in ("{", "[", "[{") or not rest.strip():
        return None
    try:
        loads(text)
    except JSONInputError as error:
        return (
            f"the file is pretty-printed JSON spread over {text.count(chr(10)) + 1} lines, "
            f"not JSON Lines (one session per line), and it is not valid JSON either "
            f"(line {error.line}: {error.message})"
        )
    return (
        f"the file is one JSON document spread over {text.count(chr(10)) + 1} lines "
        "(pretty-printed), not JSON Lines (one session per line)"
    )


def _is_single_json(text: str) -> bool:
    """True when ``text`` is one JSON document rather than JSON Lines."""
    first_line_end = text.find("\n")
    if first_line_end == -1:
        return True
    try:
        loads(text[:first_line_end])
    except JSONInputError:
        return True  # the first line alone is not a document: a pretty-printed object
    rest = text[first_line_end:].strip()
    return not rest


def parse_native_located(
    text: str, *, file: str
) -> tuple[list[tuple[Session, str]], list[Problem]]:
    """Parse a native JSON/JSONL text into sessions, each with where it was found
    (``"line N"`` / ``"record N"``), collecting every problem."""
    sessions: list[tuple[Session, str]] = []
    problems: list[Problem] = []
    for where, record, problem in iter_records(text, file=file):
        if problem is not None:
            problems.append(problem)
            continue
        session, found = session_from_record(record, file=file, where=where)
        problems.extend(found)
        if session is not None:
            sessions.append((session, where))
    return sessions, problems


def parse_native(text: str, *, file: str) -> tuple[list[Session], list[Problem]]:
    """Parse a native JSON/JSONL text into sessions, collecting every problem."""
    located, problems = parse_native_located(text, file=file)
    return [session for session, _ in located], problems


# Characters that str.splitlines() treats as line breaks; escaped so every JSON Lines
# reader sees one record per line.
_LINE_BREAKS = re.compile("[\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def dumps_line(record: Any) -> str:
    """One JSON Lines line: UTF-8 text kept readable, line-break characters escaped."""
    text = json.dumps(record, ensure_ascii=False)
    return _LINE_BREAKS.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def write_native(sessions: Iterable[Session], path: str | Path) -> int:
    """Write sessions as native JSON Lines (UTF-8). Returns the number written."""
    count = 0
    with atomic_write(path) as handle:
        for session in sessions:
            handle.write(dumps_line(session_to_record(session)) + "\n")
            count += 1
    return count
