"""CSV and TSV tables with one turn per row.

The default columns are ``session_id``, ``role`` and ``text``; optional ones are
``speaker``, ``time``, ``turn_index``, ``client_id``, ``counselor_id``, ``language`` and
``meta`` (a JSON object kept as the turn's meta). Other columns are kept in each turn's
``meta`` under their header. Give ``columns`` to read other headers, for example
``{"text": "utterance", "role": "who"}`` (on the command line ``--column text=utterance``).

* Role values go through the same speaker→role map as plain-text transcripts
  (``Therapist`` → counselor, ``来访者`` → client, ...; see
  :data:`~care.data.io.plaintext.DEFAULT_SPEAKER_ROLES`), extended by ``speaker_map``.
  Without a role column the ``speaker`` column is mapped instead; where a row has no
  speaker, a role value that is a label (``Therapist``, ``来访者``) is kept as its speaker.
* Without a ``session_id`` column the whole file is one session, named after the file.
* Rows keep their order in the file; when there is a ``turn_index`` column, the turns of
  each session are sorted by it.
* Ratings are optional: ``rating_columns={"item1": "wai_1", ...}`` with ``instrument`` (and
  ``rater``, default ``client``) reads one rating set per session. A session's rating may
  stand on every row or on just one; rows that disagree are a problem.
* Rows are numbered as in a spreadsheet: the header is row 1, the first data row is row 2.
* The delimiter is a tab for ``.tsv`` files and for headers with tabs but no commas, a
  semicolon for headers with semicolons only, and a comma otherwise (or ``delimiter``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from care.data.io.json_text import JSONInputError, loads
from care.data.io.plaintext import resolve_speaker_map, session_id_from_file
from care.data.language import session_language
from care.data.session import RATERS, ROLES, RatingSet, Session, Turn
from care.errors import ParameterError, Problem, describe

__all__ = ["DEFAULT_COLUMNS", "TableRows", "format_csv", "parse_csv", "read_table"]

DEFAULT_COLUMNS: dict[str, str] = {
    "session_id": "session_id",
    "role": "role",
    "text": "text",
    "speaker": "speaker",
    "time": "time",
    "turn_index": "turn_index",
    "client_id": "client_id",
    "counselor_id": "counselor_id",
    "language": "language",
    "meta": "meta",
}
_SESSION_FIELDS = ("client_id", "counselor_id", "language")

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class TableRows:
    """A parsed table: its header and its rows as ``(row number, {header: cell})``."""

    def __init__(self, header: list[str], rows: list[tuple[int, dict[str, str]]]) -> None:
        self.header = header
        self.rows = rows

    def find(self, name: str) -> str | None:
        """The header matching ``name`` exactly, else ignoring case and spaces, or None."""
        if name in self.header:
            return name
        wanted = name.strip().casefold()
        for column in self.header:
            if column.strip().casefold() == wanted:
                return column
        return None

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        return iter(self.rows)


def guess_delimiter(text: str, file: str) -> str:
    """The delimiter of a table: see the module docstring."""
    name = file.lower().removesuffix(".gz")
    if name.endswith(".tsv") or name.endswith(".tab"):
        return "\t"
    header = text.lstrip("\ufeff").split("\n", 1)[0]
    if "\t" in header and "," not in header:
        return "\t"
    if ";" in header and "," not in header and "\t" not in header:
        return ";"
    return ","


def read_table(
    text: str, *, file: str, delimiter: str | None = None
) -> tuple[TableRows | None, list[Problem]]:
    """Split a CSV/TSV text into header and rows. Blank rows are skipped; a row with more
    cells than the header is a problem."""
    delimiter = delimiter or guess_delimiter(text, file)
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter)
    problems: list[Problem] = []
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            problems.append(
                Problem(
                    f"unreadable CSV ({error})",
                    file=file,
                    record=f"row {number + 1}",
                    fix="check the quoting of this row",
                )
            )
            break
        number += 1
        if header is None:
            if not any(cell.strip() for cell in cells):
                number -= 1
                continue
            header = [cell.strip() for cell in cells]
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(header):
            problems.append(
                Problem(
                    f"the row has {len(cells)} cells but the header has {len(header)}",
                    file=file,
                    record=f"row {number}",
                    fix="quote cells that contain the delimiter, or fix the header",
                )
            )
            continue
        cells = [*cells, *[""] * (len(header) - len(cells))]
        rows.append((number, dict(zip(header, cells, strict=True))))
    if header is None:
        return None, [*problems, Problem("the table has no header row", file=file)]
    return TableRows(header, rows), problems


def parse_csv(
    text: str,
    *,
    file: str,
    columns: Mapping[str, str] | None = None,
    speaker_map: Mapping[str, str] | None = None,
    rating_columns: Mapping[str, str] | None = None,
    instrument: str | None = None,
    rater: str = "client",
    delimiter: str | None = None,
    language: str | None = None,
    session_id: str | None = None,
) -> tuple[list[Session], list[Problem]]:
    """Parse a CSV/TSV table of turns (see the module docstring).

    Args:
        text: The file's text.
        file: The file's name, used in problems.
        columns: Field → header for the columns whose header is not the field's name,
            e.g. ``{"text": "utterance", "role": "who"}``.
        speaker_map: Extra role/speaker values and their roles, e.g. ``{"T": "counselor"}``.
        rating_columns: Item id → header of the columns holding ratings.
        instrument: The id of the instrument the ratings are on (needed with ratings).
        rater: Who gave the ratings: client, counselor or observer.
        delimiter: The cell delimiter (default: guessed; see the module docstring).
        language: The language of sessions without a ``language`` cell; detected when None.
        session_id: The session id when there is no session_id column (default: file name).

    Returns:
        The sessions parsed and every problem found.

    Raises:
        ParameterError: an option is invalid (unknown field in ``columns``, a rating
            mapping without ``instrument``, an unknown rater or role).
    """
    located, problems = parse_csv_located(
        text,
        file=file,
        columns=columns,
        speaker_map=speaker_map,
        rating_columns=rating_columns,
        instrument=instrument,
        rater=rater,
        delimiter=delimiter,
        language=language,
        session_id=session_id,
    )
    return [session for session, _ in located], problems


def _check_options(
    columns: Mapping[str, str] | None,
    rating_columns: Mapping[str, str] | None,
    instrument: str | None,
    rater: str,
) -> dict[str, str]:
    mapping = dict(DEFAULT_COLUMNS)
    for key, header in (columns or {}).items():
        if key not in DEFAULT_COLUMNS:
            raise ParameterError(
                f"unknown column field {key!r}",
                field="columns",
                fix=f"map one of {list(DEFAULT_COLUMNS)} to a header, e.g. --column text=utterance",
            )
        mapping[key] = header
    if rating_columns and not instrument:
        raise ParameterError(
            "rating columns were given without an instrument",
            field="instrument",
            fix="name the instrument the ratings are on, e.g. --instrument wai-sr-client",
        )
    if rater not in RATERS:
        raise ParameterError(
            f"unknown rater {rater!r}", field="rater", fix=f"use one of {list(RATERS)}"
        )
    return mapping


def parse_csv_located(
    text: str,
    *,
    file: str,
    columns: Mapping[str, str] | None = None,
    speaker_map: Mapping[str, str] | None = None,
    rating_columns: Mapping[str, str] | None = None,
    instrument: str | None = None,
    rater: str = "client",
    delimiter: str | None = None,
    language: str | None = None,
    session_id: str | None = None,
) -> tuple[list[tuple[Session, str]], list[Problem]]:
    """Like :func:`parse_csv`, with where each session starts (``"row N"``)."""
    mapping = _check_options(columns, rating_columns, instrument, rater)
    roles = resolve_speaker_map(speaker_map)
    table, problems = read_table(text, file=file, delimiter=delimiter)
    if table is None:
        return [], problems

    def problem(message: str, row: int | None, column: str | None, fix: str) -> None:
        record = f"row {row}" if row is not None else None
        problems.append(Problem(message, file=file, record=record, field=column, fix=fix))

    found: dict[str, str | None] = {key: table.find(header) for key, header in mapping.items()}
    for key in columns or {}:
        if found[key] is None:
            problem(
                f"there is no column {mapping[key]!r} (mapped to {key})",
                1,
                mapping[key],
                f"check the column mapping against the file's first line (its header, "
                f"{_cells(table.header)})",
            )
    missing = []
    if found["text"] is None and "text" not in (columns or {}):
        missing.append(("text", "'text' column"))
    if found["role"] is None and found["speaker"] is None and "role" not in (columns or {}):
        missing.append(("role", "'role' or 'speaker' column"))
    if missing:
        fields = [field for field, _ in missing]
        several = len(fields) > 1
        options = " ".join(f"--column {field}=HEADER" for field in fields)
        problem(
            f"the header (the first line, {_cells(table.header)}) has no "
            + " and no ".join(what for _, what in missing),
            1,
            fields[0],
            f"name the column{'s' if several else ''} {' and '.join(map(repr, fields))} in "
            f"the header, or map {'them' if several else 'it'} with {options} (in Python: "
            "columns={...}); a file without a header needs one",
        )
    rating_headers: dict[str, str] = {}
    for item_id, header in (rating_columns or {}).items():
        column = table.find(header)
        if column is None:
            problem(
                f"there is no rating column {header!r} (for item {item_id})",
                1,
                header,
                f"check the rating column mapping against the file's first line (its header, "
                f"{_cells(table.header)})",
            )
        else:
            rating_headers[item_id] = column
    if problems:
        return [], problems

    used = {column for column in found.values() if column} | set(rating_headers.values())
    extra = [column for column in table.header if column not in used and column]
    default_id = session_id or session_id_from_file(file)

    order: list[str] = []
    starts: dict[str, int] = {}
    rows_of: dict[str, list[tuple[int, int | None, Turn]]] = {}
    session_fields: dict[str, dict[str, tuple[str, int]]] = {}
    ratings: dict[str, dict[str, tuple[float, int]]] = {}
    broken: set[str] = set()

    for number, row in table:
        ok = True
        if found["session_id"] is not None:
            sid = row[found["session_id"]].strip()
            if not sid:
                problem(
                    "the row has no session id",
                    number,
                    found["session_id"],
                    "give every row the id of its session",
                )
                continue
        else:
            sid = default_id
        if sid not in rows_of:
            order.append(sid)
            starts[sid] = number
            rows_of[sid] = []
            session_fields[sid] = {}
            ratings[sid] = {}
        speaker = (row[found["speaker"]].strip() or None) if found["speaker"] else None
        role_column = found["role"] or found["speaker"]
        raw_role = (row[role_column] if role_column else "").strip()
        role = roles.get(raw_role.casefold())
        if speaker is None and raw_role.casefold() not in ROLES:
            speaker = raw_role or None  # keep a label such as "Therapist" or "来访者"
        if role is None:
            ok = False
            problem(
                f"unknown role ({describe(raw_role)})" if raw_role else "the row has no role",
                number,
                role_column,
                "map the label to a role with --speaker 'LABEL=ROLE' "
                "(ROLE is one of counselor, client, other)",
            )
        text_value = row[found["text"]] if found["text"] else ""
        if not text_value.strip():
            ok = False
            problem(
                "the turn has no text",
                number,
                found["text"],
                "give the turn its text, or remove the row",
            )
        turn_index: int | None = None
        if found["turn_index"] and row[found["turn_index"]].strip():
            try:
                turn_index = int(float(row[found["turn_index"]]))
            except (ValueError, OverflowError):
                ok = False
                problem(
                    f"the turn index is not a number ({describe(row[found['turn_index']])})",
                    number,
                    found["turn_index"],
                    "write turn indices as whole numbers, or leave them empty",
                )
        meta: dict[str, Any] = {}
        if found["meta"] and row[found["meta"]].strip():
            why = ""
            try:
                meta = loads(row[found["meta"]])
            except JSONInputError as error:
                meta = None  # type: ignore[assignment]
                why = f" ({error.message})" if error.limit else ""
            if not isinstance(meta, dict):
                ok = False
                meta = {}
                problem(
                    f"the meta cell is not a JSON object{why}",
                    number,
                    found["meta"],
                    'write it as a JSON object such as {"strategy": "Question"}, or leave it empty',
                )
        for column in extra:
            if row[column].strip():
                meta.setdefault(column, row[column])
        for key in _SESSION_FIELDS:
            column = found[key]
            value = row[column].strip() if column else ""
            if not value:
                continue
            previous = session_fields[sid].get(key)
            if previous is None:
                session_fields[sid][key] = (value, number)
            elif previous[0] != value:
                ok = False
                problem(
                    f"session '{sid}' has another {key} here than in row {previous[1]}",
                    number,
                    column,
                    f"give every row of a session the same {key}",
                )
        for item_id, column in rating_headers.items():
            cell = row[column].strip()
            if not cell:
                continue
            try:
                value_number = float(cell)
                if math.isnan(value_number):
                    continue
            except ValueError:
                ok = False
                problem(
                    f"a rating is not a number ({describe(cell)})",
                    number,
                    column,
                    "write ratings as numbers; leave a skipped item empty",
                )
                continue
            earlier = ratings[sid].get(item_id)
            if earlier is None:
                ratings[sid][item_id] = (value_number, number)
            elif earlier[0] != value_number:
                ok = False
                problem(
                    f"session '{sid}' has rating {earlier[0]:g} for {item_id} in row "
                    f"{earlier[1]} but {value_number:g} here",
                    number,
                    column,
                    "give a session's rating once, or the same on every row",
                )
        if not ok:
            broken.add(sid)
            continue
        turn = Turn(
            index=0,
            role=role,  # type: ignore[arg-type]
            text=text_value,
            speaker=speaker,
            time=(row[found["time"]].strip() or None) if found["time"] else None,
            meta=meta,
        )
        rows_of[sid].append((number, turn_index, turn))

    sessions: list[tuple[Session, str]] = []
    for sid in order:
        if sid in broken:
            continue
        entries = rows_of[sid]
        if found["turn_index"] is not None:
            entries = sorted(entries, key=lambda entry: (entry[1] is None, entry[1] or 0))
        turns = [turn for _, _, turn in entries]
        for position, turn in enumerate(turns):
            turn.index = position
        fields = {key: value for key, (value, _) in session_fields[sid].items()}
        session = Session(
            id=sid,
            turns=turns,
            language=fields.get("language") or language,
            client_id=fields.get("client_id"),
            counselor_id=fields.get("counselor_id"),
        )
        if ratings[sid]:
            session.ratings.append(
                RatingSet(
                    instrument=str(instrument),
                    rater=rater,  # type: ignore[arg-type]
                    values={item: value for item, (value, _) in ratings[sid].items()},
                )
            )
        if session.language is None:
            session.language = session_language(session)
        sessions.append((session, f"row {starts[sid]}"))
    return sessions, problems


def format_csv(sessions: Any, delimiter: str = ",") -> str:
    """A table of ``sessions`` that :func:`parse_csv` reads back: one row per turn with
    the default columns; turn meta as a JSON object in the ``meta`` column. Session meta
    and ratings are not written (use the native format to keep them)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    header = [
        "session_id",
        "turn_index",
        "role",
        "speaker",
        "text",
        "time",
        "language",
        "client_id",
        "counselor_id",
        "meta",
    ]
    writer.writerow(header)
    for session in sessions:
        for turn in session.turns:
            writer.writerow(
                [
                    session.id,
                    turn.index,
                    turn.role,
                    turn.speaker or "",
                    turn.text,
                    turn.time or "",
                    session.language or "",
                    session.client_id or "",
                    session.counselor_id or "",
                    json.dumps(turn.meta, ensure_ascii=False) if turn.meta else "",
                ]
            )
    return buffer.getvalue()


def _cells(header: list[str]) -> str:
    """The header described without its text (a file without a header has transcript
    text in its first line)."""
    return "1 cell" if len(header) == 1 else f"{len(header)} cells"
