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
parquet    one row per session, nested turns and ratings (:mod:`.parquet`; binary, so
           told by its content, ``PAR1``, not detected as text)
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
``.txt`` files (each optionally ``.gz``) and ``.parquet`` files, in sorted order; hidden files
are skipped. :func:`~care.data.io.stream.iter_sessions` reads the same inputs lazily.
"""

from __future__ import annotations

import gzip
import inspect
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from care.data.corpus import Corpus
from care.data.io.annomi import parse_annomi
from care.data.io.csv_table import format_csv, parse_csv
from care.data.io.detect import detect_format
from care.data.io.esconv import parse_esconv
from care.data.io.kokorochat import parse_kokorochat
from care.data.io.native import dumps_line, parse_native, session_to_record
from care.data.io.plaintext import format_transcript, parse_text
from care.data.io.registry import FORMAT_ALIASES, SESSION_FORMATS, plain_reader
from care.data.io.stream import is_parquet
from care.data.io.text_files import read_text
from care.data.language import unknown_language
from care.data.session import Session, merge_consecutive_turns
from care.data.validation import LANGUAGE_FIX, validate_sessions
from care.errors import DataError, ParameterError, Problem
from care.output.atomic import write_bytes_atomic

__all__ = [
    "FORMATS",
    "SUFFIXES",
    "SessionsRead",
    "detect_format",
    "load_corpus",
    "parse_annomi",
    "parse_csv",
    "parse_esconv",
    "parse_kokorochat",
    "parse_native",
    "parse_text",
    "read_sessions",
    "read_sessions_located",
    "save_corpus",
    "sessions_from_text",
]

Reader = Callable[..., tuple[list[Session], list[Problem]]]

SUFFIXES: tuple[str, ...] = (".jsonl", ".json", ".csv", ".tsv", ".txt")
"""File name endings read from directories (each also with ``.gz``)."""
PARQUET_SUFFIX = ".parquet"
"""Parquet session files (:mod:`care.data.io.parquet`), also read from directories."""


class _Readers(Mapping[str, Reader]):
    """Format name → reader, read live from the registry (so a registered plugin shows)."""

    def __getitem__(self, name: str) -> Reader:
        return plain_reader(SESSION_FORMATS[name].read_located)

    def __iter__(self) -> Iterator[str]:
        return iter(SESSION_FORMATS)

    def __len__(self) -> int:
        return len(SESSION_FORMATS)


FORMATS: Mapping[str, Reader] = _Readers()
"""Format name → reader ``(text, *, file, **options) -> (sessions, problems)``; the formats
are those of :data:`~care.data.io.registry.SESSION_FORMATS`."""
_NOT_OPTIONS = {"text", "file", "language"}


def _options_of(name: str) -> set[str]:
    """The options (keyword arguments besides text, file, language) of a format's reader."""
    reader = SESSION_FORMATS[name].read_located
    fixed = set(reader.keywords) if isinstance(reader, partial) else set()
    return set(inspect.signature(reader).parameters) - _NOT_OPTIONS - fixed


def _format_name(format: str | None) -> str | None:
    if format is None:
        return None
    if format.strip().lower() == "parquet":
        return "parquet"
    name = FORMAT_ALIASES.get(format.strip().lower(), format.strip().lower())
    if name not in FORMATS:
        raise ParameterError(
            f"unknown format {format!r}",
            field="format",
            fix=f"use one of {', '.join(FORMATS)}",
        )
    return name


def _check_options(format: str | None, options: dict[str, Any]) -> None:
    known = {name: _options_of(name) for name in FORMATS}
    known["parquet"] = set()
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


# -------------------------------------------------------------------------- reading
def _as_paths(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(paths, str | Path):
        return [Path(paths)]
    result = [Path(path) for path in paths]
    if not result:
        raise ParameterError("no files given", field="paths", fix="give at least one file")
    return result


def _is_session_file(path: Path) -> bool:
    name = path.name.lower()
    return (
        name.removesuffix(".gz").endswith(SUFFIXES) or name.endswith(PARQUET_SUFFIX)
    ) and not path.name.startswith(".")


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
        elif path.is_file():
            files.append(path)
        elif path.exists():
            problems.append(
                Problem(
                    "not a regular file (a device, pipe or socket), which care does not read from",
                    file=str(path),
                    fix="save the sessions to a file and give its path",
                )
            )
        elif path.is_symlink():
            problems.append(
                Problem(
                    "a symbolic link that leads nowhere (or to a loop of links)",
                    file=str(path),
                    fix="point the link at a session file, or give the file itself",
                )
            )
        else:
            problems.append(
                Problem("no such file or directory", file=str(path), fix="check the path")
            )
    # The same file named twice (or inside a directory also given) is read once.
    unique: dict[Path, Path] = {}
    for file in files:
        unique.setdefault(file.resolve(), file)
    return list(unique.values()), problems


def _read_file(
    path: Path,
    format: str | None,
    language: str | None,
    encoding: str | None,
    options: dict[str, Any],
) -> tuple[list[tuple[Session, str]], list[Problem]]:
    name = str(path)
    if format == "parquet" or (format is None and is_parquet(path)):
        from care.data.io.parquet import read_parquet_located

        return read_parquet_located(path, language=language)
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
    located, found = _parse_text(text, name, format, language, options)
    return located, [*problems, *found]


def _parse_text(
    text: str, name: str, format: str | None, language: str | None, options: dict[str, Any]
) -> tuple[list[tuple[Session, str]], list[Problem]]:
    """The located sessions of one text and the problems inside it (not yet validated)."""
    if format is None:
        try:
            format = detect_format(name, text)
        except DataError as error:
            return [], list(error.problems)
    accepted = _options_of(format)
    chosen = {key: value for key, value in options.items() if key in accepted}
    located, problems = SESSION_FORMATS[format].read_located(
        text, file=name, language=language, **chosen
    )
    if not located and not problems and options.get("limit") != 0:
        problems = [
            Problem(
                f"the file holds no sessions (read as {format})",
                file=name,
                fix="check that this is the right file, or give --format if it is in another "
                "format",
            )
        ]
    return located, problems


def _try_detect(path: Path, text: str) -> str | None:
    try:
        return detect_format(path, text)
    except DataError:
        return None


def _check_arguments(format: str | None, language: str | None, options: dict[str, Any]) -> None:
    _check_options(format, options)
    wrong = unknown_language(language) if language is not None else None
    if wrong is not None:
        raise ParameterError(wrong, field="language", fix=LANGUAGE_FIX)


@dataclass
class SessionsRead:
    """What :func:`read_sessions_located` found.

    Attributes:
        located: ``(session, file, where)`` for every session read, in file order.
        problems: Every problem: per file in file order, then those of
            :func:`~care.data.validation.validate_sessions` over all sessions.
        files: The files read, in order (directories expanded).
    """

    located: list[tuple[Session, str, str]]
    problems: list[Problem]
    files: list[str]

    @property
    def sessions(self) -> list[Session]:
        """The sessions, in file order."""
        return [session for session, _, _ in self.located]


def read_sessions_located(
    paths: str | Path | Sequence[str | Path],
    *,
    format: str | None = None,
    merge_consecutive: bool = False,
    language: str | None = None,
    encoding: str | None = None,
    **format_options: Any,
) -> SessionsRead:
    """:func:`read_sessions`, keeping the file and place of every session (for reports per
    file, such as ``care validate``'s)."""
    name = _format_name(format)
    _check_arguments(name, language, format_options)
    files, problems = _expand(_as_paths(paths))
    located: list[tuple[Session, str, str]] = []
    for path in files:
        found, file_problems = _read_file(path, name, language, encoding, format_options)
        problems.extend(file_problems)
        located.extend((session, str(path), where) for session, where in found)
    if merge_consecutive:
        located = [(merge_consecutive_turns(s), file, where) for s, file, where in located]
    problems.extend(
        validate_sessions(
            [session for session, _, _ in located],
            file=[file for _, file, _ in located],
            records=[where for _, _, where in located],
        )
    )
    return SessionsRead(located, problems, [str(path) for path in files])


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
    found = read_sessions_located(
        paths,
        format=format,
        merge_consecutive=merge_consecutive,
        language=language,
        encoding=encoding,
        **format_options,
    )
    return found.sessions, found.problems


def sessions_from_text(
    text: str,
    *,
    name: str = "upload",
    format: str | None = None,
    language: str | None = None,
    **format_options: Any,
) -> tuple[list[Session], list[Problem]]:
    """Read the sessions of a text that is not a file (a pasted or uploaded transcript),
    with the same detection, readers and checks as :func:`read_sessions`.

    Args:
        text: The text.
        name: How problems name the text (also the session id of a one-session text).
        format: A key of :data:`FORMATS` (or an alias); told from the content when None.
        language: The language of sessions that do not state one; detected when None.
        **format_options: Options of the readers, as for :func:`load_corpus`.

    Returns:
        The sessions and every problem found (an empty list when they are fine).

    Raises:
        ParameterError: An argument is invalid.
    """
    chosen = _format_name(format)
    _check_arguments(chosen, language, format_options)
    located, problems = _parse_text(text, name, chosen, language, format_options)
    sessions = [session for session, _ in located]
    problems.extend(validate_sessions(sessions, file=name, records=[where for _, where in located]))
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
    "parquet": "parquet",
}
_SUFFIX_FORMATS = {
    ".jsonl": "native",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".txt": "text",
    ".parquet": "parquet",
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
            written), ``text`` (plain transcripts with ``=== session <id> ===`` lines;
            only roles, times and texts), or ``parquet`` (everything kept, see
            :mod:`care.data.io.parquet`; never gzipped). Told from the file name
            (``.jsonl``, ``.json``, ``.csv``, ``.tsv``, ``.txt``, ``.parquet``) when None.

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
    if chosen == "parquet":
        from care.data.io.parquet import write_sessions_parquet
        from care.output.atomic import atomic_write

        with atomic_write(target, "wb") as handle:  # streamed, a row group at a time
            write_sessions_parquet(corpus, handle)
        return target
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
