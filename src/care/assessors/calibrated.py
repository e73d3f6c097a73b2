"""Any assessor's results with prediction intervals, reference percentiles and a domain
check (``care assess --calibration``, ``--level``).

The built-in models carry their own calibration (fitted by ``care train lite``), so a
:class:`~care.assessors.lite.LiteAssessor` only takes the level and, if given, a
calibration from ``care calibrate``. Every other assessor is wrapped in a
:class:`CalibratedAssessor`, which adds the three fields to each result as it is made, so
that the runner writes and stores them with the result; without a calibration the results
say that there is none.
"""

from __future__ import annotations

from typing import Any

from care.assessors.base import Assessor
from care.assessors.trust import DEFAULT_LEVEL, TrustModel, annotate_results, check_level
from care.data.corpus import Corpus
from care.data.session import Session
from care.identity import ResultKey
from care.instruments import Instrument
from care.results import SessionAssessment


def with_intervals(
    assessor: Assessor, calibration: TrustModel | None = None, level: float = DEFAULT_LEVEL
) -> Assessor:
    """``assessor`` giving intervals at ``level`` (from ``calibration`` where given).

    Raises:
        ParameterError: The calibration was fitted for another model, or needs signals
            the assessor does not have; or the level is not between 0 and 1.
    """
    from care.assessors.lite import LiteAssessor

    check_level(level)
    if isinstance(assessor, LiteAssessor):
        assessor.level = level
        assessor.calibration = calibration
        return assessor
    if calibration is not None:
        calibration.check_profile_only()
        calibration.check_model(getattr(assessor, "model_name", assessor.name))
    return CalibratedAssessor(assessor, calibration, level)


class CalibratedAssessor(Assessor):
    """Wraps an assessor; each result gets ``intervals``, ``percentiles`` and ``domain``
    from ``calibration`` at ``level`` (or a statement that no calibration exists).

    Args:
        inner: The assessor whose results are annotated (fitted).
        calibration: From ``care calibrate`` on this assessor's results, or None.
        level: The interval level.
    """

    def __init__(
        self, inner: Assessor, calibration: TrustModel | None, level: float = DEFAULT_LEVEL
    ) -> None:
        self.inner = inner
        self.calibration = calibration
        self.level = check_level(level)
        self.name = inner.name
        self.requires_fit = inner.requires_fit
        self.checkpoints_items = inner.checkpoints_items

    def __getattr__(self, name: str) -> Any:
        # anything else (model_name, client, instrument_, ...) is the inner assessor's
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def version(self) -> str:
        return self.inner.version

    def fit(
        self, corpus: Corpus, instrument: str | Instrument | None = None, rater: str = "client"
    ) -> CalibratedAssessor:
        self.inner.fit(corpus, instrument, rater)
        return self

    def check_fitted(self) -> None:
        self.inner.check_fitted()

    def result_key(self, session: Session) -> ResultKey:
        return self.inner.result_key(session)

    def reuse(self, stored: SessionAssessment) -> SessionAssessment | None:
        """A stored result, if its intervals were made at this level (else it is
        assessed again, which for an LLM reuses its stored items)."""
        reused = self.inner.reuse(stored)
        if reused is None or (reused.intervals or {}).get("level") != self.level:
            return None
        return reused

    def is_complete(self, assessment: SessionAssessment) -> bool:
        return self.inner.is_complete(assessment)

    def assess_batch(self, sessions: list[Session], store: Any = None) -> list[SessionAssessment]:
        results = self.inner.assess_batch(sessions, store=store)
        by_id = {session.id: session for session in sessions}
        return list(annotate_results(results, by_id, self.calibration, self.level))

    def _assess_batch(self, sessions: list[Session]) -> list[SessionAssessment]:
        return self.assess_batch(sessions)
