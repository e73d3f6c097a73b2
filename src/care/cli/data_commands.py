"""``care validate``, ``care show`` and ``care convert``: commands over session files."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from care.cli.options import input_options, loader_arguments
from care.cli.paths import OUTPUT_FILE
from care.errors import DataError

ROLE_STYLES = {"counselor": "bold cyan", "client": "bold magenta", "other": "bold yellow"}


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@input_options
def validate(files: tuple[Path, ...], **options: object) -> None:
    """Check session files and report every problem found.

    Exits with 0 when all files are valid, 2 when any problem was found.
    """
    from care.data.io import read_sessions_located

    # All files at once, so that a session id used in two files is found as in `care assess`.
    found = read_sessions_located(list(files), **loader_arguments(**options))  # type: ignore[arg-type]
    names = list(dict.fromkeys([*found.files, *(p.file or "" for p in found.problems)]))
    for name in names:
        problems = [problem for problem in found.problems if (problem.file or "") == name]
        sessions = [session for session, file, _ in found.located if file == name]
        for problem in problems:
            click.echo(f"error: {problem}", err=True)
        status = "ok" if not problems else f"{len(problems)} problem(s)"
        turns = sum(len(session.turns) for session in sessions)
        rated = sum(1 for session in sessions if session.ratings)
        shown = name or "(input)"
        click.echo(f"{shown}: {len(sessions)} sessions, {turns} turns, {rated} rated: {status}")
    if len(found.problems) > 1:
        click.echo(
            f"{len(found.problems)} problem(s) in {len(names)} file(s); fix them and run again.",
            err=True,
        )
    if found.problems:
        raise SystemExit(2)


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--session", "session_id", default=None, help="Show only this session id.")
@click.option("--limit", default=None, type=int, help="Show at most this many sessions.")
@input_options
def show(file: Path, session_id: str | None, limit: int | None, **options: object) -> None:
    """Print sessions as readable transcripts with turn numbers."""
    from care.data.io import load_corpus

    corpus = load_corpus(file, **loader_arguments(**options))  # type: ignore[arg-type]
    sessions = list(corpus)
    if session_id is not None:
        if session_id not in corpus:
            raise DataError(
                f"no session with id '{session_id}' (it has {len(corpus)} sessions)",
                file=str(file),
                field="--session",
                fix="list the ids with `care show FILE` or pick one from the file",
            )
        sessions = [corpus[session_id]]
    if limit is not None:
        sessions = sessions[:limit]
    console = Console(highlight=False, soft_wrap=True)
    for session in sessions:
        header = f"Session {session.id}"
        details = [
            f"language {session.language}" if session.language else None,
            f"client {session.client_id}" if session.client_id else None,
            f"counselor {session.counselor_id}" if session.counselor_id else None,
            f"{len(session.turns)} turns",
        ]
        console.rule(escape(header + " (" + ", ".join(d for d in details if d) + ")"))
        width = len(str(len(session.turns) - 1))
        for turn in session.turns:
            label = turn.role.capitalize()
            if turn.speaker and turn.speaker.lower() != turn.role:
                label = f"{label} ({turn.speaker})"
            style = ROLE_STYLES.get(turn.role, "bold")
            console.print(
                f"[dim]#{turn.index:<{width}}[/dim] [{style}]{escape(label)}:[/{style}] "
                f"{escape(turn.text)}"
            )
        for rating in session.ratings:
            values = ", ".join(f"{key}={value:g}" for key, value in rating.values.items())
            console.print(f"[dim]ratings {rating.instrument} by {rating.rater}:[/dim] {values}")
        console.print()


@click.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.argument("target", type=OUTPUT_FILE)
@click.option(
    "--to",
    "output_format",
    type=click.Choice(["jsonl", "json", "csv", "txt", "parquet"]),
    default=None,
    help="Output format; taken from TARGET's extension when not given.",
)
@input_options
def convert(source: Path, target: Path, output_format: str | None, **options: object) -> None:
    """Convert sessions between formats (to native JSONL, JSON, CSV, plain text or Parquet).

    SOURCE may be in any format care reads, Parquet included.
    """
    from care.data.io import load_corpus, save_corpus

    corpus = load_corpus(source, **loader_arguments(**options))  # type: ignore[arg-type]
    save_corpus(corpus, target, format=output_format)
    click.echo(f"wrote {len(corpus)} sessions to {target}")


COMMANDS = [validate, show, convert]
