"""Agreement between predicted and true ratings, with bootstrap confidence intervals.

Point metrics
    :func:`pearson`, :func:`spearman`, :func:`mse` and :func:`mae` compare two 1-D
    arrays of numbers (item ratings, dimension scores or totals). For ordinal items,
    :func:`exact_accuracy`, :func:`within_one_accuracy` and :func:`rounded_mae` first
    round each prediction half up (2.5 -> 3) and, when ``scale=(min, max)`` is given,
    clip it to the scale; the truth is used as given.

    Conventions shared by all metrics:

    * Pairs in which the truth or the prediction is NaN are dropped before computing.
    * With no pair left, every metric is NaN.
    * The correlations are NaN when fewer than 2 pairs remain or either side is constant
      (a correlation is undefined there); no warning is emitted.

Confidence intervals
    :func:`bootstrap_ci` gives a percentile bootstrap interval. With ``groups`` (client
    ids), it is a *cluster* bootstrap: each resample draws as many groups as there are,
    with replacement, and takes all rows of every drawn group, so the interval reflects
    that sessions of the same client are not independent. The built-in metrics are
    computed for all resamples at once from per-row resampling weights (a resample is
    represented by how many times each row was drawn), which makes 1000 resamples of
    thousands of rows take a fraction of a second. Any other callable ``metric(y, p)``
    also works, one resample at a time.

    :func:`paired_bootstrap` compares two systems on the same resamples.

Tables
    :func:`score_table` scores every shared column of a truth and a prediction frame,
    and :func:`fold_summary` reports mean and SD of per-fold scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from care.errors import ParameterError
from care.stats.splits import _group_codes

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "MetricResult",
    "PairedResult",
    "bootstrap_ci",
    "exact_accuracy",
    "fold_summary",
    "mae",
    "mse",
    "paired_bootstrap",
    "pearson",
    "round_to_scale",
    "rounded_mae",
    "score",
    "score_table",
    "spearman",
    "within_one_accuracy",
]

ArrayLike = Sequence[float] | np.ndarray | pd.Series
Scale = tuple[float, float]
MetricFn = Callable[[np.ndarray, np.ndarray], float]

#: Metrics reported by :func:`score_table` by default.
DEFAULT_METRICS: tuple[str, ...] = ("pearson", "spearman", "mse", "mae")

# Resampling weights are built in chunks of at most this many (resample, row) cells.
_CHUNK_CELLS = 2_000_000


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


# ------------------------------------------------------------------------- bootstrap


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


def _constant_under(w: np.ndarray, x: np.ndarray, suspect: np.ndarray) -> np.ndarray:
    """For resamples flagged as ``suspect``, whether ``x`` is constant on their rows."""
    out = np.zeros(len(w), dtype=bool)
    idx = np.flatnonzero(suspect)
    if len(idx):
        used = w[idx] > 0
        hi = np.where(used, x, -np.inf).max(axis=1)
        lo = np.where(used, x, np.inf).min(axis=1)
        out[idx] = hi == lo
    return out


def _weighted_pearson(w: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``a`` and ``b`` (1-D, length n) under each row of weights."""
    a = a - a.mean()
    b = b - b.mean()
    total = w.sum(axis=1)
    sums = w @ np.column_stack([a, b, a * a, b * b, a * b])
    with np.errstate(invalid="ignore", divide="ignore"):
        sums /= total[:, None]
        ma, mb = sums[:, 0], sums[:, 1]
        va = sums[:, 2] - ma * ma
        vb = sums[:, 3] - mb * mb
        cov = sums[:, 4] - ma * mb
        # Flag resamples whose variance is (numerically) zero and check them exactly.
        sa = float(np.max(np.abs(a))) if len(a) else 0.0
        sb = float(np.max(np.abs(b))) if len(b) else 0.0
        const = _constant_under(w, a, va <= 1e-10 * sa * sa) | _constant_under(
            w, b, vb <= 1e-10 * sb * sb
        )
        r = cov / np.sqrt(np.maximum(va, 0.0) * np.maximum(vb, 0.0))
    r = np.clip(r, -1.0, 1.0)
    r[const | (total < 2)] = np.nan
    return r


def _weighted_midranks(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mid-ranks of every row of ``x`` in each weighted resample (ties averaged)."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    tie_of_sorted = np.cumsum(np.r_[True, xs[1:] != xs[:-1]]) - 1
    tie_of_row = np.empty(len(x), dtype=np.intp)
    tie_of_row[order] = tie_of_sorted
    tie_weight = np.add.reduceat(w[:, order], starts, axis=1)  # (B, n_ties)
    before = np.cumsum(tie_weight, axis=1) - tie_weight
    mid = before + (tie_weight + 1.0) / 2.0
    return mid[:, tie_of_row]


def _weighted_spearman(w: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Spearman correlation of ``y`` and ``p`` under each row of weights."""
    total = w.sum(axis=1)
    centre = ((total + 1.0) / 2.0)[:, None]  # the weighted mean of mid-ranks
    ry = _weighted_midranks(w, y) - centre
    rp = _weighted_midranks(w, p) - centre
    wry = w * ry
    vy = np.einsum("ij,ij->i", wry, ry)
    vp = np.einsum("ij,ij->i", w * rp, rp)
    cov = np.einsum("ij,ij->i", wry, rp)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = cov / np.sqrt(vy * vp)
    r = np.clip(r, -1.0, 1.0)
    # vy = W * rank variance: >= W (W - 1) / 4 >= 0.5 unless constant (then 0).
    r[(vy < 0.1) | (vp < 0.1) | (total < 2)] = np.nan
    return r


def _replicates(
    metric: _Metric, w: np.ndarray, y: np.ndarray, p: np.ndarray, scale: Scale | None
) -> np.ndarray:
    """The metric in every resample of a chunk of weights."""
    if metric.builtin == "pearson":
        return _weighted_pearson(w, y, p)
    if metric.builtin == "spearman":
        return _weighted_spearman(w, y, p)
    if metric.builtin is not None:
        loss = _row_loss(metric.builtin, y, p, scale)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (w @ loss) / w.sum(axis=1)
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
        metric: A name from :data:`METRICS`, one of the metric functions of this module
            (both computed for all resamples at once), or any callable
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


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class MetricResult:
    """A metric with its bootstrap confidence interval.

    Attributes:
        name: The metric's name, e.g. ``"pearson"``.
        value: The metric on all (non-NaN) pairs.
        ci_low: Lower end of the bootstrap interval (NaN when not computed).
        ci_high: Upper end of the bootstrap interval (NaN when not computed).
        n: Number of pairs the metric was computed on (after dropping NaN pairs).
    """

    name: str
    value: float
    ci_low: float
    ci_high: float
    n: int


def score(
    y: ArrayLike,
    p: ArrayLike,
    metric: str | Callable[..., float],
    *,
    groups: Sequence[Any] | np.ndarray | pd.Series | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    scale: Scale | None = None,
) -> MetricResult:
    """A metric with its (cluster) bootstrap confidence interval, as a :class:`MetricResult`.

    Same arguments as :func:`bootstrap_ci`; ``n_resamples=0`` skips the interval (NaN).
    """
    if n_resamples == 0 and not isinstance(n_resamples, bool):
        _check_resampling(1, confidence)
    else:
        _check_resampling(n_resamples, confidence)
    scale = _check_scale(scale)
    m = _resolve(metric, scale)
    ya, (pa,), _ = _prepare(y, [("p", p)], groups)
    value = float(m.fn(ya, pa)) if len(ya) else math.nan
    if n_resamples == 0:
        low, high = math.nan, math.nan
    else:
        low, high = bootstrap_ci(
            y,
            p,
            metric,
            groups=groups,
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
            scale=scale,
        )
    return MetricResult(m.name, value, low, high, len(ya))


def _align_groups(groups: Any, truth_index: pd.Index, common: pd.Index) -> np.ndarray | None:
    if groups is None:
        return None
    if isinstance(groups, pd.Series):
        if groups.index.has_duplicates:
            raise ParameterError(
                "parameter 'groups' has duplicate session ids in its index",
                fix="give each session id one client id",
            )
        return groups.reindex(common).to_numpy(dtype=object)
    if isinstance(groups, Mapping):
        return np.array([groups.get(key) for key in common], dtype=object)
    values = np.asarray(groups, dtype=object)
    if values.ndim != 1 or len(values) != len(truth_index):
        raise ParameterError(
            f"parameter 'groups' must be a pandas Series or mapping from session id to client "
            f"id, or have one entry per row of 'truth' ({len(truth_index)}), got "
            f"{values.shape[0] if values.ndim else 'a scalar'}",
            fix="pass a Series indexed by session id holding each session's client id",
        )
    return pd.Series(values, index=truth_index).reindex(common).to_numpy(dtype=object)


def score_table(
    truth: pd.DataFrame,
    pred: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    groups: pd.Series | Mapping[Any, Any] | Sequence[Any] | np.ndarray | None = None,
    metrics: Sequence[str | Callable[..., float]] = DEFAULT_METRICS,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    scale: Scale | Mapping[str, Scale] | None = None,
) -> pd.DataFrame:
    """Score every target column with every metric, with bootstrap intervals.

    Rows are aligned on the index (the session id); only sessions present in both
    frames are scored, and within each column pairs with a NaN are dropped.

    Args:
        truth: True values, one row per session, one column per target (items,
            dimensions, total).
        pred: Predictions with the same kind of index and columns.
        columns: The targets to score; by default every column the frames share, in
            the order of ``truth``.
        groups: Client id of each session for the cluster bootstrap: a Series or
            mapping from session id to client id, or a sequence aligned with the rows
            of ``truth``. Sessions without a client id each count as their own client.
        metrics: Metric names from :data:`METRICS` (or callables ``metric(y, p)``).
        n_resamples: Bootstrap resamples per interval; 0 skips the intervals.
        seed: Random seed (deterministic).
        confidence: Coverage of the intervals.
        scale: ``(min, max)`` rating scale for the rounded metrics, or a mapping from
            column to scale (columns not in it are rounded without clipping).

    Returns:
        A long-format frame with columns ``target, metric, value, ci_low, ci_high, n``,
        one row per target and metric.

    Raises:
        ParameterError: If the frames share no sessions or no columns, an index has
            duplicates, a requested column is missing, or a setting is invalid.
    """
    for name, frame in (("truth", truth), ("pred", pred)):
        if not isinstance(frame, pd.DataFrame):
            raise ParameterError(
                f"parameter '{name}' must be a pandas DataFrame, got {type(frame).__name__}",
                fix="pass one row per session (indexed by session id), one column per target",
            )
        if frame.index.has_duplicates:
            dup = frame.index[frame.index.duplicated()][0]
            raise ParameterError(
                f"parameter '{name}' has duplicate session ids in its index, e.g. {dup!r}",
                fix="give each session one row, indexed by a unique session id",
            )
    common = truth.index[truth.index.isin(pred.index)]
    if not len(common):
        raise ParameterError(
            "parameters 'truth' and 'pred' share no session ids in their index",
            fix="index both frames by session id so that rows can be matched",
        )
    if columns is None:
        columns = [c for c in truth.columns if c in pred.columns]
        if not columns:
            raise ParameterError(
                "parameters 'truth' and 'pred' share no columns",
                fix="name the prediction columns like the truth columns, or pass 'columns'",
            )
    else:
        columns = list(columns)
        missing = [c for c in columns if c not in truth.columns or c not in pred.columns]
        if missing:
            raise ParameterError(
                f"parameter 'columns' names columns missing from 'truth' or 'pred': "
                f"{', '.join(map(str, missing))}",
                fix="pass only columns present in both frames",
            )
    for metric in metrics:
        _resolve(metric, None)  # fail early on unknown metric names
    group_values = _align_groups(groups, truth.index, common)
    t = truth.loc[common]
    q = pred.loc[common]
    rows: list[dict[str, Any]] = []
    for column in columns:
        col_scale = scale.get(column) if isinstance(scale, Mapping) else scale
        y = _as_float(f"truth[{column!r}]", t[column])
        p = _as_float(f"pred[{column!r}]", q[column])
        for metric in metrics:
            res = score(
                y,
                p,
                metric,
                groups=group_values,
                n_resamples=n_resamples,
                confidence=confidence,
                seed=seed,
                scale=col_scale,
            )
            rows.append(
                {
                    "target": column,
                    "metric": res.name,
                    "value": res.value,
                    "ci_low": res.ci_low,
                    "ci_high": res.ci_high,
                    "n": res.n,
                }
            )
    return pd.DataFrame(rows, columns=["target", "metric", "value", "ci_low", "ci_high", "n"])


def fold_summary(per_fold: Sequence[Mapping[str, float]]) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation of each metric across cross-validation folds.

    Args:
        per_fold: One mapping ``metric name -> value`` per fold.

    Returns:
        ``{name: (mean, sd)}`` in order of first appearance. The SD is the sample SD
        (``ddof=1``), as usually reported as "mean ± SD" over folds. NaN values (and
        folds lacking the metric) are ignored; with fewer than 2 values the SD is NaN,
        and with none both are NaN.
    """
    names: list[str] = []
    for fold in per_fold:
        names.extend(k for k in fold if k not in names)
    out: dict[str, tuple[float, float]] = {}
    for name in names:
        values = np.array([float(f[name]) for f in per_fold if name in f], dtype=float)
        values = values[~np.isnan(values)]
        mean = float(values.mean()) if len(values) else math.nan
        sd = float(values.std(ddof=1)) if len(values) >= 2 else math.nan
        out[name] = (mean, sd)
    return out
