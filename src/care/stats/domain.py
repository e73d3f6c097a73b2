"""How far a session lies from a model's reference sessions (out-of-domain detection).

Each session is described by a few signals (length, turn count, turn-length profile, the
share of its n-grams the model knows, ...). The score is the Mahalanobis distance of the
session's standardised signals from the reference sessions' (count-like signals on a log
scale, a shrunk covariance so that correlated signals are not counted twice). The
threshold is a high quantile of the scores of held-out reference sessions, so that a
chosen share of sessions like the reference ones (by default 2.5%) is flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

FLAG_SHARE = 0.025
"""The share of held-out reference sessions flagged by the threshold."""

SHRINKAGE = 0.1
"""Weight of the identity in the covariance of the standardised signals."""

RANGE = (0.5, 99.5)
"""Percentiles of the reference sessions that bound a signal's usual range (reasons)."""


@dataclass
class DomainReference:
    """The reference sessions' signals, summarised.

    Attributes:
        names: The signals, in order.
        logged: Per signal, whether it is compared on a log scale (``log1p``).
        center, scale: Mean and standard deviation of each (transformed) signal.
        precision: Inverse of the shrunk correlation matrix.
        threshold: Sessions scoring above it are out of domain.
        low, high: The usual range (:data:`RANGE`) of each signal, in its own units.
    """

    names: list[str]
    logged: list[bool]
    center: np.ndarray
    scale: np.ndarray
    precision: np.ndarray
    threshold: float
    low: np.ndarray
    high: np.ndarray

    @classmethod
    def fit(
        cls,
        signals: np.ndarray,
        names: list[str],
        logged: list[bool],
        held_out_scores: np.ndarray | None = None,
        flag_share: float = FLAG_SHARE,
    ) -> DomainReference:
        """Fit on reference sessions' ``signals`` (sessions x signals). The threshold is
        the ``1 - flag_share`` quantile of ``held_out_scores`` when given (scores of
        sessions the reference was not fitted on), else of the reference's own scores."""
        signals = np.asarray(signals, dtype=float)
        transformed = _transform(signals, logged)
        center = np.nanmean(transformed, axis=0)
        scale = np.nanstd(transformed, axis=0)
        scale[~(scale > 0)] = 1.0
        standard = np.nan_to_num((transformed - center) / scale)
        correlation = np.atleast_2d(np.cov(standard, rowvar=False, bias=True))
        shrunk = (1 - SHRINKAGE) * correlation + SHRINKAGE * np.eye(len(names))
        low, high = np.nanpercentile(signals, RANGE, axis=0)
        reference = cls(
            list(names), list(logged), center, scale, np.linalg.inv(shrunk), math.inf, low, high
        )
        scores = reference.scores(signals) if held_out_scores is None else held_out_scores
        reference.threshold = float(np.quantile(scores, 1 - flag_share))
        return reference

    def scores(self, signals: np.ndarray) -> np.ndarray:
        """The distance of each session (rows of ``signals``) from the reference."""
        standard = self.standardise(signals)
        return np.sqrt(np.einsum("ij,jk,ik->i", standard, self.precision, standard))

    def standardise(self, signals: np.ndarray) -> np.ndarray:
        """Each signal as standard deviations from the reference mean (missing: 0)."""
        transformed = _transform(np.atleast_2d(np.asarray(signals, dtype=float)), self.logged)
        return np.nan_to_num((transformed - self.center) / self.scale)

    def unusual(self, signals: np.ndarray) -> list[tuple[int, float]]:
        """For one session, the signals outside their usual range, most unusual first:
        ``(position, standardised value)``."""
        values = np.asarray(signals, dtype=float)
        standard = self.standardise(values)[0]
        outside = [
            position
            for position, value in enumerate(values)
            if not math.isnan(value) and not self.low[position] <= value <= self.high[position]
        ]
        return sorted(
            ((position, float(standard[position])) for position in outside),
            key=lambda pair: -abs(pair[1]),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "names": self.names,
            "logged": self.logged,
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
            "precision": self.precision.tolist(),
            "threshold": self.threshold,
            "low": self.low.tolist(),
            "high": self.high.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DomainReference:
        """Inverse of :meth:`to_dict`."""
        return cls(
            list(data["names"]),
            [bool(flag) for flag in data["logged"]],
            np.asarray(data["center"], dtype=float),
            np.asarray(data["scale"], dtype=float),
            np.asarray(data["precision"], dtype=float),
            float(data["threshold"]),
            np.asarray(data["low"], dtype=float),
            np.asarray(data["high"], dtype=float),
        )


def held_out_scores(
    signals: np.ndarray, names: list[str], logged: list[bool], folds: np.ndarray
) -> np.ndarray:
    """Each session's score against a reference fitted without its fold (of clients)."""
    signals = np.asarray(signals, dtype=float)
    scores = np.full(len(signals), np.nan)
    for fold in np.unique(folds):
        test = folds == fold
        reference = DomainReference.fit(signals[~test], names, logged)
        scores[test] = reference.scores(signals[test])
    return scores


def fit_domain(
    signals: np.ndarray,
    names: list[str],
    logged: list[bool],
    folds: np.ndarray,
    flag_share: float = FLAG_SHARE,
) -> tuple[DomainReference, dict[str, Any]]:
    """A reference fitted on all sessions with its threshold set on held-out scores, and
    the held-out share flagged by thresholds that never saw the flagged fold
    (``{"flag_share_target", "flagged_held_out", "n"}``)."""
    scores = held_out_scores(signals, names, logged, folds)
    reference = DomainReference.fit(signals, names, logged, scores, flag_share)
    flagged = np.zeros(len(scores), dtype=bool)
    for fold in np.unique(folds):
        test = folds == fold
        threshold = float(np.quantile(scores[~test], 1 - flag_share))
        flagged[test] = scores[test] > threshold
    return reference, {
        "flag_share_target": flag_share,
        "flagged_held_out": float(flagged.mean()) if len(flagged) else math.nan,
        "n": len(flagged),
    }


def _transform(signals: np.ndarray, logged: list[bool]) -> np.ndarray:
    transformed = signals.copy()
    for position, flag in enumerate(logged):
        if flag:
            transformed[:, position] = np.log1p(np.clip(signals[:, position], 0, None))
    return transformed
