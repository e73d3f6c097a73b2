"""The assessor contract, modelled on scikit-learn's estimators.

- ``__init__`` only stores parameters.
- ``fit(corpus, instrument=None, rater="client") -> self`` learns from the corpus's ratings
  (a no-op for a prompted LLM) and sets attributes ending in ``_``.
- ``iter_assess(corpus)`` yields one :class:`~care.results.SessionAssessment` per session as
  soon as it is ready; ``assess(corpus)`` collects them into
  :class:`~care.results.Assessments`.
- Using an assessor that needs fitting before ``fit`` raises
  :class:`~care.errors.NotFittedError`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from care.data.corpus import Corpus
from care.data.session import Session
from care.errors import DataError, NotFittedError
from care.identity import ResultKey
from care.instruments import Instrument, get_instrument
from care.results import Assessments, SessionAssessment


class Assessor(ABC):
    """Base class of every assessor (built-in, baseline or LLM)."""

    #: Short name recorded with every result.
    name: str = "assessor"
    #: Whether :meth:`fit` must be called before :meth:`assess`.
    requires_fit: bool = True

    #: Whether the assessor saves each item to the run store as it is rated (so the runner
    #: stores only the session-level record once the session is done).
    checkpoints_items: bool = False

    @property
    def version(self) -> str:
        """Version recorded with every result (weights, prompt template, ...)."""
        return "0"

    def result_key(self, session: Session) -> ResultKey:
        """What identifies this assessor's result for ``session`` (the runner resumes and
        stores by it). The default: the fitted instrument, the assessor's name and version."""
        self.check_fitted()
        instrument = getattr(self, "instrument_", None)
        if instrument is None:
            raise NotImplementedError(f"{type(self).__name__} does not define result_key")
        return ResultKey(instrument.id, self.name, self.version)

    def reuse(self, stored: SessionAssessment) -> SessionAssessment | None:
        """A stored result to give instead of assessing again, or None if it does not
        cover what this assessor would produce (the default takes it as it is)."""
        return stored

    def is_complete(self, assessment: SessionAssessment) -> bool:
        """Whether an assessment is final (a re-run would not redo any of it)."""
        return True

    def assess_batch(self, sessions: list[Session], store: Any = None) -> list[SessionAssessment]:
        """Assess a batch. An assessor that rates item by item may reuse and save items
        through ``store`` (a :class:`~care.store.RunStore`); the default ignores it."""
        self.check_fitted()
        return self._assess_batch(sessions)

    @abstractmethod
    def fit(
        self, corpus: Corpus, instrument: str | Instrument | None = None, rater: str = "client"
    ) -> Assessor:
        """Learn from the ratings ``rater`` gave on ``instrument`` in ``corpus``."""

    @abstractmethod
    def _assess_batch(self, sessions: list[Session]) -> list[SessionAssessment]:
        """Assess a batch of sessions (the fitted state is already checked)."""

    def check_fitted(self) -> None:
        """Raise :class:`NotFittedError` if the assessor needs fitting and was not fitted."""
        if self.requires_fit and not getattr(self, "fitted_", False):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet",
                fix="call fit(corpus) first, or load a trained model",
            )

    def iter_assess(
        self, sessions: Iterable[Session], batch_size: int = 64
    ) -> Iterator[SessionAssessment]:
        """Assess sessions in batches, yielding each assessment as soon as it is ready."""
        self.check_fitted()
        batch: list[Session] = []
        for session in sessions:
            batch.append(session)
            if len(batch) >= batch_size:
                yield from self._assess_batch(batch)
                batch = []
        if batch:
            yield from self._assess_batch(batch)

    def assess(self, corpus: Iterable[Session]) -> Assessments:
        """Assess every session of ``corpus``."""
        return Assessments(self.iter_assess(corpus))

    def get_params(self) -> dict[str, Any]:
        """The parameters given to ``__init__``."""
        import inspect

        names = [
            name for name in inspect.signature(type(self).__init__).parameters if name != "self"
        ]
        return {name: getattr(self, name) for name in names}


def resolve_instrument(instrument: str | Instrument | None, default: str) -> Instrument:
    """An :class:`Instrument` from an id, a path, an instance, or the default id."""
    if isinstance(instrument, Instrument):
        return instrument
    return get_instrument(instrument or default)


def rating_matrix(
    corpus: Corpus, instrument: Instrument, rater: str = "client"
) -> tuple[list[Session], np.ndarray]:
    """The rated sessions and their item ratings as a float array (NaN where skipped).

    Raises :class:`DataError` when no session has ratings from ``rater`` on the instrument.
    """
    sessions: list[Session] = []
    rows: list[list[float]] = []
    item_ids = [item.id for item in instrument.items]
    for session in corpus:
        rating_set = session.rating(instrument.id, rater)  # type: ignore[arg-type]
        if rating_set is None:
            continue
        sessions.append(session)
        rows.append([rating_set.values.get(item_id, np.nan) for item_id in item_ids])
    if not sessions:
        raise DataError(
            f"no session has ratings by the {rater} on instrument '{instrument.id}'",
            field="ratings",
            fix=(
                "train on sessions that carry these ratings, or choose the instrument they "
                "were rated on with --instrument"
            ),
        )
    return sessions, np.asarray(rows, dtype=float)
