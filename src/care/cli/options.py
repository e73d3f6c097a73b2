"""Command-line options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from care.data.io.registry import BINARY_FORMAT_NAMES, FORMAT_NAMES
from care.data.language import LANGUAGES
from care.errors import ParameterError

SCORING_OPTION = click.option(
    "--scoring",
    type=click.Choice(["generate", "likelihood"]),
    default="generate",
    show_default=True,
    help="LLM models: generate (the model writes its answer, which is read) or likelihood "
    "(each option scored as the answer's continuation: probabilities, argmax and expected "
    "score from one forward pass per item, nothing generated, nothing to fail parsing).",
)
"""``--scoring``, of ``care assess`` and ``care serve``."""


def input_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """Options that say how to read session files (format, encoding, speakers, merging)."""
    options = [
        click.option(
            "--format",
            "input_format",
            type=click.Choice([*FORMAT_NAMES, *BINARY_FORMAT_NAMES]),
            default=None,
            help="Input format; detected from the content when not given.",
        ),
        click.option(
            "--encoding", default=None, help="Text encoding of the input (default: UTF-8)."
        ),
        click.option(
            "--speaker",
            "speakers",
            multiple=True,
            metavar="NAME=ROLE",
            help="Map a speaker label to a role (counselor, client, other); repeatable.",
        ),
        click.option(
            "--language",
            default=None,
            help=f"Language of the sessions ({', '.join(LANGUAGES)}); detected per session when "
            "not given.",
        ),
        click.option(
            "--column",
            "columns",
            multiple=True,
            metavar="FIELD=HEADER",
            help="CSV/TSV: read FIELD (text, role, speaker, session_id, ...) from the column "
            "named HEADER; repeatable.",
        ),
        click.option(
            "--merge-consecutive",
            is_flag=True,
            help="Merge consecutive turns of the same speaker into one turn.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


rated_data_option = click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="Rated sessions (any format care reads); repeatable.",
)
"""The ``--data`` option of the commands that learn from rated sessions."""


def parse_speakers(speakers: tuple[str, ...]) -> dict[str, str]:
    """Parse repeated ``NAME=ROLE`` options into a mapping."""
    mapping: dict[str, str] = {}
    for entry in speakers:
        name, sep, role = entry.partition("=")
        if not sep or not name.strip() or role.strip() not in ("counselor", "client", "other"):
            raise ParameterError(
                f"--speaker expects NAME=ROLE with ROLE one of counselor, client, other; "
                f"got {entry!r}",
                field="--speaker",
                fix="write for example --speaker 'Dr. Lee=counselor'",
            )
        mapping[name.strip()] = role.strip()
    return mapping


def parse_columns(columns: tuple[str, ...]) -> dict[str, str]:
    """Parse repeated ``FIELD=HEADER`` options into the CSV reader's column mapping."""
    from care.data.io.csv_table import DEFAULT_COLUMNS

    mapping: dict[str, str] = {}
    for entry in columns:
        field, sep, header = entry.partition("=")
        if not sep or field.strip() not in DEFAULT_COLUMNS or not header.strip():
            raise ParameterError(
                f"--column expects FIELD=HEADER with FIELD one of {', '.join(DEFAULT_COLUMNS)}",
                field="--column",
                fix="write for example --column text=utterance",
            )
        mapping[field.strip()] = header.strip()
    return mapping


def loader_arguments(
    input_format: str | None,
    encoding: str | None,
    speakers: tuple[str, ...],
    language: str | None,
    merge_consecutive: bool,
    columns: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Keyword arguments for :func:`care.data.io.load_corpus` from the input options."""
    arguments: dict[str, Any] = {
        "format": input_format,
        "encoding": encoding,
        "language": language,
        "merge_consecutive": merge_consecutive,
    }
    mapping = parse_speakers(speakers)
    if mapping:
        arguments["speaker_map"] = mapping
    column_map = parse_columns(columns)
    if column_map:
        arguments["columns"] = column_map
    return arguments
