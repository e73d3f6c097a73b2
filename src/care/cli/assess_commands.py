"""``care assess``: rate sessions and explain the ratings."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from care.cli.assess_engine import engine_options
from care.cli.assess_view import print_assessment
from care.cli.options import SCORING_OPTION, input_options, loader_arguments
from care.cli.paths import RESULTS_OUTPUT


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--model",
    default=None,
    help="Model file from `care train lite`; default: the built-in model for each "
    "session's language (English, Chinese). Or BACKEND/MODEL to rate with a language model "
    "as CARE does: transformers/PATH-OR-ID, openai/MODEL (with --base-url), vllm/PATH-OR-ID, "
    "llamacpp/GGUF-PATH, or a provider a plugin adds. Demo models (tiny, for trying the "
    "pipeline, far too small for real assessment): transformers/ or llamacpp/ + "
    "smollm2-135m-instruct (a chat model) or gemma3-270m (a base model).",
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
    type=RESULTS_OUTPUT,
    default=None,
    help="Write results as each is done: JSON Lines, one session a line, or Parquet (a "
    "name ending in .parquet, or --out-format parquet). Re-running with the same --out skips "
    "sessions already in it.",
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
@SCORING_OPTION
@click.option(
    "--rationales",
    is_flag=True,
    help="With --scoring likelihood: also generate each item's reason after the chosen "
    "option (quotes checked as in generate mode).",
)
@click.option(
    "--n-ctx",
    type=click.IntRange(256, 10_000_000),
    default=None,
    help="llamacpp/ and vllm/ models: the context window in tokens (default: the model's "
    "own trained context).",
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
@click.option(
    "--level",
    default=0.9,
    show_default=True,
    type=click.FloatRange(0.5, 0.999),
    help="Level of the prediction intervals on every score.",
)
@click.option(
    "--calibration",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Intervals, percentiles and domain check from `care calibrate` (needed for "
    "language models; the built-in models carry their own).",
)
@engine_options
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
    scoring: str,
    rationales: bool,
    n_ctx: int | None,
    answer_format: str,
    base_url: str | None,
    allow_remote: bool,
    redact: bool,
    adapter: str | None,
    max_new_tokens: int,
    max_reasks: int,
    level: float,
    calibration: Path | None,
    engine: str,
    address: str | None,
    workers: int | None,
    tensor_parallel_size: int,
    out_format: str | None,
    **options: object,
) -> None:
    """Predict the client's alliance ratings for each session, with evidence.

    Prints, per session, the item and dimension scores and, for each dimension, the turns
    that raised and lowered it most, quoted with their turn numbers.

    With --model BACKEND/MODEL, a language model rates each item as the client, as CARE does,
    and explains with quotes; each quote is checked against the transcript.

    Sessions are read as they are assessed, so a corpus of any size fits in memory; with
    --engine ray the work runs on a Ray cluster (docs/scale.md).
    """
    from care.assessors.calibrated import with_intervals
    from care.assessors.registry import get_assessor, is_llm_spec
    from care.assessors.run import RunCounts, run
    from care.assessors.trust import TrustModel
    from care.cli import assess_engine

    llm = is_llm_spec(model)
    backend_options = {
        name: value for name, value in (("base_url", base_url), ("adapter", adapter)) if value
    }
    if n_ctx is not None:
        backend_options |= _context_option(model, n_ctx)
    shared: dict[str, Any] = {"instrument": instrument}
    if llm:
        shared |= {
            "mode": mode,
            "scoring": scoring,
            "rationales": rationales,
            "answer_format": answer_format,
            "max_new_tokens": max_new_tokens,
            "max_reasks": max_reasks,
            "redact": True if redact else None,
        }
    assessor_options = {
        "cut": cut,
        "allow_remote": allow_remote,
        "backend_options": backend_options or None,
        **shared,
    }
    assessor: Any = get_assessor(model, **assessor_options)
    assess_engine.check_engine(
        engine,
        address=address,
        workers=workers,
        store=store,
        tensor_parallel_size=tensor_parallel_size,
    )
    trust = None if calibration is None else TrustModel.load(calibration)
    assessor = with_intervals(assessor, trust, level)
    reading = loader_arguments(**options)  # type: ignore[arg-type]
    transcripts = assess_engine.Transcripts()
    run_store = None
    if store is not None:
        from care.store import RunStore

        run_store = RunStore(store)
    console = Console(highlight=False, soft_wrap=True)
    error_console = Console(stderr=True)
    counts = RunCounts()
    failed: list[tuple[str, str, str]] = []
    note_shown = False
    progress = Progress(
        TextColumn("assessing"),
        BarColumn(),
        TextColumn("{task.completed} sessions"),
        TimeElapsedColumn(),
        console=error_console,
        transient=True,
        disable=not error_console.is_terminal,
    )
    ray_report = None
    sessions: Any = ()
    if engine == "local":
        # the first batch is read (and the inputs' format checked) before the output is
        # opened: input that cannot be read at all leaves nothing behind
        sessions = assess_engine.primed(
            assess_engine.local_sessions(
                list(inputs), reading, assessor, llm=llm, instrument=instrument
            ),
            batch_size,
        )
    with contextlib.ExitStack() as stack:
        if run_store is not None:
            stack.callback(run_store.close)
        sink = None
        if out is not None:
            sink = stack.enter_context(
                assess_engine.open_output(out, out_format, overwrite=overwrite, inputs=inputs)
            )
        with progress:
            task = progress.add_task("assess", total=None)

            def advance(done: RunCounts) -> None:
                progress.update(task, completed=done.seen)

            if engine == "ray":
                from care.assessors.ray_engine import RayRunReport

                ray_report = RayRunReport()
                results = assess_engine.ray_results(
                    list(inputs),
                    reading,
                    model=model,
                    assessor_options=assessor_options,
                    sink=sink,
                    address=address,
                    workers=workers,
                    batch_size=batch_size,
                    tensor_parallel_size=tensor_parallel_size,
                    intervals=(None if calibration is None else str(calibration), level),
                    counts=counts,
                    report=ray_report,
                    on_progress=advance,
                )
            else:
                results = run(
                    assessor,
                    transcripts.remember(sessions) if not (quiet or as_json) else sessions,
                    sink=sink,
                    store=run_store,
                    batch_size=1 if llm else batch_size,
                    counts=counts,
                    on_progress=advance,
                )
            for assessment in results:
                for warning in assessment.meta.get("warnings", []):
                    error_console.print(f"warning: {escape(warning)}", soft_wrap=True)
                failed.extend(
                    (assessment.session_id, rating.item_id, rating.error or "no value")
                    for rating in assessment.failures()
                )
                if as_json:
                    click.echo(json.dumps(assessment.to_record(), ensure_ascii=False))
                elif not quiet:
                    if not note_shown and assessment.meta.get("note"):
                        console.print(f"[yellow]Note:[/yellow] {escape(assessment.meta['note'])}")
                        console.print()
                        note_shown = True
                    print_assessment(console, assessment, transcripts.take(assessment.session_id))
    if counts.skipped:
        error_console.print(
            f"{counts.skipped} of {counts.seen} sessions already in {out}; assessed the rest "
            "(--overwrite starts afresh)"
        )
    if out is not None:
        error_console.print(f"wrote {counts.assessed + counts.from_store} sessions to {out}")
    if failed:
        error_console.print(
            f"{len(failed)} item ratings failed (kept with their raw output and reason"
            f"{' in ' + str(store) if store else ''}; engine errors are retried by re-running):"
        )
        for session_id, item_id, reason in failed[:10]:
            error_console.print(f"  {escape(session_id)} {escape(item_id)}: {escape(reason)}")
        if len(failed) > 10:
            error_console.print(f"  ... and {len(failed) - 10} more")
    if ray_report is not None:
        assess_engine.report_ray_run(ray_report, error_console)


COMMANDS = [assess]


def _context_option(model: str | None, n_ctx: int) -> dict[str, int]:
    """--n-ctx as the backend's own option (llama.cpp's n_ctx, vLLM's max_model_len)."""
    from care.errors import ParameterError

    provider = (model or "").partition("/")[0]
    names = {"llamacpp": "n_ctx", "vllm": "max_model_len"}
    if provider not in names:
        raise ParameterError(
            "--n-ctx sets the context of llamacpp/ and vllm/ models, not of "
            f"{model or 'the built-in model'}",
            field="--n-ctx",
            fix="leave --n-ctx out (transformers models use their trained context)",
        )
    return {names[provider]: n_ctx}
