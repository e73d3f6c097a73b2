"""Reference assessors that every real assessor must beat.

- :class:`MeanRatingAssessor` predicts each item's mean rating in the training data.
- :class:`LengthAssessor` predicts each item from length features alone (ridge).
"""

from __future__ import annotations

import numpy as np

from care.assessors.base import Assessor, rating_matrix, resolve_instrument
from care.data.corpus import Corpus
from care.data.session import Session
from care.features.length import length_matrix
from care.features.ridge import RidgeModel, fit_ridge
from care.instruments import Instrument
from care.results import ItemRating, SessionAssessment

DEFAULT_INSTRUMENT = "kokorochat-feedback"


def clip_to_scales(values: np.ndarray, instrument: Instrument) -> np.ndarray:
    """Clip each item column to its scale."""
    low = np.array([instrument.scale_for(item.id).min for item in instrument.items], dtype=float)
    high = np.array([instrument.scale_for(item.id).max for item in instrument.items], dtype=float)
    return np.clip(values, low, high)


def assessments_from_matrix(
    sessions: list[Session],
    values: np.ndarray,
    instrument: Instrument,
    model: str,
    model_version: str,
) -> list[SessionAssessment]:
    """One assessment per session from a (sessions x items) array of predicted values."""
    values = clip_to_scales(values, instrument)
    results = []
    for session, row in zip(sessions, values, strict=True):
        items = {
            item.id: ItemRating(session_id=session.id, item_id=item.id, value=float(value))
            for item, value in zip(instrument.items, row, strict=True)
            if not np.isnan(value)
        }
        results.append(
            SessionAssessment(
                session_id=session.id,
                instrument=instrument.id,
                model=model,
                model_version=model_version,
                items=items,
                language=session.language,
            )
        )
    return results


class MeanRatingAssessor(Assessor):
    """Predicts every session's item ratings as the training mean of each item.

    Args:
        instrument: Instrument id or object; ``fit`` may override it.
    """

    name = "baseline/mean-rating"

    def __init__(self, instrument: str | Instrument | None = None) -> None:
        self.instrument = instrument

    def fit(
        self, corpus: Corpus, instrument: str | Instrument | None = None, rater: str = "client"
    ) -> MeanRatingAssessor:
        self.instrument_ = resolve_instrument(instrument or self.instrument, DEFAULT_INSTRUMENT)
        _, ratings = rating_matrix(corpus, self.instrument_, rater)
        with np.errstate(all="ignore"):
            self.means_ = np.nanmean(ratings, axis=0)
        self.fitted_ = True
        return self

    def _assess_batch(self, sessions: list[Session]) -> list[SessionAssessment]:
        values = np.tile(self.means_, (len(sessions), 1))
        return assessments_from_matrix(sessions, values, self.instrument_, self.name, self.version)


class LengthAssessor(Assessor):
    """Predicts item ratings from how long the session is and how much each side says.

    Args:
        instrument: Instrument id or object; ``fit`` may override it.
        alpha: Ridge penalty on the standardised length features.
    """

    name = "baseline/length"

    def __init__(self, instrument: str | Instrument | None = None, alpha: float = 10.0) -> None:
        self.instrument = instrument
        self.alpha = alpha

    def fit(
        self, corpus: Corpus, instrument: str | Instrument | None = None, rater: str = "client"
    ) -> LengthAssessor:
        self.instrument_ = resolve_instrument(instrument or self.instrument, DEFAULT_INSTRUMENT)
        sessions, ratings = rating_matrix(corpus, self.instrument_, rater)
        self.model_: RidgeModel = fit_ridge(length_matrix(sessions), ratings, alpha=self.alpha)
        self.fitted_ = True
        return self

    def _assess_batch(self, sessions: list[Session]) -> list[SessionAssessment]:
        values = self.model_.predict(length_matrix(sessions))
        return assessments_from_matrix(sessions, values, self.instrument_, self.name, self.version)
