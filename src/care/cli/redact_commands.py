"""``care redact``: show and apply the redaction that runs before any remote model call."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from care.cli.options import input_options, loader_arguments
from care.cli.paths import OUTPUT_FILE


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=OUTPUT_FILE,
    default=None,
    help="Write the redacted sessions as native JSON Lines.",
)
@click.option(
    "--name",
    "names",
    multiple=True,
    help="A name to redact wherever it appears (repeatable); names introduced by cues such "
    "as 'my name is' / '我叫' and speakers' names are found without it.",
)
@click.option("--show", is_flag=True, help="Print each redacted turn.")
@input_options
def redact(
    inputs: tuple[Path, ...],
    out: Path | None,
    names: tuple[str, ...],
    show: bool,
    **options: object,
) -> None:
    """Redact names and contact details (e-mail, phone, IDs, messenger ids, URLs) in
    English and Chinese transcripts.

    This is the step that `care assess --model ... --allow-remote` runs before any text goes
    to a remote model. Prints what was replaced, by kind, per session; with --out, writes the
    redacted sessions.
    """
    from care.data.io import load_corpus
    from care.data.io.native import write_native
    from care.redaction import redact_session

    corpus = load_corpus(list(inputs), **loader_arguments(**options))  # type: ignore[arg-type]
    console = Console(highlight=False, soft_wrap=True)
    redacted_sessions = []
    total: Counter[str] = Counter()
    for session in corpus:
        redacted, found = redact_session(session, names)
        redacted_sessions.append(redacted)
        counts = Counter(item.kind for item in found)
        total.update(counts)
        summary = ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items()))
        console.print(f"{escape(session.id)}: {summary or 'nothing to redact'}")
        if show:
            changed = {item.turn_index for item in found}
            for turn in redacted.turns:
                if turn.index in changed:
                    console.print(f"  [{turn.index}] {turn.role}: {escape(turn.text)}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        count = write_native(redacted_sessions, out)
        click.echo(f"wrote {count} redacted sessions to {out}", err=True)
    if len(redacted_sessions) > 1:
        summary = ", ".join(f"{kind} {count}" for kind, count in sorted(total.items()))
        console.print(f"total: {summary or 'nothing to redact'}")


COMMANDS = [redact]
