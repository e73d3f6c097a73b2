"""Read sessions lazily, one at a time, so that a corpus of any size fits in memory.

:func:`iter_sessions` is the streaming counterpart of :func:`~care.data.io.load_corpus`:

* JSON Lines files (care's native ``.jsonl`` and KokoroChat), plain or gzip-compressed, are
  read line by line: memory holds one session at a time, however large the file;
* Parquet session files (:mod:`care.data.io.parquet`) are read one row group at a time;
* every other format (CSV, plain text, JSON arrays, ESConv, AnnoMI) is read one file at a
  time, so a corpus in those formats streams when it is split into several files.

Inputs may be files, folders (read recursively, as :func:`~care.data.io.load_corpus` reads
them) and glob patterns (``shards/*.jsonl.gz``).

Each session gets the checks of :func:`~care.data.validation.validate_sessions` (ratings on
their instrument's scale, roles, texts, languages), and :func:`iter_sessions` refuses a
session id seen before in the inputs, naming both places. For that it keeps one small entry
per session (a 64-bit hash of the id and where it was: about 120 bytes, 23 MB for 200,000
sessions), not the sessions.
"""

from __future__ import annotations

import glob
import gzip
import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from care.data.io.text_files import read_text
from care.data.session import Session, merge_consecutive_turns
from care.data.validation import validate_sessions
from care.errors import DataError, Problem

__all__ = [
    "LINE_FORMATS",
    "SessionSource",
    "expand_inputs",
    "iter_located_sessions",
    "iter_sessions",
    "parse_session_line",
    "plan_sources",
]

LINE_FORMATS = ("native", "kokorochat")
"""Formats with one session per line, read line by line."""

_GLOB_CHARACTERS = set("*?[")


def expand_inputs(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """The session files named by files, folders and glob patterns, in order.

    Raises:
        DataError: A path does not exist, a pattern matches nothing, or a folder holds no
            session files; every such problem is listed.
    """
    from care.data.io import _as_paths, _expand

    given = _as_paths(paths)
    concrete: list[Path] = []
    problems: list[Problem] = []
    for path in given:
        text = str(path)
        if not path.exists() and _GLOB_CHARACTERS & set(text):
            matches = sorted(Path(match) for match in glob.glob(text, recursive=True))
            if not matches:
                problems.append(
                    Problem("the pattern matches no file", file=text, fix="check the pattern")
                )
            concrete.extend(matches)
        else:
            concrete.append(path)
    files, found = _expand(concrete) if concrete else ([], [])
    problems.extend(found)
    if problems:
        raise DataError.from_problems(problems)
    return files


def is_parquet(path: Path) -> bool:
    """Whether ``path`` is a Parquet file (by its magic bytes, else its name)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"PAR1"
    except OSError:
        return path.name.lower().endswith(".parquet")


class SessionSource:
    """One input file and how it is read: ``mode`` is ``"lines"`` (one session per line),
    ``"parquet"`` or ``"file"`` (the whole file at once); ``format`` is the reader's name."""

    def __init__(self, path: Path, format: str, mode: str) -> None:
        self.path = path
        self.format = format
        self.mode = mode

    def __repr__(self) -> str:
        return f"SessionSource({str(self.path)!r}, {self.format!r}, {self.mode!r})"


def plan_sources(
    paths: str | Path | Sequence[str | Path],
    *,
    format: str | None = None,
    encoding: str | None = None,
) -> list[SessionSource]:
    """How each input file will be read (its format is detected from its first lines).

    Raises:
        DataError: A path is missing or a file's format cannot be told.
        ParameterError: The format is unknown.
    """
    from care.data.io import _format_name

    name = _format_name(format) if format not in (None, "parquet") else format
    sources = []
    problems: list[Problem] = []
    for path in expand_inputs(paths):
        if name == "parquet" or (name is None and is_parquet(path)):
            sources.append(SessionSource(path, "parquet", "parquet"))
            continue
        chosen = name
        if chosen is None:
            try:
                chosen = _detect(path, encoding)
            except DataError as error:
                problems.extend(error.problems)
                continue
        mode = "lines" if _reads_by_line(path, chosen, encoding) else "file"
        sources.append(SessionSource(path, chosen, mode))
    if problems:
        raise DataError.from_problems(problems)
    return sources


def _detect(path: Path, encoding: str | None) -> str:
    """The format of ``path`` from its first lines, or from all of it when they do not
    tell (a pretty-printed JSON document needs its end)."""
    from care.data.io import detect_format

    for max_lines in (2, None):
        text, found = read_text(path, encoding=encoding, max_lines=max_lines)
        if text is None:
            raise DataError.from_problems(found)
        try:
            return detect_format(path, text)
        except DataError:
            if max_lines is None:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _reads_by_line(path: Path, format: str, encoding: str | None) -> bool:
    if format not in LINE_FORMATS or encoding not in (None, "utf-8", "utf8", "utf-8-sig"):
        return False
    if format == "kokorochat":
        return True
    name = path.name.lower().removesuffix(".gz")
    return name.endswith(".jsonl")


def open_binary(path: Path) -> BinaryIO:
    """``path`` opened for reading bytes, gunzipped when its content is gzip."""
    handle = open(path, "rb")  # noqa: SIM115 - returned open, closed by the caller
    if handle.peek(2)[:2] == b"\x1f\x8b":  # type: ignore[attr-defined]
        return gzip.GzipFile(fileobj=handle)  # type: ignore[return-value]
    return handle  # type: ignore[return-value]


def iter_lines(handle: BinaryIO, *, file: str) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` for each line of UTF-8 JSON Lines, split on ``\\n`` only
    (JSON strings may hold U+2028 and other characters other splitters break on)."""
    number = 0
    for raw in handle:
        number += 1
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            continue
        try:
            yield number, raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise DataError(
                "the line is not valid UTF-8",
                file=file,
                record=f"line {number}",
                fix="save the file as UTF-8, or pass --encoding",
            ) from None


def parse_session_line(
    line: str,
    *,
    format: str,
    file: str,
    line_number: int,
    language: str | None = None,
    **options: Any,
) -> tuple[Session | None, list[Problem]]:
    """Parse one line of a JSON Lines session file (native or KokoroChat).

    Returns the session (None when it cannot be built) and every problem found, each
    naming ``file`` and ``line {line_number}``; the per-session checks of
    :func:`~care.data.validation.validate_sessions` are included.
    """
    from care.data.io.registry import SESSION_FORMATS

    where = f"line {line_number}"
    located, problems = SESSION_FORMATS[format].read_located(
        line, file=file, language=language, **options
    )
    problems = [_relocated(problem, where) for problem in problems]
    if not located:
        return None, problems
    session = located[0][0]
    problems.extend(validate_sessions([session], file=file, records=[where]))
    return session, problems


def _relocated(problem: Problem, where: str) -> Problem:
    if problem.record is None or problem.record.startswith(("line ", "record ")):
        return Problem(
            problem.message, file=problem.file, record=where, field=problem.field, fix=problem.fix
        )
    return problem


def iter_located_sessions(
    paths: str | Path | Sequence[str | Path],
    *,
    format: str | None = None,
    merge_consecutive: bool = False,
    language: str | None = None,
    encoding: str | None = None,
    **format_options: Any,
) -> Iterator[tuple[Session | None, list[Problem]]]:
    """Each session of the inputs with its problems, one at a time (lenient: a session
    with problems comes with them, or as None when it cannot be built)."""
    for session, problems, _ in _iter_placed(
        paths,
        format=format,
        merge_consecutive=merge_consecutive,
        language=language,
        encoding=encoding,
        **format_options,
    ):
        yield session, problems


def _iter_placed(
    paths: str | Path | Sequence[str | Path],
    *,
    format: str | None = None,
    merge_consecutive: bool = False,
    language: str | None = None,
    encoding: str | None = None,
    **format_options: Any,
) -> Iterator[tuple[Session | None, list[Problem], Place]]:
    """:func:`iter_located_sessions`, with where each session is."""
    from care.data.io import _check_arguments, _format_name

    # the arguments load_corpus checks (Parquet files take no format options)
    _check_arguments(
        _format_name(format) if format != "parquet" else None,
        language,
        format_options if format != "parquet" else {},
    )
    for number, source in enumerate(plan_sources(paths, format=format, encoding=encoding)):
        for session, problems, where in _iter_source(source, language, encoding, format_options):
            if session is not None and merge_consecutive:
                session = merge_consecutive_turns(session)
            yield session, problems, (number, str(source.path), where)


Place = tuple[int, str, "int | str"]
"""Where a session is: its source's position among the inputs, the file, and its line or
row number (streamed files) or its record (files read whole)."""


def _iter_source(
    source: SessionSource,
    language: str | None,
    encoding: str | None,
    options: dict[str, Any],
) -> Iterator[tuple[Session | None, list[Problem], int | str]]:
    from care.data.io import _options_of

    name = str(source.path)
    if source.mode == "parquet":
        from care.data.io.parquet import iter_parquet_sessions

        for row, (session, problems) in enumerate(
            iter_parquet_sessions(source.path, language=language), start=1
        ):
            yield session, problems, f"row {row}"
        return
    accepted = _options_of(source.format)
    chosen = {key: value for key, value in options.items() if key in accepted}
    if source.mode == "file":
        yield from _iter_file(source.path, source.format, language, encoding, chosen)
        return
    limit = chosen.pop("limit", None)
    count = 0
    with open_binary(source.path) as handle:
        for number, line in iter_lines(io.BufferedReader(handle), file=name):  # type: ignore[arg-type]
            if count == 0 and line.strip() in PRETTY_OPENINGS:
                # one JSON document over many lines: read whole, to say what it is
                yield from _iter_file(source.path, source.format, language, encoding, chosen)
                return
            if limit is not None and count >= limit:
                return
            count += 1
            session, problems = parse_session_line(
                line,
                format=source.format,
                file=name,
                line_number=number,
                language=language,
                **chosen,
            )
            yield session, problems, number


PRETTY_OPENINGS = ("{", "[", "[{")
"""First lines of a JSON document spread over many lines (not JSON Lines)."""


def _iter_file(
    path: Path, format: str, language: str | None, encoding: str | None, options: dict[str, Any]
) -> Iterator[tuple[Session | None, list[Problem], int | str]]:
    """The sessions of a file read whole, with its problems and the checks that
    :func:`parse_session_line` gives a line."""
    from care.data.io import _read_file

    name = str(path)
    located, problems = _read_file(path, format, language, encoding, options)
    problems = [
        *problems,
        *validate_sessions(
            [session for session, _ in located], file=name, records=[where for _, where in located]
        ),
    ]
    if problems:
        yield None, problems, "line 1"
        return
    for session, where in located:
        yield session, [], where


class SeenIds:
    """The session ids met so far in a stream and where each was, kept as 64-bit hashes
    and numbers (about 120 bytes a session), to refuse a duplicate id as
    :func:`~care.data.io.load_corpus` does."""

    def __init__(self) -> None:
        # a streamed line or row as one number (source << 40 | line); a record of a file
        # read whole (its sessions are in memory anyway) as (source, record)
        self._places: dict[int, int | tuple[int, str]] = {}
        self._files: dict[int, str] = {}

    def check(self, session: Session, place: Place) -> Problem | None:
        """A problem if ``session``'s id was seen before, else None (and it is noted)."""
        source, file, where = place
        key = hash(session.id)
        earlier = self._places.get(key)
        if earlier is not None:
            if isinstance(earlier, int):
                first_source, first_where = earlier >> 40, earlier & (2**40 - 1)
            else:
                first_source, first_where = earlier
            return Problem(
                f"duplicate session id '{session.id}' (also at "
                f"{self._files[first_source]}: {_record(first_where)})",
                file=file,
                record=_record(where),
                field="id",
                fix="give every session a unique id",
            )
        self._files.setdefault(source, file)
        self._places[key] = (source << 40 | where) if isinstance(where, int) else (source, where)
        return None


def _record(where: int | str) -> str:
    return f"line {where}" if isinstance(where, int) else where


def iter_sessions(
    paths: str | Path | Sequence[str | Path],
    *,
    format: str | None = None,
    merge_consecutive: bool = False,
    language: str | None = None,
    encoding: str | None = None,
    **format_options: Any,
) -> Iterator[Session]:
    """Sessions of the inputs, read lazily (see the module docstring). Arguments are those
    of :func:`~care.data.io.load_corpus`, and ``format`` may also be ``"parquet"``.

    Raises:
        DataError: When the first session with a problem is reached (the sessions before
            it have been yielded); ``error.problems`` names its file, line and field.
        ParameterError: An argument is invalid.
    """
    seen = SeenIds()
    for session, problems, place in _iter_placed(
        paths,
        format=format,
        merge_consecutive=merge_consecutive,
        language=language,
        encoding=encoding,
        **format_options,
    ):
        if problems:
            raise DataError.from_problems(problems)
        if session is not None:
            duplicate = seen.check(session, place)
            if duplicate is not None:
                raise DataError.from_problems([duplicate])
            yield session
