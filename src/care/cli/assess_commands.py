"""``care assess``: rate sessions and explain the ratings."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    "session's language (English, Chinese). Or BACKEND/MODEL to rate with a language model "
    "as CARE does: transformers/PATH-OR-ID, openai/MODEL (with --base-url), vllm/PATH-OR-ID, "
    "llamacpp/GGUF-PATH, or a provider a plugin adds. transformers/gemma3-270m is a small "
    "demo model (a base model, far too small for real assessment).",
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
@click.option(
    "--store",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Run store (SQLite file): every result is written to it as it finishes; re-running "
    "the same command skips what is done, even after the run was killed.",
)
@click.option(
    "--mode",
    type=click.Choice(["per-item", "one-pass", "naive"]),
    default="per-item",
    show_default=True,
    help="LLM models: per-item (CARE's prompt per item, transcript as a shared prefix the "
    "engine computes once), one-pass (all items in one answer) or naive (per-item without "
    "prefix reuse).",
)
@click.option(
    "--answer-format",
    type=click.Choice(["lines", "json"]),
    default="lines",
    show_default=True,
    help="LLM models: CARE's two-line answer, or JSON (constrained where the engine can).",
)
@click.option(
    "--base-url",
    default=None,
    help="openai/MODEL: the server's URL, e.g. http://127.0.0.1:8000/v1 (vLLM, llama.cpp "
    "server, Ollama). Default: the OpenAI API (remote).",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    envvar="CARE_ALLOW_REMOTE",
    help="Allow sending transcripts to a model that is not on this machine (also: "
    "CARE_ALLOW_REMOTE=1). Names and contact details are redacted first (see `care redact`).",
)
@click.option(
    "--redact", is_flag=True, help="LLM models: redact names and contact details even locally."
)
@click.option("--adapter", default=None, help="transformers/...: a PEFT adapter directory.")
@click.option(
    "--max-new-tokens",
    default=256,
    show_default=True,
    type=click.IntRange(1, 100000),
    help="LLM models: most tokens per answer.",
)
@click.option(
    "--max-reasks",
    default=2,
    show_default=True,
    type=click.IntRange(0, 10),
    help="LLM models: how often an unreadable answer is asked again before it is stored as "
    "a failure.",
)
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
    store: Path | None,
    mode: str,
    answer_format: str,
    base_url: str | None,
    allow_remote: bool,
    redact: bool,
    adapter: str | None,
    max_new_tokens: int,
    max_reasks: int,
    **options: object,
) -> None:
    """Predict the client's alliance ratings for each session, with evidence.

    Prints, per session, the item and dimension scores and, for each dimension, the turns
    that raised and lowered it most, quoted with their turn numbers.

    With --model BACKEND/MODEL, a language model rates each item as the client, as CARE does,
    and explains with quotes; each quote is checked against the transcript.
    """
    from care.backends.registry import is_backend_spec
    from care.data.io import load_corpus

    llm = is_backend_spec(model)
    if not llm:
        for name, value in (
            ("--base-url", base_url),
            ("--adapter", adapter),
            ("--allow-remote", allow_remote),
        ):
            if value:
                raise ParameterError(
                    f"{name} is for language models, and --model "
                    f"{model or '(built-in)'} is not one",
                    field=name,
                    fix="give --model BACKEND/MODEL (e.g. openai/MODEL), or leave the option out",
                )
    elif cut:
        raise ParameterError(
            "--cut chooses between the built-in models, not language models",
            field="--cut",
            fix="leave --cut out with --model BACKEND/MODEL",
        )
    corpus = load_corpus(list(inputs), **loader_arguments(**options))  # type: ignore[arg-type]
    sessions = list(corpus)
    done: set[str] = set()
    if out is not None and out.exists() and not overwrite:
        done = _finished_sessions(out)
    todo = [session for session in sessions if session.id not in done]
    run_store = None
    if store is not None:
        from care.store import RunStore

        run_store = RunStore(store)
    results: Any
    if llm:
        from care.assessors.llm import LLMAssessor

        backend_options: dict[str, Any] = {}
        if base_url:
            backend_options["base_url"] = base_url
        if adapter:
            backend_options["adapter"] = adapter
        assessor: Any = LLMAssessor(
            model,
            instrument=instrument,
            mode=mode,
            answer_format=answer_format,
            max_new_tokens=max_new_tokens,
            max_reasks=max_reasks,
            store=run_store,
            allow_remote=allow_remote,
            redact=True if redact else None,
            backend_options=backend_options,
        ).fit(corpus)
        if todo:
            assessor.backend  # noqa: B018 - refuse a remote model before any work
        results = assessor.iter_assess(todo, batch_size=1)
    else:
        from care.assessors.lite import LiteAssessor

        assessor = LiteAssessor(model=model, cut=cut)
        assessor.check_languages(todo)
        _check_instrument(assessor, todo or sessions, instrument)
        results = _lite_with_store(assessor, todo, batch_size, run_store)
    failed: list[tuple[str, str, str]] = []
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
            for assessment in results:
                failed.extend(
                    (assessment.session_id, rating.item_id, rating.error or "no value")
                    for rating in assessment.failures()
                )
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
    if run_store is not None:
        run_store.close()
    if out is not None:
        error_console.print(f"wrote {len(todo)} sessions to {out}")
    if failed:
        error_console.print(
            f"{len(failed)} item ratings failed (kept with their raw output and reason"
            f"{' in ' + str(store) if store else ''}; engine errors are retried by re-running):"
        )
        for session_id, item_id, reason in failed[:10]:
            error_console.print(f"  {escape(session_id)} {escape(item_id)}: {escape(reason)}")
        if len(failed) > 10:
            error_console.print(f"  ... and {len(failed) - 10} more")


def _lite_with_store(
    assessor: Any, sessions: list, batch_size: int, store: Any
) -> Iterator[SessionAssessment]:
    """The built-in assessor's results in the order of ``sessions``, reusing and filling
    the run store."""
    if store is None:
        yield from assessor.iter_assess(sessions, batch_size=batch_size)
        return
    from care.data.language import session_language

    def assess(fresh: list) -> Iterator[SessionAssessment]:
        for assessment in assessor.iter_assess(fresh, batch_size=batch_size):
            store.put_assessment(assessment)
            yield assessment

    fresh: list = []
    for session in sessions:
        language = session.language or session_language(session) or "en"
        model = assessor.predictor(language).model
        stored = store.get_assessment(
            session.id,
            instrument=model.config.instrument,
            model=model.name,
            prompt_version=model.release,
        )
        if stored is None:
            fresh.append(session)
            continue
        yield from assess(fresh)
        fresh = []
        yield stored
    yield from assess(fresh)


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
        if value != value:  # NaN: every item of the dimension failed
            console.print(f"  {name:<6}   n/a (no item could be rated)")
            continue
        filled = round((value - scale.min) / (scale.max - scale.min) * width)
        bar = "█" * filled + "░" * (width - filled)
        console.print(f"  {name:<6} {value:5.2f} {bar} ({scale.min}-{scale.max})")
    for name in scores:
        if name in assessment.rationales:
            console.print(f"  [bold]{name}[/bold]: {escape(assessment.rationales[name])}")
    table = Table(show_header=False, box=None, padding=(0, 1))
    per_row = 2 if console.width >= 100 else 1
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
    for item_id, rating in assessment.items.items():
        if rating.rationale:
            found = sum(piece.verbatim for piece in rating.evidence)
            quotes = f" [dim]({found}/{len(rating.evidence)} quotes verbatim)[/dim]"
            text = " ".join(rating.rationale.split())
            console.print(f"  [bold]{escape(item_id)}[/bold]: {escape(text[:300])}{quotes}")
    console.print()


COMMANDS = [assess]
