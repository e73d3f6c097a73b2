"""Agreement between predicted and true ratings: the point metrics.

:func:`pearson`, :func:`spearman`, :func:`mse` and :func:`mae` compare two 1-D arrays of
numbers (item ratings, dimension scores or totals). For ordinal items,
:func:`exact_accuracy`, :func:`within_one_accuracy` and :func:`rounded_mae` first round
each prediction half up (2.5 -> 3) and, when ``scale=(min, max)`` is given, clip it to the
scale; the truth is used as given.

Conventions shared by all metrics:

* Pairs in which the truth or the prediction is NaN are dropped before computing.
* With no pair left, every metric is NaN.
* The correlations are NaN when fewer than 2 pairs remain or either side is constant
  (a correlation is undefined there); no warning is emitted.

Their confidence intervals are in :mod:`care.stats.bootstrap`, score tables in
:mod:`care.stats.tables`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from care.errors import ParameterError

__all__ = [
    "METRICS",
    "exact_accuracy",
    "mae",
    "mse",
    "pearson",
    "round_to_scale",
    "rounded_mae",
    "spearman",
    "within_one_accuracy",
]

ArrayLike = Sequence[float] | np.ndarray | pd.Series


Scale = tuple[float, float]


MetricFn = Callable[[np.ndarray, np.ndarray], float]


# --------------------------------------------------------------------------- inputs


def _as_float(name: str, x: Any) -> np.ndarray:
    """``x`` as a 1-D float array (``pandas.NA`` becomes NaN)."""
    try:
        if isinstance(x, pd.Series | pd.Index):
            arr = x.to_numpy(dtype=float, na_value=np.nan)
        else:
            arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError(
            f"parameter '{name}' must hold numbers (NaN for missing), got values that are not",
            fix=f"convert '{name}' to numbers before scoring",
        ) from None
    if arr.ndim != 1:
        raise ParameterError(
            f"parameter '{name}' must be one-dimensional, got an array of shape {arr.shape}",
            fix=f"pass '{name}' as a list, 1-D array or pandas Series",
        )
    return arr


def _pair(y: Any, p: Any, *, p_name: str = "p") -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as float, checked for equal length, with NaN pairs dropped."""
    ya, pa = _as_float("y", y), _as_float(p_name, p)
    if len(ya) != len(pa):
        raise ParameterError(
            f"parameters 'y' and '{p_name}' must have the same length, got {len(ya)} and {len(pa)}",
            fix="pass one prediction for every true rating, in the same order",
        )
    keep = ~(np.isnan(ya) | np.isnan(pa))
    if keep.all():
        return ya, pa
    return ya[keep], pa[keep]


def _check_scale(scale: Any) -> Scale | None:
    if scale is None:
        return None
    try:
        lo, hi = (float(v) for v in scale)
    except (TypeError, ValueError):
        lo, hi = math.nan, math.nan
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise ParameterError(
            f"parameter 'scale' must be a pair (min, max) of numbers with min <= max, "
            f"got {scale!r}",
            fix="pass the rating scale of the items, e.g. scale=(1, 5), or scale=None",
        )
    return lo, hi


def round_to_scale(p: ArrayLike, scale: Scale | None = None) -> np.ndarray:
    """Round predictions half up (2.5 -> 3, -0.5 -> 0) and clip them to ``scale``.

    Args:
        p: Predictions.
        scale: ``(min, max)`` of the rating scale, or None for no clipping.

    Returns:
        The rounded (and clipped) predictions as floats; NaN stays NaN.
    """
    arr = np.floor(_as_float("p", p) + 0.5)
    checked = _check_scale(scale)
    if checked is not None:
        arr = np.clip(arr, checked[0], checked[1])
    return arr


# --------------------------------------------------------------------- point metrics


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two NaN-free arrays; NaN when undefined."""
    if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return math.nan
    a = a - a.mean()
    b = b - b.mean()
    denom = math.sqrt(float(a @ a) * float(b @ b))
    if denom == 0.0:
        return math.nan
    return float(np.clip(float(a @ b) / denom, -1.0, 1.0))


def pearson(y: ArrayLike, p: ArrayLike) -> float:
    """Pearson correlation between truth ``y`` and prediction ``p``.

    NaN pairs are dropped. NaN (without a warning) when fewer than 2 pairs remain or
    either side is constant.
    """
    ya, pa = _pair(y, p)
    return _corr(ya, pa)


def spearman(y: ArrayLike, p: ArrayLike) -> float:
    """Spearman rank correlation (Pearson correlation of mid-ranks; ties averaged).

    NaN pairs are dropped. NaN (without a warning) when fewer than 2 pairs remain or
    either side is constant.
    """
    ya, pa = _pair(y, p)
    if len(ya) < 2:
        return math.nan
    return _corr(rankdata(ya), rankdata(pa))


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if len(x) else math.nan


def mse(y: ArrayLike, p: ArrayLike) -> float:
    """Mean squared error. NaN pairs are dropped; NaN when none remain."""
    ya, pa = _pair(y, p)
    return _mean((ya - pa) ** 2)


def mae(y: ArrayLike, p: ArrayLike) -> float:
    """Mean absolute error. NaN pairs are dropped; NaN when none remain."""
    ya, pa = _pair(y, p)
    return _mean(np.abs(ya - pa))


def exact_accuracy(y: ArrayLike, p: ArrayLike, *, scale: Scale | None = None) -> float:
    """Share of items where the rounded prediction equals the true rating.

    Predictions are rounded half up and clipped to ``scale`` (see :func:`round_to_scale`).
    NaN pairs are dropped; NaN when none remain.
    """
    ya, pa = _pair(y, p)
    return _mean((round_to_scale(pa, scale) == ya).astype(float))


def within_one_accuracy(y: ArrayLike, p: ArrayLike, *, scale: Scale | None = None) -> float:
    """Share of items where the rounded prediction is at most 1 point from the truth.

    Predictions are rounded half up and clipped to ``scale``. NaN pairs are dropped;
    NaN when none remain.
    """
    ya, pa = _pair(y, p)
    return _mean((np.abs(round_to_scale(pa, scale) - ya) <= 1.0).astype(float))


def rounded_mae(y: ArrayLike, p: ArrayLike, *, scale: Scale | None = None) -> float:
    """Mean absolute error of the rounded (half up) and clipped predictions.

    NaN pairs are dropped; NaN when none remain.
    """
    ya, pa = _pair(y, p)
    return _mean(np.abs(round_to_scale(pa, scale) - ya))


#: The built-in metrics by name.
METRICS: dict[str, Callable[..., float]] = {
    "pearson": pearson,
    "spearman": spearman,
    "mse": mse,
    "mae": mae,
    "exact_accuracy": exact_accuracy,
    "within_one_accuracy": within_one_accuracy,
    "rounded_mae": rounded_mae,
}


_ROUNDED = frozenset({"exact_accuracy", "within_one_accuracy", "rounded_mae"})


def _row_loss(name: str, y: np.ndarray, p: np.ndarray, scale: Scale | None) -> np.ndarray:
    """Per-row values whose mean is the metric ``name`` (for the averaged metrics)."""
    if name == "mse":
        return (y - p) ** 2
    if name == "mae":
        return np.abs(y - p)
    r = round_to_scale(p, scale)
    if name == "exact_accuracy":
        return (r == y).astype(float)
    if name == "within_one_accuracy":
        return (np.abs(r - y) <= 1.0).astype(float)
    return np.abs(r - y)  # rounded_mae


# ------------------------------------------------------------------ metric resolving


@dataclass(frozen=True)
class _Metric:
    name: str
    builtin: str | None  # name of the built-in metric, or None for a user callable
    fn: Callable[[np.ndarray, np.ndarray], float]


def _resolve(metric: str | Callable[..., float], scale: Scale | None) -> _Metric:
    if isinstance(metric, str):
        if metric not in METRICS:
            raise ParameterError(
                f"parameter 'metric' must be one of {', '.join(METRICS)} or a callable "
                f"metric(y, p), got {metric!r}",
                fix="use one of the listed metric names",
            )
        name = metric
    elif callable(metric):
        name = next((k for k, v in METRICS.items() if v is metric), "")
        if not name:
            label = getattr(metric, "__name__", None) or type(metric).__name__
            return _Metric(label, None, metric)
    else:
        raise ParameterError(
            f"parameter 'metric' must be a metric name or a callable metric(y, p), got {metric!r}",
            fix=f"use one of {', '.join(METRICS)}",
        )
    base = METRICS[name]
    if name in _ROUNDED:

        def fn(y: np.ndarray, p: np.ndarray) -> float:
            return base(y, p, scale=scale)

    else:
        fn = base
    return _Metric(name, name, fn)
