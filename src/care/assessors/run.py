"""The runner: assess these sessions into this sink, for every assessor.

:func:`run` owns what every front-end (the CLI, the server, the Ray engine) used to do for
itself:

* **identity**: each result is keyed by ``(session_id, assessor.result_key(session))``;
* **resume**: a session whose result the sink already holds under the same key is skipped; a
  session finished in the run store is taken from it instead of being assessed again;
* **storing**: every fresh result goes to the run store (if one is given) as it finishes;
* **writing**: every result (fresh or from the store) goes to the sink;
* **progress**: a callback after every session.

Sessions are read lazily from any iterable and assessed in batches, so a corpus is never held
in memory whole. Results come out in input order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from care.assessors.base import Assessor
from care.data.session import Session
from care.identity import ResultKey
from care.results import SessionAssessment


class Sink(Protocol):
    """Where results go (e.g. :class:`care.output.ResultsFile`)."""

    def is_finished(self, session_id: str, key: ResultKey) -> bool:
        """Whether the sink holds this session's result under ``key``."""

    def write(self, record: dict[str, Any]) -> None:
        """Write one result record."""


@dataclass
class RunCounts:
    """What a run did.

    Attributes:
        assessed: Sessions assessed now.
        from_store: Sessions taken from the run store.
        skipped: Sessions already in the sink.
    """

    assessed: int = 0
    from_store: int = 0
    skipped: int = 0

    @property
    def seen(self) -> int:
        """Every session the run went through."""
        return self.assessed + self.from_store + self.skipped


def run(
    assessor: Assessor,
    sessions: Iterable[Session],
    *,
    sink: Sink | None = None,
    store: Any = None,
    batch_size: int = 64,
    counts: RunCounts | None = None,
    on_progress: Callable[[RunCounts], None] | None = None,
    store_incomplete: bool = False,
) -> Iterator[SessionAssessment]:
    """Assess ``sessions`` with ``assessor``, yielding each result that was not already in
    the sink, in input order.

    Args:
        assessor: A fitted assessor.
        sessions: Any iterable of sessions (read lazily).
        sink: Where each result is written; sessions it already holds are skipped.
        store: A :class:`~care.store.RunStore`: finished results are reused from it and
            fresh ones saved to it.
        batch_size: Sessions per batch handed to the assessor.
        counts: Filled in as the run goes (assessed, from the store, skipped).
        on_progress: Called with the counts after every session.
        store_incomplete: Store a result as finished even when some of its items failed in
            the engine (for one-off runs whose sessions are never assessed again, such as the
            server's); by default those are left for a re-run to retry.
    """
    counts = counts if counts is not None else RunCounts()
    pending: list[Session] = []

    def flush() -> Iterator[SessionAssessment]:
        if not pending:
            return
        for assessment in assessor.assess_batch(list(pending), store=store):
            if store is not None and (store_incomplete or assessor.is_complete(assessment)):
                store.put_assessment(assessment, write_items=not assessor.checkpoints_items)
            counts.assessed += 1
            yield _emit(assessment, sink)
            if on_progress is not None:
                on_progress(counts)
        pending.clear()

    for session in sessions:
        key = assessor.result_key(session)
        if sink is not None and sink.is_finished(session.id, key):
            counts.skipped += 1
            if on_progress is not None:
                on_progress(counts)
            continue
        stored = _from_store(assessor, store, session, key)
        if stored is not None:
            yield from flush()
            counts.from_store += 1
            yield _emit(stored, sink)
            if on_progress is not None:
                on_progress(counts)
            continue
        pending.append(session)
        if len(pending) >= batch_size:
            yield from flush()
    yield from flush()


def assess_records(assessor: Assessor, sessions: list[Session]) -> list[dict[str, Any]]:
    """One batch as result records (what an engine worker returns)."""
    return [assessment.to_record() for assessment in assessor.assess_batch(sessions)]


def _from_store(
    assessor: Assessor, store: Any, session: Session, key: ResultKey
) -> SessionAssessment | None:
    if store is None:
        return None
    stored = store.get_assessment(session.id, **key.store_fields())
    return None if stored is None else assessor.reuse(stored)


def _emit(assessment: SessionAssessment, sink: Sink | None) -> SessionAssessment:
    if sink is not None:
        sink.write(assessment.to_record())
    return assessment
