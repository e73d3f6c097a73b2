"""Reference distributions: where a score sits among reference sessions' scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class ReferenceScores:
    """The sorted scores of reference sessions, per score name (e.g. ``goal``, ``total``).

    For the built-in models the reference is the training sessions' cross-validated
    predictions (what a new session like them would get); for ``care calibrate`` it is
    the calibration sessions' predictions.
    """

    scores: dict[str, np.ndarray]

    @classmethod
    def fit(cls, values: dict[str, np.ndarray]) -> ReferenceScores:
        """From each name's reference values (NaN left out)."""
        return cls(
            {
                name: np.sort(np.asarray(column, dtype=float)[~np.isnan(column)])
                for name, column in values.items()
            }
        )

    def percentile(self, name: str, value: float) -> float | None:
        """The share (0-100) of reference sessions scoring lower than ``value`` (ties count
        half); None without reference scores for ``name`` or without a value."""
        reference = self.scores.get(name)
        if reference is None or not len(reference) or value is None or np.isnan(value):
            return None
        below = np.searchsorted(reference, value, side="left")
        not_above = np.searchsorted(reference, value, side="right")
        return float(100.0 * (below + not_above) / (2 * len(reference)))

    def percentiles(self, values: dict[str, float]) -> dict[str, float]:
        """:meth:`percentile` of each named value that has reference scores, rounded to
        one decimal."""
        result = {}
        for name, value in values.items():
            share = self.percentile(name, value)
            if share is not None:
                result[name] = round(share, 1)
        return result

    def to_dict(self, decimals: int = 4) -> dict[str, Any]:
        """JSON-ready form."""
        return {name: np.round(column, decimals).tolist() for name, column in self.scores.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferenceScores:
        """Inverse of :meth:`to_dict`."""
        return cls.fit({name: np.asarray(column, dtype=float) for name, column in data.items()})
