"""Read and write session files in every format care knows.

Formats (names for ``format=`` and ``--format``):

========== ===============================================================================
native     care's JSON Lines (``.jsonl``) or JSON (``.json``) format (:mod:`.native`)
kokorochat KokoroChat JSON Lines, e.g. ``kokorochat_english.jsonl.gz`` (:mod:`.kokorochat`)
esconv     ESConv JSON (:mod:`.esconv`)
annomi     AnnoMI CSV (:mod:`.annomi`)
csv        a CSV table, one turn per row, with a column mapping (:mod:`.csv_table`)
tsv        the same, tab-separated
text       plain-text transcripts with speaker prefixes (:mod:`.plaintext`)
========== ===============================================================================

Any file may be gzip-compressed (recognised by content, not name). Text must be UTF-8
(a BOM is fine) or UTF-16 with a BOM, unless ``encoding`` says otherwise.

How the format of a file is told from its content (:func:`detect_format`):

1. Text starting with ``{`` or ``[{`` is JSON: the first record (first line of JSON Lines,
   first element of an array) decides by its keys: ``dialogue`` → kokorochat, ``dialog``
   → esconv, ``turns`` (or a ``{"sessions": [...]}`` wrapper) → native. No match, or more
   than one, is ambiguous.
2. Otherwise, when the first line is a header that names ``transcript_id``,
   ``interlocutor`` and ``utterance_text``, it is annomi; when the file ends in ``.csv``
   or ``.tsv``, or its header names a ``text`` column and a ``role`` or ``speaker``
   column, it is csv (tsv when tab-separated).
3. Otherwise, when a line starts with a known speaker prefix (``Counselor:``, ``来访者：``,
   ...) or a ``=== session <id> ===`` line, or the file ends in ``.txt``, it is text.
4. Anything else is ambiguous: a :class:`~care.errors.DataError` asks for ``--format``.

Directories are searched recursively for ``.jsonl``, ``.json``, ``.csv``, ``.tsv`` and
``.txt`` files (each optionally ``.gz``), in sorted order; hidden files are skipped.
"""

from __future__ import annotations

import csv
import gzip
import inspect
import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from care.data.corpus import Corpus
from care.data.io.annomi import ANNOMI_COLUMNS, parse_annomi, parse_annomi_located
from care.data.io.csv_table import format_csv, parse_csv, parse_csv_located
from care.data.io.esconv import parse_esconv, parse_esconv_located
from care.data.io.kokorochat import parse_kokorochat, parse_kokorochat_located
from care.data.io.native import (
    dumps_line,
    parse_native,
    parse_native_located,
    session_to_record,
)
from care.data.io.plaintext import (
    DEFAULT_SPEAKER_ROLES,
    SESSION_MARKER,
    SPEAKER_LINE,
    format_transcript,
    parse_text,
    parse_text_located,
)
from care.data.io.text_files import read_text
from care.data.language import session_language
from care.data.session import Session, merge_consecutive_turns
from care.data.validation import validate_sessions
from care.errors import DataError, ParameterError, Problem
from care.output.atomic import write_bytes_atomic

__all__ = [
    "FORMATS",
    "SUFFIXES",
    "detect_format",
    "load_corpus",
    "parse_annomi",
    "parse_csv",
    "parse_esconv",
    "parse_kokorochat",
    "parse_native",
    "parse_text",
    "read_sessions",
    "save_corpus",
]

Reader = Callable[..., tuple[list[Session], list[Problem]]]
LocatedReader = Callable[..., tuple[list[tuple[Session, str]], list[Problem]]]

SUFFIXES: tuple[str, ...] = (".jsonl", ".json", ".csv", ".tsv", ".txt")
"""File name endings read from directories (each also with ``.gz``)."""


def _parse_native_located(
    text: str, *, file: str, language: str | None = None
) -> tuple[list[tuple[Session, str]], list[Problem]]:
    """Native JSON/JSONL; sessions without a ``language`` get ``language`` or a detected one."""
    sessions, problems = parse_native_located(text, file=file)
    for session, _ in sessions:
        if session.language is None:
            session.language = language or session_language(session)
    return sessions, problems


def _read_native(
    text: str, *, file: str, language: str | None = None
) -> tuple[list[Session], list[Problem]]:
    """Parse care's native JSON/JSONL (see :mod:`care.data.io.native`); sessions that do not
    state a language get ``language``, or one detected from their text."""
    located, problems = _parse_native_located(text, file=file, language=language)
    return [session for session, _ in located], problems


def _read_tsv(text: str, *, file: str, **options: Any) -> tuple[list[Session], list[Problem]]:
    """A tab-separated table (see :func:`~care.data.io.csv_table.parse_csv`)."""
    return parse_csv(text, file=file, delimiter="\t", **options)


_tsv_located = partial(parse_csv_located, delimiter="\t")

FORMATS: dict[str, Reader] = {
    "native": _read_native,
    "kokorochat": parse_kokorochat,
    "esconv": parse_esconv,
    "annomi": parse_annomi,
    "csv": parse_csv,
    "tsv": _read_tsv,
    "text": parse_text,
}
"""Format name → reader ``(text, *, file, **options) -> (sessions, problems)``."""

_LOCATED: dict[str, LocatedReader] = {
    "native": _parse_native_located,
    "kokorochat": parse_kokorochat_located,
    "esconv": parse_esconv_located,
    "annomi": parse_annomi_located,
    "csv": parse_csv_located,
    "tsv": _tsv_located,
    "text": parse_text_located,
}
_ALIASES = {"jsonl": "native", "json": "native", "txt": "text", "plain": "text"}
_NOT_OPTIONS = {"text", "file", "language"}


def _options_of(name: str) -> set[str]:
    """The options (keyword arguments besides text, file, language) of a format's reader."""
    reader = _LOCATED[name]
    fixed = set(reader.keywords) if isinstance(reader, partial) else set()
    return set(inspect.signature(reader).parameters) - _NOT_OPTIONS - fixed


def _format_name(format: str | None) -> str | None:
    if format is None:
        return None
    name = _ALIASES.get(format.strip().lower(), format.strip().lower())
    if name not in FORMATS:
        raise ParameterError(
            f"unknown format {format!r}",
            field="format",
            fix=f"use one of {', '.join(FORMATS)}",
        )
    return name


def _check_options(format: str | None, options: dict[str, Any]) -> None:
    known = {name: _options_of(name) for name in FORMATS}
    for option in options:
        accepting = [name for name, accepted in known.items() if option in accepted]
        if format is not None and option not in known[format]:
            where = f" (it applies to {', '.join(accepting)})" if accepting else ""
            raise ParameterError(
                f"the {format} format has no option {option!r}{where}",
                field=option,
                fix=f"the {format} format's options are {sorted(known[format]) or 'none'}",
            )
        if not accepting:
            every = sorted(set().union(*known.values()))
            raise ParameterError(
                f"unknown option {option!r}",
                field=option,
                fix=f"use one of {every}",
            )


# ---------------------------------------------------------------------- detection
def _ambiguous(path: str, why: str) -> DataError:
    return DataError(
        f"cannot tell the format of the file: {why}",
        file=path,
        fix=f"pass --format (one of {', '.join(FORMATS)})",
    )


def _first_json_record(text: str) -> Any:
    """The first record of a JSON or JSON Lines text, or None when none can be parsed."""
    stripped = text.lstrip("\ufeff \t\r\n")
    try:
        value, _ = json.JSONDecoder().raw_decode(stripped)
    except json.JSONDecodeError:
        # A truncated or broken first line: try the next few lines of JSON Lines.
        for line in stripped.split("\n")[1:20]:
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
        return None
    if isinstance(value, dict) and isinstance(value.get("sessions"), list):
        return {"turns": [], **value}  # the native wrapper
    if isinstance(value, list):
        return value[0] if value else None
    return value


_JSON_SIGNATURES = {"kokorochat": "dialogue", "esconv": "dialog", "native": "turns"}


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
    if stripped[:1] == "{" or re.match(r"\[\s*[{\]]", stripped):
        record = _first_json_record(stripped)
        if not isinstance(record, dict):
            raise _ambiguous(name, "it looks like JSON, but its first record is not an object")
        matches = [fmt for fmt, key in _JSON_SIGNATURES.items() if key in record]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            keys = sorted(record)[:8]
            raise _ambiguous(
                name,
                f"a JSON record with the keys {keys} is none of native ('turns'), "
                "kokorochat ('dialogue') or esconv ('dialog')",
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
    if suffix.endswith((".json", ".jsonl")):
        raise _ambiguous(name, "the name says JSON, but the text does not start with '{' or '['")
    raise _ambiguous(
        name,
        "it is not JSON, has no CSV header with text and role columns, and no line starts "
        "with a known speaker such as 'Counselor:'",
    )


# -------------------------------------------------------------------------- reading
def _as_paths(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(paths, str | Path):
        return [Path(paths)]
    result = [Path(path) for path in paths]
    if not result:
        raise ParameterError("no files given", field="paths", fix="give at least one file")
    return result


def _is_session_file(path: Path) -> bool:
    name = path.name.lower().removesuffix(".gz")
    return name.endswith(SUFFIXES) and not path.name.startswith(".")


def _expand(paths: list[Path]) -> tuple[list[Path], list[Problem]]:
    files: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                candidate
                for candidate in path.rglob("*")
                if candidate.is_file()
                and _is_session_file(candidate)
                and not any(part.startswith(".") for part in candidate.relative_to(path).parts[:-1])
            )
            if not found:
                problems.append(
                    Problem(
                        "the directory holds no session files",
                        file=str(path),
                        fix=f"put {', '.join(SUFFIXES)} files (optionally .gz) in it, "
                        "or give the files themselves",
                    )
                )
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            problems.append(
                Problem("no such file or directory", file=str(path), fix="check the path")
            )
    return files, problems


def _read_file(
    path: Path,
    format: str | None,
    language: str | None,
    encoding: str | None,
    options: dict[str, Any],
) -> tuple[list[tuple[Session, str]], list[Problem]]:
    name = str(path)
    limit = options.get("limit")
    head = None
    if isinstance(limit, int) and format in (None, "kokorochat"):
        # Read only the first sessions of a (large) JSON Lines file when that is enough.
        head, problems = read_text(path, encoding=encoding, max_lines=limit)
        if head is not None and (format or _try_detect(path, head)) != "kokorochat":
            head = None
    if head is not None:
        text: str | None = head
        problems = []
    else:
        text, problems = read_text(path, encoding=encoding)
    if text is None:
        return [], problems
    if format is None:
        try:
            format = detect_format(path, text)
        except DataError as error:
            return [], [*problems, *error.problems]
    accepted = _options_of(format)
    chosen = {key: value for key, value in options.items() if key in accepted}
    located, found = _LOCATED[format](text, file=name, language=language, **chosen)
    return located, [*problems, *found]


def _try_detect(path: Path, text: str) -> str | None:
    try:
        return detect_format(path, text)
    except DataError:
        return None


def read_sessions(
    paths: str | Path | Sequence[str | Path],
    *,
    format: str | None = None,
    merge_consecutive: bool = False,
    language: str | None = None,
    encoding: str | None = None,
    **format_options: Any,
) -> tuple[list[Session], list[Problem]]:
    """Read sessions leniently: everything that parses, and every problem found.

    This is what ``care validate`` uses; :func:`load_corpus` is the strict version.
    Arguments are those of :func:`load_corpus`. Sessions with a problem inside a record
    (a turn without text, an unknown role, ...) are left out; sessions with a corpus-level
    problem (a duplicate id, a rating off its scale) are returned with the problem.

    Returns:
        The sessions, in file order, and the problems: per file in file order, then
        those of :func:`~care.data.validation.validate_sessions` over all sessions.

    Raises:
        ParameterError: An argument is invalid (an unknown format or option, ...).
    """
    name = _format_name(format)
    _check_options(name, format_options)
    files, problems = _expand(_as_paths(paths))
    located: list[tuple[Session, str, str]] = []
    for path in files:
        found, file_problems = _read_file(path, name, language, encoding, format_options)
        problems.extend(file_problems)
        located.extend((session, str(path), where) for session, where in found)
    sessions = [session for session, _, _ in located]
    if merge_consecutive:
        sessions = [merge_consecutive_turns(session) for session in sessions]
    problems.extend(
        validate_sessions(
            sessions,
            file=[file for _, file, _ in located],
            records=[where for _, _, where in located],
        )
    )
    return sessions, problems


def load_corpus(
    paths: str | Path | Sequence[str | Path],
    *,
    format: str | None = None,
    merge_consecutive: bool = False,
    language: str | None = None,
    encoding: str | None = None,
    **format_options: Any,
) -> Corpus:
    """Load session files into a :class:`~care.data.corpus.Corpus`.

    Args:
        paths: A file, a directory (read recursively, see the module docstring), or a
            list of them. Files may be gzip-compressed.
        format: The format of every file (a key of :data:`FORMATS`, or ``jsonl``/``json``
            for native, ``txt`` for text); detected per file when None.
        merge_consecutive: Merge consecutive turns of the same speaker into one turn
            (:func:`~care.data.session.merge_consecutive_turns`). Off by default: care
            never merges turns unless asked.
        language: The language of sessions whose file does not state one (``"en"``,
            ``"zh"``, ``"ja"``); detected from the text when None.
        encoding: The text encoding of every file; UTF-8/UTF-16 with BOM when None.
        **format_options: Options of the readers, passed to the formats that take them:
            ``speaker_map`` (text, csv), ``columns``, ``rating_columns``, ``instrument``,
            ``rater``, ``delimiter``, ``session_id`` (csv; ``session_id`` also text),
            ``limit`` and ``empty_turns`` (kokorochat).

    Returns:
        The corpus.

    Raises:
        DataError: Any file has any problem; ``error.problems`` lists all of them, each
            naming the file, the line/row/record, the field and the fix.
        ParameterError: An argument is invalid.
    """
    sessions, problems = read_sessions(
        paths,
        format=format,
        merge_consecutive=merge_consecutive,
        language=language,
        encoding=encoding,
        **format_options,
    )
    if problems:
        raise DataError.from_problems(problems)
    return Corpus(sessions)


# -------------------------------------------------------------------------- writing
_SAVE_FORMATS = {
    "native": "native",
    "jsonl": "native",
    "json": "json",
    "csv": "csv",
    "tsv": "tsv",
    "text": "text",
    "txt": "text",
}
_SUFFIX_FORMATS = {
    ".jsonl": "native",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "text",
}


def save_corpus(
    corpus: Corpus | Iterable[Session], path: str | Path, format: str | None = None
) -> Path:
    """Write sessions to a file.

    Args:
        corpus: A corpus or sessions.
        path: The file to write; a name ending in ``.gz`` is gzip-compressed.
        format: ``native`` (JSON Lines, everything kept), ``json`` (a JSON array of native
            records), ``csv``/``tsv`` (one row per turn; session meta and ratings are not
            written), or ``text`` (plain transcripts with ``=== session <id> ===`` lines;
            only roles, times and texts). Told from the file name (``.jsonl``, ``.json``,
            ``.csv``, ``.tsv``, ``.txt``) when None.

    Returns:
        The path written.

    Raises:
        ParameterError: The format is unknown or cannot be told from the name.
    """
    target = Path(path)
    if format is None:
        suffix = Path(target.name.lower().removesuffix(".gz")).suffix
        chosen = _SUFFIX_FORMATS.get(suffix)
        if chosen is None:
            raise ParameterError(
                f"cannot tell the output format from the name {target.name!r}",
                field="format",
                fix=f"name the file {', '.join(_SUFFIX_FORMATS)} or pass the format",
            )
    else:
        chosen = _SAVE_FORMATS.get(format.strip().lower())
        if chosen is None:
            raise ParameterError(
                f"cannot write the format {format!r}",
                field="format",
                fix=f"use one of {', '.join(_SAVE_FORMATS)}",
            )
    sessions = list(corpus)
    if chosen == "native":
        content = "".join(dumps_line(session_to_record(session)) + "\n" for session in sessions)
    elif chosen == "json":
        records = [session_to_record(session) for session in sessions]
        content = json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    elif chosen in ("csv", "tsv"):
        content = format_csv(sessions, delimiter="\t" if chosen == "tsv" else ",")
    else:
        content = format_transcript(sessions)
    data = content.encode("utf-8")
    if target.name.lower().endswith(".gz"):
        data = gzip.compress(data)
    write_bytes_atomic(target, data)
    return target
