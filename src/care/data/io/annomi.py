"""AnnoMI: motivational-interviewing transcripts, one utterance per CSV row.

Columns used: ``transcript_id`` (rows are grouped into sessions by it, in order of first
appearance; utterances are sorted by ``utterance_id``), ``interlocutor`` (``therapist`` →
counselor, ``client`` → client), ``utterance_text``, ``timestamp`` (→ the turn's time).

* Session ids are ``annomi-<transcript_id>``; ``transcript_id``, ``mi_quality``, ``topic``,
  ``video_title`` and ``video_url`` go to the session's meta.
* ``main_therapist_behaviour`` and ``client_talk_type`` go to the turn's meta both under
  their own names and as ``behaviour`` / ``talk_type``; ``utterance_id`` and any other
  column (``annotator_id``, ``reflection_subtype``, ... in AnnoMI-full) are kept in the
  turn's meta under their own names. ``n/a`` and empty cells are left out.
* AnnoMI has no alliance ratings, so its sessions are unrated.
"""

from __future__ import annotations

from typing import Any

from care.data.io.csv_table import read_table
from care.data.language import session_language
from care.data.session import Role, Session, Turn
from care.errors import Problem, describe

__all__ = ["ANNOMI_COLUMNS", "parse_annomi"]

ANNOMI_COLUMNS = ("transcript_id", "interlocutor", "utterance_text")
_ROLES: dict[str, Role] = {"therapist": "counselor", "client": "client"}
_SESSION_META = ("transcript_id", "mi_quality", "topic", "video_title", "video_url")
_RENAMED = {"main_therapist_behaviour": "behaviour", "client_talk_type": "talk_type"}
_TURN_COLUMNS = {"interlocutor", "utterance_text", "timestamp"}
_ABSENT = {"", "n/a", "na", "nan"}


def parse_annomi(
    text: str, *, file: str, language: str | None = None
) -> tuple[list[Session], list[Problem]]:
    """Parse an AnnoMI CSV (see the module docstring).

    Args:
        text: The file's text.
        file: The file's name, used in problems.
        language: The sessions' language; detected (English) when None.

    Returns:
        The sessions parsed and every problem found.
    """
    located, problems = parse_annomi_located(text, file=file, language=language)
    return [session for session, _ in located], problems


def parse_annomi_located(
    text: str, *, file: str, language: str | None = None
) -> tuple[list[tuple[Session, str]], list[Problem]]:
    """Like :func:`parse_annomi`, with where each session starts (``"row N"``)."""
    table, problems = read_table(text, file=file, delimiter=",")
    if table is None:
        return [], problems
    missing = [column for column in ANNOMI_COLUMNS if table.find(column) is None]
    if missing:
        problems.append(
            Problem(
                f"the AnnoMI table lacks the columns {missing}",
                file=file,
                record="row 1",
                field=missing[0],
                fix="use the AnnoMI CSV as published, or read the file with --format csv",
            )
        )
        return [], problems

    order: list[str] = []
    starts: dict[str, int] = {}
    entries: dict[str, list[tuple[float, int, Turn]]] = {}
    metas: dict[str, dict[str, Any]] = {}
    broken: set[str] = set()
    for number, raw_row in table:
        row = {name.strip().casefold(): cell for name, cell in raw_row.items()}
        transcript = row["transcript_id"].strip()
        if not transcript:
            problems.append(
                Problem(
                    "the row has no transcript id",
                    file=file,
                    record=f"row {number}",
                    field="transcript_id",
                    fix="give every row the id of its transcript",
                )
            )
            continue
        sid = f"annomi-{transcript}"
        if sid not in entries:
            order.append(sid)
            starts[sid] = number
            entries[sid] = []
            metas[sid] = {
                key: row[key].strip()
                for key in _SESSION_META
                if key in row and row[key].strip().casefold() not in _ABSENT
            }
        ok = True
        interlocutor = row["interlocutor"].strip()
        role = _ROLES.get(interlocutor.casefold())
        if role is None:
            ok = False
            problems.append(
                Problem(
                    f"unknown interlocutor ({describe(interlocutor)})",
                    file=file,
                    record=f"row {number}",
                    field="interlocutor",
                    fix="AnnoMI interlocutors are 'therapist' and 'client'; correct the cell",
                )
            )
        utterance = row["utterance_text"]
        if not utterance.strip():
            ok = False
            problems.append(
                Problem(
                    "the turn has no text",
                    file=file,
                    record=f"row {number}",
                    field="utterance_text",
                    fix="give the utterance its text, or remove the row",
                )
            )
        meta: dict[str, Any] = {}
        for name, cell in row.items():
            value = cell.strip()
            if name in _TURN_COLUMNS or name in _SESSION_META or value.casefold() in _ABSENT:
                continue
            meta[name] = value
            if name in _RENAMED:
                meta[_RENAMED[name]] = value
        position: float = len(entries[sid])
        raw_position = row.get("utterance_id", "").strip()
        if raw_position:
            try:
                position = float(raw_position)
            except ValueError:
                ok = False
                problems.append(
                    Problem(
                        f"the utterance id is not a number ({describe(raw_position)})",
                        file=file,
                        record=f"row {number}",
                        field="utterance_id",
                        fix="AnnoMI utterance ids count from 0 within a transcript",
                    )
                )
        if not ok:
            broken.add(sid)
            continue
        timestamp = row.get("timestamp", "").strip()
        turn = Turn(
            index=0,
            role=role,  # type: ignore[arg-type]
            text=utterance,
            speaker=interlocutor,
            time=timestamp or None,
            meta=meta,
        )
        entries[sid].append((position, number, turn))

    sessions: list[tuple[Session, str]] = []
    for sid in order:
        if sid in broken:
            continue
        turns = [turn for _, _, turn in sorted(entries[sid], key=lambda entry: entry[:2])]
        for index, turn in enumerate(turns):
            turn.index = index
        session = Session(id=sid, turns=turns, language=language, meta=metas[sid])
        if session.language is None:
            session.language = session_language(session)
        sessions.append((session, f"row {starts[sid]}"))
    return sessions, problems
