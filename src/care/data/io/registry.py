"""The session formats care reads: one registry that every front-end lists them from.

The command line (``--format``), the REST API's schema (``format`` of a pasted text) and
the web page (its format menu, filled from ``GET /v1/formats``) all take their list from
:data:`SESSION_FORMATS`. Adding an importer is one module with a located reader
``(text, *, file, language=None, **options) -> ([(session, where)], problems)`` and one
:func:`register_format` line below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from care.data.io.annomi import parse_annomi_located
from care.data.io.csv_table import parse_csv_located
from care.data.io.esconv import parse_esconv_located
from care.data.io.kokorochat import parse_kokorochat_located
from care.data.io.native import parse_native_located
from care.data.io.plaintext import parse_text_located
from care.data.language import session_language
from care.data.session import Session
from care.errors import Problem

__all__ = [
    "BINARY_FORMAT_NAMES",
    "FORMAT_ALIASES",
    "FORMAT_NAMES",
    "SESSION_FORMATS",
    "LocatedReader",
    "SessionFormat",
    "plain_reader",
    "register_format",
]

LocatedReader = Callable[..., tuple[list[tuple[Session, str]], list[Problem]]]


@dataclass(frozen=True)
class SessionFormat:
    """One format care reads.

    Attributes:
        name: The name for ``--format`` and the API's ``format``.
        description: One line for help texts and the web page.
        read_located: The reader; each session comes with where it was found in the text
            (``"line 3"``, ``"row 2"``).
        aliases: Other names accepted for it (``jsonl`` for native, ...).
        json_key: For a JSON format, the key whose presence in a record tells it from the
            other JSON formats (``turns`` for native); None for formats that are not JSON.
    """

    name: str
    description: str
    read_located: LocatedReader
    aliases: tuple[str, ...] = field(default=())
    json_key: str | None = None


SESSION_FORMATS: dict[str, SessionFormat] = {}
"""Format name → :class:`SessionFormat`, in the order the formats are listed."""
FORMAT_ALIASES: dict[str, str] = {}
"""Alias → format name."""
FORMAT_NAMES: list[str] = []
"""The format names, in order (kept in step with :data:`SESSION_FORMATS`): the formats of
transcript text, which the API takes too."""
BINARY_FORMAT_NAMES = ("parquet",)
"""Formats that only files have (binary, read by :mod:`care.data.io.parquet`): the command
line's ``--format`` offers them after :data:`FORMAT_NAMES`; the API takes text."""


def register_format(session_format: SessionFormat) -> SessionFormat:
    """Add a format to the registry (a plugin may add its own)."""
    SESSION_FORMATS[session_format.name] = session_format
    for alias in session_format.aliases:
        FORMAT_ALIASES[alias] = session_format.name
    FORMAT_NAMES[:] = list(SESSION_FORMATS)
    return session_format


def _native_located(
    text: str, *, file: str, language: str | None = None
) -> tuple[list[tuple[Session, str]], list[Problem]]:
    """Native JSON/JSONL; sessions without a ``language`` get ``language`` or a detected one."""
    sessions, problems = parse_native_located(text, file=file)
    for session, _ in sessions:
        if session.language is None:
            session.language = language or session_language(session)
    return sessions, problems


def plain_reader(reader: LocatedReader) -> Callable[..., tuple[list[Session], list[Problem]]]:
    """A reader that returns only the sessions of a located reader."""

    def read(text: str, **options: Any) -> tuple[list[Session], list[Problem]]:
        located, problems = reader(text, **options)
        return [session for session, _ in located], problems

    return read


register_format(
    SessionFormat(
        "native",
        "care's JSON Lines or JSON",
        _native_located,
        aliases=("jsonl", "json"),
        json_key="turns",
    )
)
register_format(
    SessionFormat(
        "kokorochat", "KokoroChat JSON Lines", parse_kokorochat_located, json_key="dialogue"
    )
)
register_format(SessionFormat("esconv", "ESConv JSON", parse_esconv_located, json_key="dialog"))
register_format(SessionFormat("annomi", "AnnoMI CSV", parse_annomi_located))
register_format(SessionFormat("csv", "a CSV table, one turn per row", parse_csv_located))
register_format(
    SessionFormat(
        "tsv", "a tab-separated table, one turn per row", partial(parse_csv_located, delimiter="\t")
    )
)
register_format(
    SessionFormat(
        "text",
        "plain-text transcripts with speaker prefixes",
        parse_text_located,
        aliases=("txt", "plain"),
    )
)
