"""Score tables: a metric with its interval, every target with every metric, fold summaries.

:func:`score_table` scores every shared column of a truth and a prediction frame, and
:func:`fold_summary` reports mean and SD of per-fold scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from care.errors import ParameterError
from care.stats.bootstrap import _check_resampling, _prepare, bootstrap_ci
from care.stats.metrics import METRICS, ArrayLike, Scale, _as_float, _check_scale, _resolve

__all__ = ["DEFAULT_METRICS", "MetricResult", "fold_summary", "score", "score_table"]

#: Metrics reported by :func:`score_table` by default: those that do not round to a scale.
DEFAULT_METRICS: tuple[str, ...] = tuple(
    name for name, record in METRICS.items() if not record.uses_scale
)


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
        metrics: Metric names from :data:`~care.stats.metrics.METRICS` (or callables
            ``metric(y, p)``).
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
