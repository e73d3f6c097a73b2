"""Split-conformal prediction intervals, constant-width and locally adaptive.

Split conformal (Vovk et al. 2005; Lei et al. 2018): given calibration residuals, the
interval ``prediction ± q`` with ``q`` the ``ceil((n + 1) level)``-th smallest absolute
residual of ``n`` covers a new exchangeable case's true value with probability at least
``level``. The normalized (locally adaptive) form divides each residual by a fitted
estimate of its expected size, ``sigma(x)``, and returns ``prediction ± q sigma(x)``: wider
where the model tends to err more (Papadopoulos et al. 2008).

Written here rather than taken from crepes or MAPIE: MAPIE wraps a scikit-learn estimator
and refits it, while our calibration residuals are already out-of-fold (client-grouped)
residuals of a model fitted elsewhere, and crepes, which does accept such residuals,
imports scikit-learn at import time (seconds on every ``care assess`` start) without
declaring it. ``tests/test_conformal.py`` checks these intervals against crepes'.

The residual-size model is a ridge regression of the log absolute residuals on
standardised features; each calibration case is normalized by a model fitted without its fold of
clients (cross-fitting), so its score is what a new client's would be.
:func:`evaluate_intervals` measures coverage honestly by rerunning the whole procedure
without each held-out fold of clients.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SCALE_PENALTY = 1.0
"""Ridge penalty of the residual-size model (on standardised features)."""

SCALE_FLOOR = 0.1
"""Added to the absolute residuals (as a share of their mean) before taking logs in the
residual-size model, so that near-zero residuals do not dominate its fit."""

ADAPTIVE_MIN_GAIN = 0.01
"""The adaptive intervals replace the constant ones only if their held-out mean width is
at least this share narrower (a smaller gain is within the noise of the folds)..."""

ADAPTIVE_COVERAGE_SLACK = 0.005
"""... and their held-out coverage at most this much lower."""


def conformal_rank(n: int, level: float) -> int:
    """The rank (1-based) of the calibration score that bounds a ``level`` interval:
    ``ceil((n + 1) level)``; more than ``n`` when ``n`` cases are too few for ``level``."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, not {level}")
    # The small tolerance keeps e.g. (9 + 1) * 0.9 at rank 9 despite rounding.
    return math.ceil((n + 1) * level - 1e-9)


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The finite-sample conformal quantile of ``scores`` (NaN ignored): the
    ``ceil((n + 1) level)``-th smallest, or infinity when there are too few scores."""
    finite = np.sort(np.asarray(scores, dtype=float)[~np.isnan(scores)])
    rank = conformal_rank(len(finite), level)
    if rank > len(finite):
        return math.inf
    return float(finite[rank - 1])


@dataclass
class ScaleModel:
    """An estimate of a case's relative residual size from its features:
    ``exp(intercept + standardise(x) @ coef)``, a ridge regression of the log absolute
    residual (a missing feature counts at its mean). Multiplicative, so it is positive
    everywhere; its overall scale does not matter, since the conformal quantile of the
    normalized residuals absorbs it."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    offset: float

    @classmethod
    def fit(
        cls, features: np.ndarray, absolute_residuals: np.ndarray, penalty: float = SCALE_PENALTY
    ) -> ScaleModel:
        """Ridge regression of ``log(absolute_residuals + offset)`` on ``features`` (cases
        x features); ``offset`` (:data:`SCALE_FLOOR` times the mean absolute residual)
        keeps near-zero residuals from dominating."""
        features = np.asarray(features, dtype=float)
        residuals = np.asarray(absolute_residuals, dtype=float)
        if not len(residuals):
            raise ValueError("no calibration cases")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing feature
            mean = np.nan_to_num(np.nanmean(features, axis=0))
            scale = np.nan_to_num(np.nanstd(features, axis=0))
        scale[~(scale > 0)] = 1.0
        standard = np.nan_to_num((features - mean) / scale)
        offset = max(SCALE_FLOOR * float(residuals.mean()), 1e-6)
        target = np.log(residuals + offset)
        gram = standard.T @ standard + penalty * np.eye(standard.shape[1])
        coef = np.linalg.solve(gram, standard.T @ (target - target.mean()))
        return cls(mean, scale, coef, float(target.mean()), offset)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """The relative residual size of each case."""
        standard = np.nan_to_num((np.asarray(features, dtype=float) - self.mean) / self.scale)
        return np.exp(self.intercept + standard @ self.coef)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "offset": self.offset,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScaleModel:
        """Inverse of :meth:`to_dict`."""
        return cls(
            np.asarray(data["mean"], dtype=float),
            np.asarray(data["scale"], dtype=float),
            np.asarray(data["coef"], dtype=float),
            float(data["intercept"]),
            float(data["offset"]),
        )


@dataclass
class ConformalIntervals:
    """Conformal intervals for one score.

    Attributes:
        scores: The calibration cases' nonconformity scores, sorted: absolute residuals
            (constant width) or absolute residuals over their estimated size (adaptive).
        scale_model: The residual-size model (adaptive), or None (constant width).
        low, high: The score's scale; intervals are clipped to it (which can only raise
            coverage, since every true value lies on the scale).
    """

    scores: np.ndarray
    scale_model: ScaleModel | None
    low: float
    high: float
    _quantiles: dict[float, float] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def quantile(self, level: float) -> float:
        """The conformal quantile of the calibration scores at ``level`` (computed once per
        level: intervals are asked for per session)."""
        if level not in self._quantiles:
            self._quantiles[level] = conformal_quantile(self.scores, level)
        return self._quantiles[level]

    @property
    def method(self) -> str:
        """``"adaptive"`` or ``"constant"``."""
        return "constant" if self.scale_model is None else "adaptive"

    @classmethod
    def fit(
        cls,
        truth: np.ndarray,
        predicted: np.ndarray,
        low: float,
        high: float,
        features: np.ndarray | None = None,
        folds: np.ndarray | None = None,
    ) -> ConformalIntervals:
        """Calibrate on cases (NaN truth or prediction left out); with ``features``
        (cases x features), adaptive, else constant width. With ``folds`` (of clients),
        each case's residual is normalized by a residual-size model fitted without its
        fold, so that its score is what a new client's would be; the model kept is
        fitted on all cases."""
        keep = ~(np.isnan(np.asarray(truth, dtype=float)) | np.isnan(predicted))
        truth, predicted, features = _complete(truth, predicted, features)
        residuals = np.abs(truth - predicted)
        if features is None:
            return cls(np.sort(residuals), None, low, high)
        model = ScaleModel.fit(features, residuals)
        sizes = model.predict(features)
        if folds is not None:
            folds = np.asarray(folds)[keep]
            for fold in np.unique(folds):
                held = folds == fold
                if held.all():
                    break
                sizes[held] = ScaleModel.fit(features[~held], residuals[~held]).predict(
                    features[held]
                )
        return cls(np.sort(residuals / sizes), model, low, high)

    def half_width(self, level: float, features: np.ndarray | None = None) -> np.ndarray | float:
        """The unclipped half-width at ``level`` (per case when adaptive)."""
        quantile = self.quantile(level)
        if self.scale_model is None:
            return quantile
        if features is None:
            raise ValueError("adaptive intervals need the cases' features")
        return quantile * self.scale_model.predict(features)

    def interval(
        self, predicted: np.ndarray, level: float, features: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds for each prediction, clipped to the scale."""
        predicted = np.asarray(predicted, dtype=float)
        half = self.half_width(level, features)
        return (
            np.clip(predicted - half, self.low, self.high),
            np.clip(predicted + half, self.low, self.high),
        )

    def to_dict(self, decimals: int = 5) -> dict[str, Any]:
        """JSON-ready form (scores rounded to ``decimals``)."""
        return {
            "method": self.method,
            "low": self.low,
            "high": self.high,
            "scores": np.round(self.scores, decimals).tolist(),
            "scale_model": None if self.scale_model is None else self.scale_model.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConformalIntervals:
        """Inverse of :meth:`to_dict`."""
        scale = data.get("scale_model")
        return cls(
            np.sort(np.asarray(data["scores"], dtype=float)),
            None if scale is None else ScaleModel.from_dict(scale),
            float(data["low"]),
            float(data["high"]),
        )


def _complete(
    truth: np.ndarray, predicted: np.ndarray, features: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    truth = np.asarray(truth, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    keep = ~(np.isnan(truth) | np.isnan(predicted))
    if features is not None:
        features = np.asarray(features, dtype=float)[keep]
    return truth[keep], predicted[keep], features


def coverage_and_width(
    truth: np.ndarray, low: np.ndarray, high: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per case: whether ``[low, high]`` holds the true value (1.0/0.0, NaN where the
    truth is missing) and the interval's width."""
    truth = np.asarray(truth, dtype=float)
    covered = ((truth >= low) & (truth <= high)).astype(float)
    covered[np.isnan(truth)] = np.nan
    return covered, np.asarray(high, dtype=float) - np.asarray(low, dtype=float)


def evaluate_intervals(
    truth: np.ndarray,
    predicted: np.ndarray,
    folds: np.ndarray,
    low: float,
    high: float,
    level: float,
    features: np.ndarray | None = None,
) -> dict[str, Any]:
    """Held-out coverage and mean width of the whole calibration procedure: for each
    fold (of clients), calibrate on the other folds and build intervals for this one.

    Returns ``{"coverage", "width", "n", "covered", "widths"}``; the last two are per case
    (NaN where a case has no truth or prediction), for cluster-bootstrap CIs.
    """
    truth = np.asarray(truth, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    covered = np.full(len(truth), np.nan)
    widths = np.full(len(truth), np.nan)
    usable = ~(np.isnan(truth) | np.isnan(predicted))
    for fold in np.unique(folds):
        test = (folds == fold) & usable
        train = (folds != fold) & usable
        if not test.any() or not train.any():
            continue
        fitted = ConformalIntervals.fit(
            truth[train],
            predicted[train],
            low,
            high,
            None if features is None else features[train],
            folds[train],
        )
        lower, upper = fitted.interval(
            predicted[test], level, None if features is None else features[test]
        )
        covered[test], widths[test] = coverage_and_width(truth[test], lower, upper)
    return {
        "coverage": float(np.nanmean(covered)) if usable.any() else math.nan,
        "width": float(np.nanmean(widths)) if usable.any() else math.nan,
        "n": int(usable.sum()),
        "covered": covered,
        "widths": widths,
    }


@dataclass
class IntervalChoice:
    """The intervals kept for one score and the held-out evaluation of both kinds.

    Attributes:
        intervals: Calibrated on all cases, of the kind chosen.
        constant, adaptive: :func:`evaluate_intervals` of each kind.
    """

    intervals: ConformalIntervals
    constant: dict[str, Any]
    adaptive: dict[str, Any]

    def summary(self) -> dict[str, Any]:
        """JSON-ready held-out figures: ``{"chosen", "constant": {"coverage", "width",
        "n"}, "adaptive": {...}}``."""
        return {
            "chosen": self.intervals.method,
            **{
                kind: {key: evaluation[key] for key in ("coverage", "width", "n")}
                for kind, evaluation in (("constant", self.constant), ("adaptive", self.adaptive))
            },
        }


def choose_intervals(
    truth: np.ndarray,
    predicted: np.ndarray,
    folds: np.ndarray,
    low: float,
    high: float,
    features: np.ndarray,
    level: float = 0.9,
) -> IntervalChoice:
    """Calibrate constant-width and adaptive intervals for one score and keep the adaptive
    ones only if, held out by fold, they are narrower at ``level`` (by at least
    :data:`ADAPTIVE_MIN_GAIN`) with no lower coverage (within
    :data:`ADAPTIVE_COVERAGE_SLACK`)."""
    constant = evaluate_intervals(truth, predicted, folds, low, high, level)
    adaptive = evaluate_intervals(truth, predicted, folds, low, high, level, features)
    better = (
        adaptive["width"] < (1 - ADAPTIVE_MIN_GAIN) * constant["width"]
        and adaptive["coverage"] >= constant["coverage"] - ADAPTIVE_COVERAGE_SLACK
    )
    fitted = ConformalIntervals.fit(
        truth, predicted, low, high, features if better else None, folds
    )
    return IntervalChoice(fitted, constant, adaptive)
