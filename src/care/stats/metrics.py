"""Agreement between predicted and true ratings: the point metrics, one record each.

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

Every metric is one :class:`Metric` record in :data:`METRICS`: its function, how the
bootstrap computes it in every resample (a per-row loss to average, or a weighted
correlation), its direction, whether it is a correlation and uses the rating scale, and
its label and definition for reports. Adding a metric is adding one record there; a
record without a way to bootstrap it cannot be made.

Their confidence intervals are in :mod:`care.stats.bootstrap`, score tables in
:mod:`care.stats.tables`. Importing this module needs numpy only (scipy is loaded for
:func:`spearman`), so the command line can list the metrics without a slow start.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from care.errors import ParameterError
from care.stats.correlation import weighted_pearson, weighted_spearman

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "METRICS",
    "Metric",
    "exact_accuracy",
    "mae",
    "mse",
    "pearson",
    "round_to_scale",
    "rounded_mae",
    "spearman",
    "within_one_accuracy",
]

ArrayLike: TypeAlias = "Sequence[float] | np.ndarray | pd.Series"
Scale: TypeAlias = tuple[float, float]
#: ``loss(y, p, scale)``: per-row values (NaN-free inputs) whose mean is the metric.
RowLoss: TypeAlias = Callable[[np.ndarray, np.ndarray, "Scale | None"], np.ndarray]
#: ``resampled(weights, y, p)``: the metric in every resample (a row of weights each).
Resampled: TypeAlias = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- inputs


def _as_float(name: str, x: Any) -> np.ndarray:
    """``x`` as a 1-D float array (``pandas.NA`` becomes NaN)."""
    pd = sys.modules.get("pandas")  # x cannot be a pandas object unless pandas is loaded
    try:
        if pd is not None and isinstance(x, pd.Series | pd.Index):
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
    from scipy.stats import rankdata

    ya, pa = _pair(y, p)
    if len(ya) < 2:
        return math.nan
    return _corr(rankdata(ya), rankdata(pa))


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if len(x) else math.nan


def _squared_error(y: np.ndarray, p: np.ndarray, scale: Scale | None) -> np.ndarray:
    return (y - p) ** 2


def _absolute_error(y: np.ndarray, p: np.ndarray, scale: Scale | None) -> np.ndarray:
    return np.abs(y - p)


def _exact_hit(y: np.ndarray, p: np.ndarray, scale: Scale | None) -> np.ndarray:
    return (round_to_scale(p, scale) == y).astype(float)


def _within_one_hit(y: np.ndarray, p: np.ndarray, scale: Scale | None) -> np.ndarray:
    return (np.abs(round_to_scale(p, scale) - y) <= 1.0).astype(float)


def _rounded_absolute_error(y: np.ndarray, p: np.ndarray, scale: Scale | None) -> np.ndarray:
    return np.abs(round_to_scale(p, scale) - y)


def mse(y: ArrayLike, p: ArrayLike) -> float:
    """Mean squared error. NaN pairs are dropped; NaN when none remain."""
    ya, pa = _pair(y, p)
    return _mean(_squared_error(ya, pa, None))


def mae(y: ArrayLike, p: ArrayLike) -> float:
    """Mean absolute error. NaN pairs are dropped; NaN when none remain."""
    ya, pa = _pair(y, p)
    return _mean(_absolute_error(ya, pa, None))


def exact_accuracy(y: ArrayLike, p: ArrayLike, *, scale: Scale | None = None) -> float:
    """Share of items where the rounded prediction equals the true rating.

    Predictions are rounded half up and clipped to ``scale`` (see :func:`round_to_scale`).
    NaN pairs are dropped; NaN when none remain.
    """
    ya, pa = _pair(y, p)
    return _mean(_exact_hit(ya, pa, scale))


def within_one_accuracy(y: ArrayLike, p: ArrayLike, *, scale: Scale | None = None) -> float:
    """Share of items where the rounded prediction is at most 1 point from the truth.

    Predictions are rounded half up and clipped to ``scale``. NaN pairs are dropped;
    NaN when none remain.
    """
    ya, pa = _pair(y, p)
    return _mean(_within_one_hit(ya, pa, scale))


def rounded_mae(y: ArrayLike, p: ArrayLike, *, scale: Scale | None = None) -> float:
    """Mean absolute error of the rounded (half up) and clipped predictions.

    NaN pairs are dropped; NaN when none remain.
    """
    ya, pa = _pair(y, p)
    return _mean(_rounded_absolute_error(ya, pa, scale))


# ------------------------------------------------------------------------ the record


@dataclass(frozen=True)
class Metric:
    """One agreement metric with every fact about it, so that adding a metric is one record.

    Exactly one of ``loss`` and ``resampled`` is given: it is how the bootstrap computes
    the metric in every resample at once, so no metric can fall back to another's
    intervals.

    Attributes:
        name: Its key in :data:`METRICS` and in score tables, e.g. ``"mae"``.
        function: ``function(y, p)`` (with ``scale=`` when ``uses_scale``) on raw inputs;
            NaN pairs are dropped.
        greater_is_better: Direction: True for correlations and accuracies, False for
            errors (decides the verdict of a paired test).
        label: Short name for report tables, e.g. ``"Pearson r"``.
        definition: The exact variant, as written into reports.
        loss: For a mean of per-row values: ``loss(y, p, scale)`` gives them, on NaN-free
            arrays; the bootstrap averages them under the resampling weights.
        resampled: For a correlation: ``resampled(weights, y, p)`` gives it in every
            resample of a chunk of weights (one row per resample).
        uses_scale: Whether it rounds and clips predictions to the item's scale (the
            ordinal metrics, reported per item).
    """

    name: str
    function: Callable[..., float]
    greater_is_better: bool
    label: str
    definition: str
    loss: RowLoss | None = None
    resampled: Resampled | None = None
    uses_scale: bool = False

    def __post_init__(self) -> None:
        if (self.loss is None) == (self.resampled is None):
            raise ParameterError(
                f"metric {self.name!r} must give exactly one of 'loss' (a mean of per-row "
                "values) and 'resampled' (a correlation under resampling weights)",
                fix="give the per-row loss whose mean is the metric, or its weighted form",
            )
        if not self.name or not self.label or not self.definition:
            raise ParameterError(
                f"metric {self.name!r} needs a name, a label and a definition",
                fix="write the label and the exact variant shown in reports",
            )

    @property
    def is_correlation(self) -> bool:
        """Whether it is a correlation (bootstrapped as one, not as a mean of losses)."""
        return self.resampled is not None

    def __call__(self, y: ArrayLike, p: ArrayLike, **options: Any) -> float:
        """The metric itself: ``function(y, p, **options)``."""
        return self.function(y, p, **options)

    def value(self, y: ArrayLike, p: ArrayLike, scale: Scale | None = None) -> float:
        """The metric on all non-NaN pairs; ``scale`` is used by the metrics that round."""
        if self.uses_scale:
            return float(self.function(y, p, scale=scale))
        return float(self.function(y, p))

    def in_resamples(
        self, w: np.ndarray, y: np.ndarray, p: np.ndarray, scale: Scale | None
    ) -> np.ndarray:
        """The metric in every resample of a chunk of weights (NaN-free ``y`` and ``p``)."""
        if self.resampled is not None:
            return self.resampled(w, y, p)
        loss = self.loss(y, p, scale if self.uses_scale else None)  # type: ignore[misc]
        with np.errstate(invalid="ignore", divide="ignore"):
            return (w @ loss) / w.sum(axis=1)


_RECORDS = (
    Metric(
        "pearson",
        pearson,
        greater_is_better=True,
        label="Pearson r",
        definition="Pearson product-moment correlation r between prediction and client rating",
        resampled=weighted_pearson,
    ),
    Metric(
        "spearman",
        spearman,
        greater_is_better=True,
        label="Spearman ρ",
        definition="Spearman rank correlation rho: Pearson r of mid-ranks (ties averaged)",
        resampled=weighted_spearman,
    ),
    Metric(
        "mse",
        mse,
        greater_is_better=False,
        label="MSE",
        definition="mean squared error, on the target's own scale",
        loss=_squared_error,
    ),
    Metric(
        "mae",
        mae,
        greater_is_better=False,
        label="MAE",
        definition="mean absolute error, on the target's own scale",
        loss=_absolute_error,
    ),
    Metric(
        "exact_accuracy",
        exact_accuracy,
        greater_is_better=True,
        label="exact",
        definition="share of sessions whose prediction, rounded half up (2.5 -> 3) and "
        "clipped to the item's scale, equals the client's rating",
        loss=_exact_hit,
        uses_scale=True,
    ),
    Metric(
        "within_one_accuracy",
        within_one_accuracy,
        greater_is_better=True,
        label="within ±1",
        definition="share of sessions whose rounded, clipped prediction is at most 1 "
        "point from the client's rating",
        loss=_within_one_hit,
        uses_scale=True,
    ),
    Metric(
        "rounded_mae",
        rounded_mae,
        greater_is_better=False,
        label="rounded MAE",
        definition="mean absolute error of the rounded, clipped prediction",
        loss=_rounded_absolute_error,
        uses_scale=True,
    ),
)

#: The built-in metrics by name, in report order.
METRICS: dict[str, Metric] = {record.name: record for record in _RECORDS}


# ------------------------------------------------------------------ metric resolving


@dataclass(frozen=True)
class _Resolved:
    name: str
    record: Metric | None  # None for a user callable
    fn: Callable[[np.ndarray, np.ndarray], float]


def _resolve(metric: str | Metric | Callable[..., float], scale: Scale | None) -> _Resolved:
    """A metric given by name, record, module function or any callable ``metric(y, p)``."""
    if isinstance(metric, Metric):
        record = metric
    elif isinstance(metric, str):
        if metric not in METRICS:
            raise ParameterError(
                f"parameter 'metric' must be one of {', '.join(METRICS)} or a callable "
                f"metric(y, p), got {metric!r}",
                fix="use one of the listed metric names",
            )
        record = METRICS[metric]
    elif callable(metric):
        found = next((r for r in METRICS.values() if r.function is metric), None)
        if found is None:
            label = getattr(metric, "__name__", None) or type(metric).__name__
            return _Resolved(label, None, metric)
        record = found
    else:
        raise ParameterError(
            f"parameter 'metric' must be a metric name or a callable metric(y, p), got {metric!r}",
            fix=f"use one of {', '.join(METRICS)}",
        )

    def fn(y: np.ndarray, p: np.ndarray) -> float:
        return record.value(y, p, scale)

    return _Resolved(record.name, record, fn)
