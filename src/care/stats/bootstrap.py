"""Percentile bootstrap confidence intervals of the metrics, and paired comparisons.

:func:`bootstrap_ci` gives a percentile bootstrap interval. With ``groups`` (client ids),
it is a *cluster* bootstrap: each resample draws as many groups as there are, with
replacement, and takes all rows of every drawn group, so the interval reflects that
sessions of the same client are not independent. The built-in metrics are computed for
all resamples at once from per-row resampling weights (a resample is represented by how
many times each row was drawn), which makes 1000 resamples of thousands of rows take a
fraction of a second. Any other callable ``metric(y, p)`` also works, one resample at a
time.

:func:`paired_bootstrap` compares two systems on the same resamples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from care.errors import ParameterError
from care.stats.metrics import (
    ArrayLike,
    Scale,
    _as_float,
    _check_scale,
    _resolve,
    _Resolved,
)
from care.stats.splits import _group_codes

__all__ = ["PairedResult", "bootstrap_ci", "paired_bootstrap"]

# Resampling weights are built in chunks of at most this many (resample, row) cells.
_CHUNK_CELLS = 2_000_000


def _check_resampling(n_resamples: Any, confidence: Any) -> tuple[int, float]:
    if (
        isinstance(n_resamples, bool)
        or not isinstance(n_resamples, int | np.integer)
        or n_resamples < 1
    ):
        raise ParameterError(
            f"parameter 'n_resamples' must be a positive integer, got {n_resamples!r}",
            fix="pass n_resamples=1000 (the usual) or more for stable intervals",
        )
    try:
        conf = float(confidence)
    except (TypeError, ValueError):
        conf = math.nan
    if not 0.0 < conf < 1.0:
        raise ParameterError(
            f"parameter 'confidence' must be a number strictly between 0 and 1, got {confidence!r}",
            fix="pass e.g. confidence=0.95 for a 95% interval",
        )
    return int(n_resamples), conf


def _prepare(
    y: Any, preds: list[tuple[str, Any]], groups: Any
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray | None]:
    """Arrays with rows dropped where any input is NaN, and group codes of the kept rows."""
    ya = _as_float("y", y)
    pas = [_as_float(name, p) for name, p in preds]
    for (name, _), pa in zip(preds, pas, strict=True):
        if len(pa) != len(ya):
            raise ParameterError(
                f"parameters 'y' and '{name}' must have the same length, "
                f"got {len(ya)} and {len(pa)}",
                fix="pass one prediction for every true rating, in the same order",
            )
    codes = None
    if groups is not None:
        codes = _group_codes(groups)
        if len(codes) != len(ya):
            raise ParameterError(
                f"parameter 'groups' must have one group id per row: expected {len(ya)}, "
                f"got {len(codes)}",
                fix="pass the client id of every session, in the same order as 'y'",
            )
    keep = ~np.isnan(ya)
    for pa in pas:
        keep &= ~np.isnan(pa)
    if not keep.all():
        ya = ya[keep]
        pas = [pa[keep] for pa in pas]
        if codes is not None:
            codes = codes[keep]
    if codes is not None and len(codes):
        codes = np.unique(codes, return_inverse=True)[1].astype(np.intp)
    return ya, pas, codes


def _weight_chunks(
    n: int, codes: np.ndarray | None, n_resamples: int, seed: int
) -> Iterable[np.ndarray]:
    """Yield ``(chunk, n)`` float arrays: how often each row is in each resample."""
    rng = np.random.default_rng(seed)
    n_units = n if codes is None else int(codes.max()) + 1
    chunk = max(1, min(n_resamples, _CHUNK_CELLS // max(n, n_units, 1)))
    done = 0
    while done < n_resamples:
        b = min(chunk, n_resamples - done)
        draws = rng.integers(0, n_units, size=(b, n_units))
        offsets = (np.arange(b) * n_units)[:, None]
        counts = np.bincount((draws + offsets).ravel(), minlength=b * n_units).reshape(b, n_units)
        w = counts if codes is None else counts[:, codes]
        yield w.astype(float)
        done += b


def _replicates(
    metric: _Resolved, w: np.ndarray, y: np.ndarray, p: np.ndarray, scale: Scale | None
) -> np.ndarray:
    """The metric in every resample of a chunk of weights."""
    if metric.record is not None:
        return metric.record.in_resamples(w, y, p, scale)
    rows = np.arange(len(y))
    out = np.empty(len(w))
    for i, counts in enumerate(w.astype(np.intp)):
        idx = np.repeat(rows, counts)
        out[i] = float(metric.fn(y[idx], p[idx]))
    return out


def _percentile_interval(reps: np.ndarray, confidence: float) -> tuple[float, float]:
    reps = reps[np.isfinite(reps)]
    if not len(reps):
        return math.nan, math.nan
    alpha = 1.0 - confidence
    lo, hi = np.percentile(reps, [100.0 * alpha / 2.0, 100.0 * (1.0 - alpha / 2.0)])
    return float(lo), float(hi)


def bootstrap_ci(
    y: ArrayLike,
    p: ArrayLike,
    metric: str | Callable[..., float],
    *,
    groups: Sequence[Any] | np.ndarray | pd.Series | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    scale: Scale | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``metric(y, p)``.

    Rows where ``y`` or ``p`` is NaN are dropped first. Each resample draws rows with
    replacement, or, when ``groups`` is given, draws whole groups with replacement (as
    many draws as there are groups) and takes all rows of each drawn group (cluster
    bootstrap). The interval is given by the ``(1 - confidence) / 2`` and
    ``(1 + confidence) / 2`` percentiles of the metric over the resamples; resamples in
    which the metric is undefined (e.g. a constant resample for a correlation) are left
    out.

    Args:
        y: True values.
        p: Predicted values.
        metric: A name from :data:`~care.stats.metrics.METRICS`, a
            :class:`~care.stats.metrics.Metric` record or one of their functions (all
            computed for all resamples at once), or any callable
            ``metric(y, p) -> float`` (called once per resample).
        groups: Optional group (client) id per row for the cluster bootstrap. Missing
            ids each form a group of their own.
        n_resamples: Number of bootstrap resamples.
        confidence: Coverage of the interval, strictly between 0 and 1.
        seed: Random seed; the same inputs and seed give the same interval.
        scale: ``(min, max)`` of the rating scale for the rounded metrics.

    Returns:
        ``(low, high)``; ``(nan, nan)`` when no row is left or the metric is undefined
        in every resample.

    Raises:
        ParameterError: For an unknown metric, mismatched lengths or invalid settings.
    """
    n_resamples, confidence = _check_resampling(n_resamples, confidence)
    scale = _check_scale(scale)
    m = _resolve(metric, scale)
    ya, (pa,), codes = _prepare(y, [("p", p)], groups)
    if not len(ya):
        return math.nan, math.nan
    reps = np.concatenate(
        [
            _replicates(m, w, ya, pa, scale)
            for w in _weight_chunks(len(ya), codes, n_resamples, seed)
        ]
    )
    return _percentile_interval(reps, confidence)


@dataclass(frozen=True)
class PairedResult:
    """Outcome of :func:`paired_bootstrap`.

    Attributes:
        delta: ``metric(y, p_a) - metric(y, p_b)`` on the data. For error metrics (mse,
            mae, rounded_mae) a negative delta means A is better; for correlations and
            accuracies a positive one does.
        ci_low: Lower end of the percentile bootstrap interval of the difference.
        ci_high: Upper end of that interval.
        p_value: Two-sided bootstrap p-value for "no difference".
    """

    delta: float
    ci_low: float
    ci_high: float
    p_value: float


def paired_bootstrap(
    y: ArrayLike,
    p_a: ArrayLike,
    p_b: ArrayLike,
    metric: str | Callable[..., float],
    *,
    groups: Sequence[Any] | np.ndarray | pd.Series | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    scale: Scale | None = None,
) -> PairedResult:
    """Paired bootstrap comparison of two systems A and B scored against the same truth.

    Rows where ``y``, ``p_a`` or ``p_b`` is NaN are dropped, so both systems are scored
    on the same rows. Both systems are scored on the *same* resamples (rows, or whole
    groups when ``groups`` is given), giving a bootstrap distribution of the difference
    ``d* = metric(A) - metric(B)``.

    Method: the interval is the percentile interval of ``d*``. The two-sided p-value is
    ``min(1, 2 * min(k_le, k_ge))`` where ``k_le = (1 + #{d* <= 0}) / (1 + B)`` and
    ``k_ge = (1 + #{d* >= 0}) / (1 + B)`` over the ``B`` resamples where the difference is
    defined: the smallest ``alpha`` for which the percentile interval at level
    ``1 - alpha`` excludes 0, with the usual +1 correction so it is never exactly 0. Its
    resolution is about ``2 / n_resamples``. Identical systems get p = 1.

    Args:
        y: True values.
        p_a: Predictions of system A.
        p_b: Predictions of system B.
        metric: A metric name, module metric function, or callable ``metric(y, p)``.
        groups: Optional group (client) ids for a cluster bootstrap.
        n_resamples: Number of bootstrap resamples.
        confidence: Coverage of the interval of the difference.
        seed: Random seed (deterministic).
        scale: ``(min, max)`` of the rating scale for the rounded metrics.

    Returns:
        A :class:`PairedResult`; all NaN when no row is left.

    Raises:
        ParameterError: For an unknown metric, mismatched lengths or invalid settings.
    """
    n_resamples, confidence = _check_resampling(n_resamples, confidence)
    scale = _check_scale(scale)
    m = _resolve(metric, scale)
    ya, (pa, pb), codes = _prepare(y, [("p_a", p_a), ("p_b", p_b)], groups)
    if not len(ya):
        return PairedResult(math.nan, math.nan, math.nan, math.nan)
    delta = float(m.fn(ya, pa)) - float(m.fn(ya, pb))
    diffs = np.concatenate(
        [
            _replicates(m, w, ya, pa, scale) - _replicates(m, w, ya, pb, scale)
            for w in _weight_chunks(len(ya), codes, n_resamples, seed)
        ]
    )
    diffs = diffs[np.isfinite(diffs)]
    if not len(diffs):
        return PairedResult(delta, math.nan, math.nan, math.nan)
    low, high = _percentile_interval(diffs, confidence)
    n = len(diffs)
    k_le = (1.0 + np.count_nonzero(diffs <= 0.0)) / (n + 1.0)
    k_ge = (1.0 + np.count_nonzero(diffs >= 0.0)) / (n + 1.0)
    p_value = min(1.0, 2.0 * min(k_le, k_ge))
    return PairedResult(delta, low, high, float(p_value))
