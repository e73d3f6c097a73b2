"""How ``care assess`` reads its sessions, opens its output and picks its engine.

* ``--engine local`` streams the sessions (:func:`~care.data.io.stream.iter_sessions`) into
  the runner, so a corpus is never held whole;
* ``--engine ray`` hands the inputs to :mod:`care.assessors.ray_engine` (the built-in model
  and language models in actors) or :mod:`care.assessors.ray_llm` (``openai/...`` and
  ``vllm/...`` through Ray Data's LLM processors when they generate; likelihood scoring runs
  in the actors, whose client reads the option probabilities);
* ``--out`` is a JSON Lines file or a Parquet results folder, by ``--out-format`` or the name.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import click

from care.data.session import Session
from care.errors import DataError, ParameterError

OUTPUT_FORMATS = ("jsonl", "parquet")


def engine_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The options that choose where ``care assess`` runs and what it writes."""
    options = [
        click.option(
            "--engine",
            type=click.Choice(["local", "ray"]),
            default="local",
            show_default=True,
            help="local: this process. ray: a Ray cluster (a local one, or --address), "
            "through Ray Data (pip install 'care-alliance[ray]'); see docs/scale.md.",
        ),
        click.option(
            "--address",
            default=None,
            help="--engine ray: the cluster (auto, or ray://HOST:10001); default: start one "
            "on this machine.",
        ),
        click.option(
            "--workers",
            type=click.IntRange(1, 100000),
            default=None,
            help="--engine ray: actors (each loads the model once; default: the cluster's "
            "CPUs), concurrent requests (openai/...), or vLLM replicas (vllm/...).",
        ),
        click.option(
            "--tensor-parallel-size",
            type=click.IntRange(1, 64),
            default=1,
            show_default=True,
            help="--engine ray with vllm/...: GPUs per vLLM replica.",
        ),
        click.option(
            "--out-format",
            type=click.Choice(OUTPUT_FORMATS),
            default=None,
            help="Format of --out: jsonl (one result a line) or parquet (a folder of parts, "
            "see docs/parquet.md); default: parquet when the name ends in .parquet.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def open_output(
    out: Path, out_format: str | None, *, overwrite: bool, inputs: Iterable[Path]
) -> Any:
    """The results output for ``--out`` (not yet opened)."""
    chosen = out_format or ("parquet" if out.name.lower().endswith(".parquet") else "jsonl")
    if chosen == "parquet":
        from care.output.parquet_results import ParquetResults

        return ParquetResults(out, overwrite=overwrite, inputs=inputs)
    from care.output import ResultsFile

    return ResultsFile(out, overwrite=overwrite, inputs=inputs)


def check_engine(
    engine: str,
    *,
    address: str | None,
    workers: int | None,
    store: Path | None,
    tensor_parallel_size: int,
) -> None:
    """Refuse option combinations that cannot work, before any work."""
    if engine == "ray":
        if store is not None:
            raise ParameterError(
                "--store is a file on this machine, which a Ray cluster's workers cannot share",
                field="--store",
                fix="write results with --out (a re-run resumes from it), or use --engine local",
            )
        return
    for name, value in (
        ("--address", address),
        ("--workers", workers),
        ("--tensor-parallel-size", tensor_parallel_size if tensor_parallel_size != 1 else None),
    ):
        if value is not None:
            raise ParameterError(
                f"{name} is for --engine ray",
                field=name,
                fix="add --engine ray, or leave the option out",
            )


def primed(items: Iterator[Session], count: int) -> Iterator[Session]:
    """``items`` with the first ``count`` already read (so that their errors are raised
    now, before any output is opened)."""
    first = list(itertools.islice(items, count))
    return itertools.chain(first, items)


class Transcripts:
    """The turns of the sessions passing through a local run, kept only until their result
    is shown (results come in input order, so everything before a shown session is done)."""

    def __init__(self) -> None:
        self._turns: OrderedDict[str, list] = OrderedDict()

    def remember(self, sessions: Iterable[Session]) -> Iterator[Session]:
        for session in sessions:
            self._turns[session.id] = session.turns
            yield session

    def take(self, session_id: str) -> list:
        while self._turns:
            found, turns = self._turns.popitem(last=False)
            if found == session_id:
                return turns
        return []


def local_sessions(
    inputs: list[Path],
    loader_arguments: dict[str, Any],
    assessor: Any,
    *,
    llm: bool,
    instrument: str | None,
) -> Iterator[Session]:
    """The inputs' sessions, read lazily and checked as the local engine needs: the first
    session decides the remote gate (language models) or the instrument (built-in model),
    and each language's model is loaded before its first session is assessed."""
    from care.data.io.stream import iter_sessions

    stream = iter_sessions(inputs, **loader_arguments)
    first = list(itertools.islice(stream, 1))
    if not first:
        return
    if llm:
        assessor.client.check()  # refuse a remote model before any work
        yield from itertools.chain(first, stream)
        return
    assessor.check_instrument(first, instrument)
    for session in itertools.chain(first, stream):
        assessor.check_languages([session])
        yield session


def ray_results(
    inputs: list[Path],
    loader_arguments: dict[str, Any],
    *,
    model: str | None,
    assessor_options: dict[str, Any],
    sink: Any,
    address: str | None,
    workers: int | None,
    batch_size: int,
    tensor_parallel_size: int,
    intervals: tuple[str | None, float],
    counts: Any,
    report: Any,
    on_progress: Callable[[Any], None],
) -> Iterator[Any]:
    """The results of ``--engine ray`` (see the module docstring)."""
    from care.assessors.ray_llm import processor_kind, run_llm_on_ray

    finished = sink.finished() if sink is not None else {}
    common = {
        "options": assessor_options,
        "sink": sink,
        "finished": finished,
        "address": address,
        "workers": workers,
        "read_options": loader_arguments,
        "counts": counts,
        "report": report,
        "on_progress": on_progress,
    }
    # Ray Data's LLM processors generate; likelihood scoring reads the model's probabilities
    # over the options, which the assessor's own client does inside the actor pool.
    generating = assessor_options.get("scoring", "generate") == "generate"
    if generating and processor_kind(model) is not None:
        assert model is not None
        if intervals[0] is not None:
            raise ParameterError(
                "--calibration is not applied on Ray Data's LLM processors yet",
                field="--calibration",
                fix="use --engine local for calibrated intervals of a language model",
            )
        return run_llm_on_ray(
            inputs, spec=model, tensor_parallel_size=tensor_parallel_size, **common
        )
    from care.assessors.ray_engine import run_on_ray

    return run_on_ray(inputs, spec=model, batch_size=batch_size, intervals=intervals, **common)


def report_ray_run(report: Any, console: Any) -> None:
    """Print the sessions a Ray run could not assess; raise the input problems it found
    (exit 2, after every result was written)."""
    from rich.markup import escape

    if report.failures:
        console.print(
            f"{len(report.failures)} sessions could not be assessed (re-running retries them):"
        )
        for failure in report.failures[:10]:
            console.print(f"  {escape(failure.session_id)}: {escape(failure.reason)}")
        if len(report.failures) > 10:
            console.print(f"  ... and {len(report.failures) - 10} more")
    if report.problems:
        raise DataError.from_problems(report.problems)
