"""``care assess``: rate sessions and explain the ratings."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from care.cli.options import input_options, loader_arguments
from care.errors import ParameterError
from care.results import SessionAssessment


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--model",
    default=None,
    help="Model file from `care train lite`; default: the built-in model for each "
    "session's language (English, Chinese).",
)
@click.option(
    "--instrument",
    default=None,
    help="Instrument to rate on; default (and the only choice for the built-in model): "
    "the one the model was trained for.",
)
@click.option(
    "--cut",
    is_flag=True,
    help="Use the model trained on the first 80% of turns (for sessions not yet ended).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write results as JSON Lines, one session a line, as each is done. Re-running with "
    "the same --out skips sessions already in it.",
)
@click.option("--overwrite", is_flag=True, help="Start --out afresh instead of resuming.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON records instead of text.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing per session.")
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1, 10000))
@input_options
def assess(
    inputs: tuple[Path, ...],
    model: str | None,
    instrument: str | None,
    cut: bool,
    out: Path | None,
    overwrite: bool,
    as_json: bool,
    quiet: bool,
    batch_size: int,
    **options: object,
) -> None:
    """Predict the client's alliance ratings for each session, with evidence.

    Prints, per session, the item and dimension scores and, for each dimension, the turns
    that raised and lowered it most, quoted with their turn numbers.
    """
    from care.assessors.lite import LiteAssessor
    from care.data.io import load_corpus

    corpus = load_corpus(list(inputs), **loader_arguments(**options))  # type: ignore[arg-type]
    assessor = LiteAssessor(model=model, cut=cut)
    sessions = list(corpus)
    done: set[str] = set()
    if out is not None and out.exists() and not overwrite:
        done = _finished_sessions(out)
    todo = [session for session in sessions if session.id not in done]
    _check_instrument(assessor, todo or sessions, instrument)
    console = Console(highlight=False, soft_wrap=True)
    error_console = Console(stderr=True)
    if done:
        error_console.print(
            f"{len(sessions) - len(todo)} of {len(sessions)} sessions already in {out}; "
            "assessing the rest (--overwrite starts afresh)"
        )
    note_shown = False
    progress = Progress(
        TextColumn("assessing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=error_console,
        transient=True,
        disable=len(todo) < 2 or not error_console.is_terminal,
    )
    with contextlib.ExitStack() as stack:
        handle = None
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            mode = "w" if overwrite or not out.exists() else "a"
            handle = stack.enter_context(open(out, mode, encoding="utf-8"))
        with progress:
            task = progress.add_task("assess", total=len(todo))
            for assessment in assessor.iter_assess(todo, batch_size=batch_size):
                record = assessment.to_record()
                if handle is not None:
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                    handle.flush()
                if as_json:
                    click.echo(json.dumps(record, ensure_ascii=False))
                elif not quiet:
                    if not note_shown and assessment.meta.get("note"):
                        console.print(f"[yellow]Note:[/yellow] {escape(assessment.meta['note'])}")
                        console.print()
                        note_shown = True
                    print_assessment(console, assessment, corpus[assessment.session_id].turns)
                progress.advance(task)
    if out is not None:
        error_console.print(f"wrote {len(todo)} sessions to {out}")


def _finished_sessions(path: Path) -> set[str]:
    """Session ids already written to a results file (a truncated last line is ignored)."""
    done = set()
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().split("\n")
    complete = []
    for line in lines:
        if not line.strip():
            continue
        try:
            done.add(json.loads(line)["session_id"])
            complete.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    # Rewrite without any partial line, so appending keeps one record per line.
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in complete))
    return done


def _check_instrument(assessor: object, sessions: list, instrument: str | None) -> None:
    if instrument is None or not sessions:
        return
    from care.data.language import session_language
    from care.instruments import get_instrument

    wanted = get_instrument(instrument).id
    first = sessions[0]
    language = first.language or session_language(first) or "en"
    trained = assessor.predictor(language).model.config.instrument  # type: ignore[attr-defined]
    if wanted != trained:
        raise ParameterError(
            f"the model predicts '{trained}', not '{wanted}'",
            field="--instrument",
            fix=f"train a model for it (care train lite --data RATED_SESSIONS --instrument "
            f"{wanted} --out model.npz) and pass --model model.npz",
        )


def print_assessment(console: Console, assessment: SessionAssessment, turns: list) -> None:
    """A readable summary of one assessment: scores, rationales, items."""
    from care.instruments import get_instrument

    instrument = get_instrument(assessment.instrument)
    scores = assessment.dimension_scores(instrument)
    total = assessment.total_score(instrument)
    scale = instrument.scale
    console.rule(
        f"[bold]{escape(assessment.session_id)}[/bold] "
        f"({assessment.language}, {escape(assessment.model)})"
    )
    width = 20
    for name, value in [*scores.items(), ("total", total)]:
        filled = round((value - scale.min) / (scale.max - scale.min) * width)
        bar = "█" * filled + "░" * (width - filled)
        console.print(f"  {name:<6} {value:5.2f} {bar} ({scale.min}-{scale.max})")
    for name in scores:
        if name in assessment.rationales:
            console.print(f"  [bold]{name}[/bold]: {escape(assessment.rationales[name])}")
    table = Table(show_header=False, box=None, padding=(0, 1))
    per_row = 3
    for _ in range(per_row):
        table.add_column(style="dim")
        table.add_column(justify="right")
    cells = [
        (escape(item_id), "failed" if rating.value is None else f"{rating.value:.2f}")
        for item_id, rating in assessment.items.items()
    ]
    for start in range(0, len(cells), per_row):
        row = [text for cell in cells[start : start + per_row] for text in cell]
        table.add_row(*row, *[""] * (2 * per_row - len(row)))
    console.print(table)
    console.print()


COMMANDS = [assess]
