"""``care assess --engine ray``: the runner's work on a Ray cluster, through Ray Data.

The driver (the machine ``care assess`` runs on) plans the inputs and opens the output; the
cluster does the reading and the assessing:

1. the inputs become one lazy Ray Dataset (:mod:`care.data.io.ray_dataset`: JSON Lines
   streamed a block of lines at a time, Parquet by row groups, other formats a file a row);
2. ``map_batches`` runs a fixed pool of ``workers`` actors (:class:`BatchAssessor`). Each
   actor builds the assessor once with :func:`~care.assessors.registry.get_assessor`, so a
   model is loaded once per actor, not per batch. For each batch it parses the sessions,
   leaves out those the output already holds under the same
   :class:`~care.identity.ResultKey` (the finished keys are shipped to the actors once), and
   turns the rest into result records with :func:`~care.assessors.run.assess_records`, the
   local runner's own batch step. A session whose assessment raises becomes a failure row
   (its id and the kind of error, never transcript text) and the run goes on;
3. the driver streams the rows back in input order (``iter_batches``), checks each skipped
   session against the output with the output's own ``is_finished`` (so a session finished
   under another key is refused exactly as the local engine refuses it), writes each record
   through the same output (:class:`~care.output.ResultsFile` or
   :class:`~care.output.parquet_results.ParquetResults`) and reports progress.

So the records are the local engine's, byte for byte, and a re-run resumes as the local
engine does. The run store (``--store``) is a SQLite file on the driver's disk, which the
cluster's workers cannot share: it is refused with this engine.

Ray's usage statistics are switched off for a cluster this module starts; a cluster started
with ``ray start`` should be started with ``--disable-usage-stats``.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from care.assessors.run import RunCounts, Sink
from care.data.io.ray_dataset import ray_module, session_dataset, sessions_of_rows
from care.data.io.stream import SessionSource, plan_sources
from care.errors import CareError, DataError, Problem
from care.identity import ResultKey
from care.results import SessionAssessment

#: Output columns of the actors' batches.
KINDS = ("result", "skipped", "failure", "problem")


@dataclass
class SessionFailure:
    """A session the run could not assess (the run went on without it).

    Attributes:
        session_id: The session.
        reason: The error's kind and, for a user's error, its message (never transcript text).
    """

    session_id: str
    reason: str


@dataclass
class RayRunReport:
    """What a Ray run found besides its results: failed sessions and input problems."""

    failures: list[SessionFailure] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def failure_reason(error: BaseException) -> str:
    """What may be said about an error without echoing data: a care error's message (which
    names fields and files, not text), else the exception's type and where it was raised."""
    if isinstance(error, CareError):
        return str(error)
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(error).__name__}{where}"


class BatchAssessor:
    """A Ray Data actor: builds the assessor once, then turns batches of input rows into
    result, skipped, failure and problem rows (see the module docstring)."""

    def __init__(
        self,
        spec: str | None,
        options: dict[str, Any],
        finished: Any,
        sources: dict[str, SessionSource],
        read_options: dict[str, Any],
        intervals: tuple[str | None, float] | None = None,
    ) -> None:
        from care.assessors.registry import get_assessor

        ray = ray_module()
        self.assessor = get_assessor(spec, **options)
        if intervals is not None:  # as the local engine wraps it (care.assessors.calibrated)
            from care.assessors.calibrated import with_intervals
            from care.assessors.trust import TrustModel

            calibration, level = intervals
            trust = None if calibration is None else TrustModel.load(calibration)
            self.assessor = with_intervals(self.assessor, trust, level)
        self.finished: dict[str, ResultKey] = (
            ray.get(finished) if isinstance(finished, ray.ObjectRef) else finished
        )
        self.sources = sources
        self.read_options = read_options

    def __call__(self, batch: Any) -> dict[str, list[Any]]:
        rows = batch.to_pylist() if hasattr(batch, "to_pylist") else _rows_of(batch)
        out: dict[str, list[Any]] = {"kind": [], "session_id": [], "payload": []}

        def emit(kind: str, session_id: str, payload: Any) -> None:
            out["kind"].append(kind)
            out["session_id"].append(session_id)
            out["payload"].append(json.dumps(payload, ensure_ascii=False))

        todo = []
        for session, problems in sessions_of_rows(rows, self.sources, **self.read_options):
            if problems:
                for problem in problems:
                    emit("problem", "" if session is None else session.id, problem.__dict__)
                continue
            if session is None:
                continue
            try:
                key = self.assessor.result_key(session)
            except Exception as error:
                emit("failure", session.id, failure_reason(error))
                continue
            if session.id in self.finished:
                emit("skipped", session.id, key.as_dict())
                continue
            todo.append(session)
        for kind, session_id, payload in self._assess(todo):
            emit(kind, session_id, payload)
        return out

    def _assess(self, sessions: list) -> Iterator[tuple[str, str, Any]]:
        from care.assessors.run import assess_records

        if not sessions:
            return
        try:
            records = assess_records(self.assessor, sessions)
        except Exception:
            records = None
        if records is not None:
            for record in records:
                yield "result", str(record["session_id"]), record
            return
        for session in sessions:  # find the session that failed; keep the others
            try:
                (record,) = assess_records(self.assessor, [session])
            except Exception as error:
                yield "failure", session.id, failure_reason(error)
            else:
                yield "result", session.id, record


def _rows_of(batch: dict[str, Any]) -> list[dict[str, Any]]:
    names = list(batch)
    count = len(batch[names[0]]) if names else 0
    return [{name: _plain(batch[name][i]) for name in names} for i in range(count)]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") and getattr(value, "ndim", 1) == 0 else value


def connect(address: str | None, workers: int | None) -> bool:
    """Join the Ray cluster at ``address`` (``auto``, ``ray://host:port``), or start a local
    one when None (with ``workers`` CPUs, default all). Returns whether this call started
    Ray (and so should shut it down). Usage statistics are off for a cluster started here,
    and its workers run at normal priority (``RAY_worker_niceness``, default 0 here)."""
    ray = ray_module()
    if ray.is_initialized():
        return False
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    # Ray starts its workers at niceness 15, which starves them behind any other work on a
    # busy machine; here the workers are the work.
    os.environ.setdefault("RAY_worker_niceness", "0")
    arguments: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": "ERROR",
    }
    if address is None:
        if workers is not None:
            arguments["num_cpus"] = workers
    else:
        arguments["address"] = address
    try:
        ray.init(**arguments)
    except ConnectionError as error:
        raise CareError(
            f"cannot reach the Ray cluster at {address!r} ({type(error).__name__})",
            field="--address",
            fix="start it with `ray start --head --disable-usage-stats`, or leave --address "
            "out to run on this machine",
        ) from None
    return True


def configure_data(ray: Any) -> None:
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True
    context.enable_progress_bars = False
    context.print_on_execution_start = False


def run_on_ray(
    inputs: Sequence[str | Path],
    *,
    spec: str | None = None,
    options: dict[str, Any] | None = None,
    sink: Sink | None = None,
    finished: dict[str, ResultKey] | None = None,
    address: str | None = None,
    workers: int | None = None,
    batch_size: int = 64,
    read_options: dict[str, Any] | None = None,
    intervals: tuple[str | None, float] | None = None,
    counts: RunCounts | None = None,
    report: RayRunReport | None = None,
    on_progress: Callable[[RunCounts], None] | None = None,
) -> Iterator[SessionAssessment]:
    """Assess the sessions of ``inputs`` on Ray, writing each result to ``sink``; yields the
    fresh results in input order.

    Args:
        inputs: Session files, folders or glob patterns (read lazily on the cluster).
        spec: The model, as for :func:`~care.assessors.registry.get_assessor`.
        options: The assessor's options (as for ``get_assessor``).
        sink: The output; sessions it holds under the same key are skipped.
        finished: Session id to the key of its result in the output (the sink's
            ``finished()``); shipped to the workers so they skip those sessions.
        address: The Ray cluster (``auto``, ``ray://...``); None starts one on this machine.
        workers: Actors in the pool (each builds the assessor once); default: the cluster's
            CPUs.
        batch_size: Sessions per batch handed to an actor.
        read_options: How to read the inputs: ``format``, ``language``, ``encoding``,
            ``merge_consecutive`` and the format options (as for ``load_corpus``).
        intervals: ``(calibration file or None, level)``: wrap the assessor to give
            prediction intervals, as ``care assess --level/--calibration`` does locally.
        counts: Filled in as the run goes.
        report: Filled with the failed sessions and the input problems.
        on_progress: Called with the counts after every session.

    Raises:
        DataError: An input cannot be found or its format told (before any work).
        MissingDependencyError: Ray is not installed (``pip install 'care-alliance[ray]'``).
    """
    ray = ray_module()
    read_options = dict(read_options or {})
    format_name = read_options.pop("format", None)
    sources = plan_sources(inputs, format=format_name, encoding=read_options.get("encoding"))
    started = connect(address, workers)
    counts = counts if counts is not None else RunCounts()
    report = report if report is not None else RayRunReport()
    try:
        configure_data(ray)
        pool = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        parsed = {
            "language": read_options.pop("language", None),
            "encoding": read_options.pop("encoding", None),
            "merge_consecutive": read_options.pop("merge_consecutive", False),
            "options": read_options,
        }
        dataset = session_dataset(sources).map_batches(
            BatchAssessor,
            batch_size=batch_size,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=pool),
            num_cpus=1,
            fn_constructor_kwargs={
                "spec": spec,
                "options": dict(options or {}),
                "finished": ray.put(dict(finished or {})),
                "sources": {str(source.path): source for source in sources},
                "read_options": parsed,
                "intervals": intervals,
            },
        )
        for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
            for row in batch.to_pylist():
                assessment = _take(row, sink, counts, report)
                if row["kind"] != "problem" and on_progress is not None:
                    on_progress(counts)
                if assessment is not None:
                    yield assessment
    finally:
        if started:
            ray.shutdown()


def _take(
    row: dict[str, Any], sink: Sink | None, counts: RunCounts, report: RayRunReport
) -> SessionAssessment | None:
    payload = json.loads(row["payload"])
    kind = row["kind"]
    if kind == "problem":
        report.problems.append(Problem(**payload))
        return None
    if kind == "failure":
        report.failures.append(SessionFailure(row["session_id"], payload))
        return None
    if kind == "skipped":
        key = ResultKey(**payload)
        if sink is not None and sink.is_finished(row["session_id"], key):
            counts.skipped += 1
            return None
        raise DataError(  # pragma: no cover - the workers skip only what the sink holds
            f"session '{row['session_id']}' was skipped but is not in the output",
            fix="re-run the command",
        )
    if sink is not None:
        sink.write(payload)
    counts.assessed += 1
    return SessionAssessment.from_record(payload)
