"""Sessions as Parquet: one row per session, the native format's fields as typed columns.

Schema (:data:`SESSION_SCHEMA`)::

    schema_version  int32
    id              string
    language        string (null: detected on reading)
    client_id       string
    counselor_id    string
    turns           list<struct<role: string, text: string, speaker: string,
                                time: string, meta: string (JSON)>>
    ratings         list<struct<instrument: string, rater: string,
                                values: map<string, double>, meta: string (JSON)>>
    meta            string (JSON)

The ``meta`` objects, which may hold anything, are JSON text; everything else is typed, so
pandas, polars, DuckDB and Spark read the turns and ratings as nested columns. Reading goes
one row group at a time, and each row is checked as a native record is.

Needs ``pyarrow`` (``pip install 'care-alliance[parquet]'``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from care.data.io.native import session_from_record, session_to_record
from care.data.language import session_language
from care.data.session import Session
from care.errors import MissingDependencyError, Problem

__all__ = [
    "SESSION_SCHEMA_FIELDS",
    "iter_parquet_sessions",
    "pyarrow_modules",
    "read_parquet_located",
    "record_from_row",
    "row_from_record",
    "session_schema",
    "write_sessions_parquet",
]

SESSION_SCHEMA_FIELDS = (
    "schema_version",
    "id",
    "language",
    "client_id",
    "counselor_id",
    "turns",
    "ratings",
    "meta",
)
ROWS_PER_GROUP = 512
"""Sessions per row group: the unit read into memory at a time."""


def pyarrow_modules(feature: str = "Parquet files") -> tuple[Any, Any]:
    """``(pyarrow, pyarrow.parquet)``, or a :class:`MissingDependencyError` naming the extra."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as error:
        raise MissingDependencyError("pyarrow", "parquet", feature) from error
    return pyarrow, pyarrow.parquet


def session_schema() -> Any:
    """The Arrow schema of a Parquet session file (see the module docstring)."""
    pa, _ = pyarrow_modules()
    turn = pa.struct(
        [
            ("role", pa.string()),
            ("text", pa.string()),
            ("speaker", pa.string()),
            ("time", pa.string()),
            ("meta", pa.string()),
        ]
    )
    rating = pa.struct(
        [
            ("instrument", pa.string()),
            ("rater", pa.string()),
            ("values", pa.map_(pa.string(), pa.float64())),
            ("meta", pa.string()),
        ]
    )
    return pa.schema(
        [
            ("schema_version", pa.int32()),
            ("id", pa.string()),
            ("language", pa.string()),
            ("client_id", pa.string()),
            ("counselor_id", pa.string()),
            ("turns", pa.list_(turn)),
            ("ratings", pa.list_(rating)),
            ("meta", pa.string()),
        ]
    )


def _json_or_none(value: Any) -> str | None:
    return json.dumps(value, ensure_ascii=False) if value else None


def _loads(value: str | None) -> Any:
    return json.loads(value) if value else {}


def row_from_record(record: dict[str, Any]) -> dict[str, Any]:
    """The Parquet row of a native session record."""
    return {
        "schema_version": record.get("schema_version", 1),
        "id": record["id"],
        "language": record.get("language"),
        "client_id": record.get("client_id"),
        "counselor_id": record.get("counselor_id"),
        "turns": [
            {
                "role": turn["role"],
                "text": turn["text"],
                "speaker": turn.get("speaker"),
                "time": turn.get("time"),
                "meta": _json_or_none(turn.get("meta")),
            }
            for turn in record["turns"]
        ],
        "ratings": [
            {
                "instrument": rating["instrument"],
                "rater": rating.get("rater", "client"),
                "values": list(rating["values"].items()),
                "meta": _json_or_none(rating.get("meta")),
            }
            for rating in record.get("ratings", [])
        ],
        "meta": _json_or_none(record.get("meta")),
    }


def _pairs(value: Any) -> dict[str, Any]:
    """A map column's value (a list of pairs, or a dict) as a dict."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    return {key: item for key, item in value}


def record_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """The native session record of a Parquet row (the inverse of :func:`row_from_record`)."""
    record: dict[str, Any] = {"schema_version": row.get("schema_version") or 1, "id": row["id"]}
    for key in ("language", "client_id", "counselor_id"):
        if row.get(key) is not None:
            record[key] = row[key]
    turns = []
    for turn in row.get("turns") or []:
        item: dict[str, Any] = {"role": turn["role"], "text": turn["text"]}
        for key in ("speaker", "time"):
            if turn.get(key) is not None:
                item[key] = turn[key]
        if turn.get("meta"):
            item["meta"] = _loads(turn["meta"])
        turns.append(item)
    record["turns"] = turns
    ratings = [
        {
            "instrument": rating["instrument"],
            "rater": rating["rater"],
            "values": _pairs(rating["values"]),
            **({"meta": _loads(rating["meta"])} if rating.get("meta") else {}),
        }
        for rating in row.get("ratings") or []
    ]
    if ratings:
        record["ratings"] = ratings
    if row.get("meta"):
        record["meta"] = _loads(row["meta"])
    return record


def write_sessions_parquet(
    sessions: Iterable[Session], target: str | Path | BinaryIO, rows_per_group: int = ROWS_PER_GROUP
) -> int:
    """Write sessions as Parquet to a path or a binary file, one row group per
    ``rows_per_group`` sessions (only one group is in memory at a time). Returns the number
    of sessions written. (:func:`~care.data.io.save_corpus` writes through a temporary file
    and renames it, so a kill leaves the old file or the new one.)"""
    pa, pq = pyarrow_modules()
    schema = session_schema()
    count = 0
    where = str(target) if isinstance(target, str | Path) else target
    with pq.ParquetWriter(where, schema) as writer:
        rows: list[dict[str, Any]] = []
        for session in sessions:
            rows.append(row_from_record(session_to_record(session)))
            count += 1
            if len(rows) >= rows_per_group:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                rows = []
        if rows or not count:
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
    return count


def _check_columns(names: list[str], file: str) -> list[Problem]:
    missing = [name for name in ("id", "turns") if name not in names]
    if not missing:
        return []
    return [
        Problem(
            f"the Parquet file has no column {missing[0]!r}, so it holds no care sessions",
            file=file,
            field=missing[0],
            fix="write session files with `care convert SESSIONS out.parquet`",
        )
    ]


def iter_parquet_sessions(
    path: str | Path, *, language: str | None = None
) -> Iterator[tuple[Session | None, list[Problem]]]:
    """Each session of a Parquet session file with its problems, one row group at a time
    (``row N`` counts from 1)."""
    _, pq = pyarrow_modules()
    name = str(path)
    try:
        parquet = pq.ParquetFile(name)
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ...
        yield (
            None,
            [
                Problem(
                    f"not a readable Parquet file ({type(error).__name__})",
                    file=name,
                    fix="give a Parquet file written by `care convert`, or the session file itself",
                )
            ],
        )
        return
    problems = _check_columns(parquet.schema_arrow.names, name)
    if problems:
        yield None, problems
        return
    columns = [column for column in SESSION_SCHEMA_FIELDS if column in parquet.schema_arrow.names]
    number = 0
    for batch in parquet.iter_batches(columns=columns, batch_size=ROWS_PER_GROUP):
        for row in batch.to_pylist():
            number += 1
            yield session_from_row(row, file=name, where=f"row {number}", language=language)


def session_from_row(
    row: dict[str, Any], *, file: str, where: str, language: str | None = None
) -> tuple[Session | None, list[Problem]]:
    """One Parquet row as a checked session (a language is detected where none is given)."""
    from care.data.validation import validate_sessions

    session, problems = session_from_record(record_from_row(row), file=file, where=where)
    if session is None:
        return None, problems
    if session.language is None:
        session.language = language or session_language(session)
    problems.extend(validate_sessions([session], file=file, records=[where]))
    return session, problems


def read_parquet_located(
    path: str | Path, *, language: str | None = None
) -> tuple[list[tuple[Session, str]], list[Problem]]:
    """Every session of a Parquet file with where it is (``row N``), and every problem
    found inside a record (what :func:`care.data.io.load_corpus` needs)."""
    _, pq = pyarrow_modules()
    located: list[tuple[Session, str]] = []
    problems: list[Problem] = []
    name = str(path)
    try:
        table = pq.read_table(name)
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ...
        return [], [
            Problem(
                f"not a readable Parquet file ({type(error).__name__})",
                file=name,
                fix="give a Parquet file written by `care convert`, or the session file itself",
            )
        ]
    problems = _check_columns(table.schema.names, name)
    if problems:
        return [], problems
    for number, row in enumerate(table.to_pylist(), start=1):
        where = f"row {number}"
        session, found = session_from_record(record_from_row(row), file=name, where=where)
        problems.extend(found)
        if session is not None:
            if session.language is None:
                session.language = language or session_language(session)
            located.append((session, where))
    return located, problems
