"""Tell the format of a session file from its content (rules in :mod:`care.data.io`)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from care.data.io.annomi import ANNOMI_COLUMNS
from care.data.io.json_text import JSONInputError, json_problem, loads
from care.data.io.native import PRETTY_FIX, pretty_printed
from care.data.io.plaintext import DEFAULT_SPEAKER_ROLES, SESSION_MARKER, SPEAKER_LINE
from care.data.io.registry import FORMAT_NAMES, SESSION_FORMATS
from care.errors import DataError, describe, key_name

__all__ = ["detect_format"]


def _ambiguous(path: str, why: str) -> DataError:
    return DataError(
        f"cannot tell the format of the file: {why}",
        file=path,
        fix=f"pass --format (one of {', '.join(FORMAT_NAMES)})",
    )


def _first_json_record(text: str, path: str) -> Any:
    """The first record of a JSON or JSON Lines text.

    Raises:
        DataError: No record can be parsed (the error of the first is given), or the first
            record is valid JSON beyond what care reads (a huge number, deep nesting, a lone
            surrogate); the error names the line and the fix.
    """
    stripped = text.lstrip("\ufeff \t\r\n")
    first, _, rest = stripped.partition("\n")
    attempts = [(first, 1), (stripped, None)] if rest.strip() else [(stripped, None)]
    # A truncated or broken first line: try the next few lines of JSON Lines.
    attempts += [(line, number) for number, line in enumerate(rest.split("\n")[:19], start=2)]
    broken = None
    for candidate, number in attempts:
        if not candidate.strip():
            continue
        try:
            value = loads(candidate)
        except JSONInputError as error:
            line = number if number is not None else error.line
            problem = json_problem(error, file=path, record=f"line {line}")
            if error.limit:
                raise DataError.from_problem(problem) from None
            broken = broken or problem
            continue
        if isinstance(value, dict) and isinstance(value.get("sessions"), list):
            return {"turns": [], **value}  # the native wrapper
        if isinstance(value, list):
            return value[0] if value else None
        return value
    if broken is not None:
        pretty = (
            pretty_printed(stripped) if path.lower().endswith((".jsonl", ".jsonl.gz")) else None
        )
        if pretty is not None:
            raise DataError(pretty, file=path, record="line 1", fix=PRETTY_FIX)
        raise DataError.from_problem(broken)
    return None


def _header_cells(text: str, path: str) -> tuple[list[str], str]:
    first = next((line for line in text.lstrip("\ufeff").split("\n") if line.strip()), "")
    delimiter = "\t" if "\t" in first and "," not in first else ","
    if path.lower().removesuffix(".gz").endswith(".tsv"):
        delimiter = "\t"
    try:
        cells = next(csv.reader(io.StringIO(first), delimiter=delimiter))
    except (csv.Error, StopIteration):
        cells = []
    return [cell.strip().casefold() for cell in cells], delimiter


def _has_speaker_lines(text: str) -> bool:
    roles = {key.casefold() for key in DEFAULT_SPEAKER_ROLES}
    checked = 0
    for line in text.split("\n"):
        if not line.strip():
            continue
        if SESSION_MARKER.match(line):
            return True
        match = SPEAKER_LINE.match(line)
        if match and match.group("speaker").strip().casefold() in roles:
            return True
        checked += 1
        if checked >= 200:
            break
    return False


def detect_format(path: str | Path, text: str) -> str:
    """The format of a file, told from its content (rules in the module docstring).

    Args:
        path: The file's path; its name only breaks ties (``.csv``, ``.tsv``, ``.txt``).
        text: The file's text (at least its beginning).

    Returns:
        A key of :data:`FORMATS`.

    Raises:
        DataError: The format cannot be told; the message asks for ``--format``.
    """
    name = str(path)
    suffix = name.lower().removesuffix(".gz")
    stripped = text.lstrip("\ufeff \t\r\n")
    json_name = suffix.endswith((".json", ".jsonl"))
    if (
        stripped[:1] == "{"
        or re.match(r"\[\s*[{\]]", stripped)
        or (json_name and stripped[:1] == "[")
    ):
        record = _first_json_record(stripped, name)
        if not isinstance(record, dict):
            raise _ambiguous(
                name,
                "it looks like JSON, but its first record is not an object "
                f"(it is {describe(record)})",
            )
        signatures = {
            name: entry.json_key for name, entry in SESSION_FORMATS.items() if entry.json_key
        }
        matches = [fmt for fmt, key in signatures.items() if key in record]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            keys = sorted({key_name(key) for key in record})[:8]
            raise _ambiguous(
                name,
                f"a JSON record with the keys {keys} is none of "
                + ", ".join(f"{fmt} ('{key}')" for fmt, key in signatures.items()),
            )
        raise _ambiguous(name, f"its JSON records fit several formats ({', '.join(matches)})")
    cells, delimiter = _header_cells(stripped, name)
    if set(ANNOMI_COLUMNS) <= set(cells):
        return "annomi"
    table_name = suffix.endswith((".csv", ".tsv", ".tab"))
    table_header = len(cells) >= 2 and "text" in cells and ("role" in cells or "speaker" in cells)
    if table_name or table_header:
        return "tsv" if delimiter == "\t" else "csv"
    if _has_speaker_lines(stripped) or suffix.endswith(".txt"):
        return "text"
    if json_name:
        raise _ambiguous(name, "the name says JSON, but the text does not start with '{' or '['")
    raise _ambiguous(
        name,
        "it is not JSON, has no CSV header with text and role columns, and no line starts "
        "with a known speaker such as 'Counselor:'",
    )
