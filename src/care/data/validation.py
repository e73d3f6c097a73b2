"""Checks over a whole set of sessions, after each file has been parsed.

The parsers already report what is wrong inside one record (a turn without text, an
unknown role, ...). :func:`validate_sessions` adds what needs the whole set or the
instruments: duplicate session ids (naming both places), ratings checked against their
instrument's scale and items, unknown instruments, and, for sessions built in code, turns
with an unknown role or no text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from care.data.language import LANGUAGES, unknown_language
from care.data.session import RATERS, ROLES, Session
from care.errors import CareError, Problem, key_name

__all__ = ["LANGUAGE_FIX", "validate_sessions"]

LANGUAGE_FIX = (
    f"give one of {', '.join(LANGUAGES)}, or leave the language out to have it detected "
    "from the text"
)

_UNKNOWN_INSTRUMENT_FIX = (
    "use a builtin instrument id (`care instruments`) or give a custom instrument file"
)


def _place(file: str | None, record: str | None) -> str:
    return ", ".join(part for part in (file, record) if part) or "an earlier session"


def validate_sessions(
    sessions: Iterable[Session],
    *,
    file: str | Sequence[str | None] | None = None,
    records: Sequence[str | None] | None = None,
) -> list[Problem]:
    """Every corpus-level problem of ``sessions``; an empty list when they are fine.

    Args:
        sessions: The sessions, in order.
        file: The file the sessions come from, or one file per session (sessions read
            from several files).
        records: Where each session is in its file (``"line 3"``, ``"row 2"``), one per
            session; default ``session '<id>'``.

    Returns:
        The problems found: duplicate ids, ratings off their instrument's scale or for
        items it does not have, unknown instruments, raters or languages, turns with an unknown role
        or without text, sessions without turns.
    """
    sessions = list(sessions)
    files = [file] * len(sessions) if file is None or isinstance(file, str) else list(file)
    places = list(records) if records is not None else [None] * len(sessions)
    if len(files) != len(sessions) or len(places) != len(sessions):
        raise ValueError("give one file and one record per session")
    problems: list[Problem] = []
    first_seen: dict[str, int] = {}
    instruments: dict[str, Any] = {}
    unknown: dict[str, list[int]] = {}  # instrument id -> [problem index, uses]
    for position, session in enumerate(sessions):
        session_file = files[position]
        record = places[position] or f"session '{session.id}'"

        def problem(message: str, field: str | None, fix: str) -> None:
            problems.append(
                Problem(message, file=session_file, record=record, field=field, fix=fix)  # noqa: B023
            )

        if session.id in first_seen:
            earlier = first_seen[session.id]
            problem(
                f"duplicate session id '{session.id}' (also at "
                f"{_place(files[earlier], places[earlier] or f'session #{earlier + 1}')})",
                "id",
                "give every session a unique id",
            )
        else:
            first_seen[session.id] = position
        if not session.turns:
            problem("the session has no turns", "turns", "add its turns, or remove the session")
        if session.language is not None:
            wrong = unknown_language(session.language)
            if wrong is not None:
                problem(wrong, "language", LANGUAGE_FIX)
        for index, turn in enumerate(session.turns):
            if turn.role not in ROLES:
                problem(
                    f"unknown role {turn.role!r}",
                    f"turns[{index}].role",
                    f"use one of {list(ROLES)}",
                )
            if not isinstance(turn.text, str) or not turn.text.strip():
                problem(
                    "the turn has no text",
                    f"turns[{index}].text",
                    "give the turn its text, or remove the turn",
                )
        for number, rating_set in enumerate(session.ratings):
            field = f"ratings[{number}]"
            if rating_set.rater not in RATERS:
                problem(
                    f"unknown rater {rating_set.rater!r}",
                    f"{field}.rater",
                    f"use one of {list(RATERS)}",
                )
            instrument = _instrument(rating_set.instrument, instruments)
            if instrument is None:
                key = rating_set.instrument
                if key in unknown:
                    unknown[key][1] += 1
                else:
                    unknown[key] = [len(problems), 1]
                    problem(
                        f"unknown instrument {key!r}",
                        f"{field}.instrument",
                        _UNKNOWN_INSTRUMENT_FIX,
                    )
                continue
            for item_id, value in rating_set.values.items():
                message = instrument.check_value(item_id, value)
                if message is not None:
                    if item_id not in instrument:  # the id is the user's key: shown safely
                        message = f"instrument '{instrument.id}' has no item {key_name(item_id)!r}"
                    problem(
                        message,
                        f"{field}.values.{key_name(item_id)}",
                        _value_fix(instrument, item_id),
                    )
    # One problem per unknown instrument, at its first use, counting the others.
    for key, (index, count) in unknown.items():
        if count > 1:
            first = problems[index]
            problems[index] = Problem(
                f"unknown instrument {key!r} (in {count} rating sets)",
                file=first.file,
                record=first.record,
                field=first.field,
                fix=first.fix,
            )
    return problems


def _instrument(instrument_id: str, cache: dict[str, Any]) -> Any:
    if instrument_id not in cache:
        from care.instruments import get_instrument

        try:
            cache[instrument_id] = get_instrument(instrument_id)
        except CareError:
            cache[instrument_id] = None
    return cache[instrument_id]


def _value_fix(instrument: Any, item_id: str) -> str:
    if item_id not in instrument:
        shown = ", ".join(instrument.item_ids[:12])
        more = ", ..." if len(instrument.item_ids) > 12 else ""
        return f"use the item ids of '{instrument.id}' ({shown}{more}), or the right instrument"
    scale = instrument.scale_for(item_id)
    return (
        f"give a number from {scale.min} to {scale.max}, leave the item out, "
        f"or check that '{instrument.id}' is the right instrument"
    )
