"""Prediction-powered inference (PPI++) for means and OLS coefficients, clustered by client.

A few sessions carry the clients' own ratings ``y``; every session has a model's prediction
``f``. Prediction-powered inference (Angelopoulos et al., Science 2023; the power-tuned
PPI++ of Angelopoulos, Duchi and Zrnic, 2023) estimates a corpus quantity from both: the
predictions of the unrated sessions, corrected by the model's error measured on the rated
ones. For OLS of a score on covariates ``x`` the estimate solves

    λ·mean_unrated[x(x'θ - f)] + mean_rated[x(x'θ - y)] - λ·mean_rated[x(x'θ - f)] = 0,

which is ``θ = (λ·H_u + (1 - λ)·H_r)⁻¹ (λ·mean_u[x f] + mean_r[x (y - λ f)])`` with
``H = mean[x x']``; a mean is the regression on a constant. ``λ = 0`` is the classical
estimate from the rated sessions alone, ``λ = 1`` plain PPI, and by default ``λ`` in
``[0, 1]`` minimises the estimated variance (the sum over coefficients), as in ``ppi_py``.

The interval is the normal one with a sandwich variance from the estimating equation's
per-session gradients. Sessions of one client are not independent (clients are the unit of
exchangeability), so the gradients are summed per client before their variance is taken:
a client may have sessions among the rated and the unrated ones, and the covariance that
brings is counted. Each sample's part has the small-sample factor ``G / (G - 1)`` of its
``G`` clients. Where every client has one session this is ``ppi_py``'s interval (its
``ppi_ols_ci`` exactly; its means differ by that factor only, as its variances there
divide by ``n``); the tests check the agreement on fixed data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm


@dataclass(frozen=True)
class Estimate:
    """An estimate with its confidence interval.

    Attributes:
        estimate: The point estimate per coefficient (a mean: one value).
        low: Lower ends of the intervals.
        high: Upper ends (NaN where the variance cannot be estimated: fewer than two
            clients in a sample that contributes).
        se: Standard errors.
        lam: The power-tuning weight of the predictions (0: the rated sessions alone).
        level: The intervals' coverage.
    """

    estimate: np.ndarray
    low: np.ndarray
    high: np.ndarray
    se: np.ndarray
    lam: float
    level: float

    def interval(self, index: int = 0) -> tuple[float, float]:
        """``(low, high)`` of one coefficient."""
        return float(self.low[index]), float(self.high[index])


def _as_matrix(x: np.ndarray | None, n: int) -> np.ndarray:
    """Covariates as an ``n x d`` float matrix; None is the constant (a mean)."""
    if x is None:
        return np.ones((n, 1))
    x = np.asarray(x, dtype=float)
    return x.reshape(n, -1)


def _clusters(
    rated: Sequence[object] | None, unrated: Sequence[object] | None, n: int, m: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Integer cluster codes of the rated and the unrated sessions (shared where a client
    has sessions in both) and the number of clusters; None: each session its own."""
    left = list(rated) if rated is not None else [("rated", i) for i in range(n)]
    right = list(unrated) if unrated is not None else [("unrated", i) for i in range(m)]
    if len(left) != n or len(right) != m:
        raise ValueError("one cluster label per session is needed")
    codes: dict[object, int] = {}
    both = np.array([codes.setdefault(label, len(codes)) for label in left + right], dtype=int)
    return both[:n], both[n:], len(codes)


def _cluster_sums(values: np.ndarray, codes: np.ndarray, n_clusters: int) -> np.ndarray:
    """Per-cluster column sums of ``values`` (rows are sessions)."""
    sums = np.zeros((n_clusters, values.shape[1]))
    np.add.at(sums, codes, values)
    return sums


def _scaled_influence(
    gradients: np.ndarray, codes: np.ndarray, n_clusters: int
) -> np.ndarray | None:
    """A sample's centred mean gradient as per-cluster sums, with its ``G/(G-1)`` factor
    folded in (None where the sample has fewer than two clusters)."""
    size = len(gradients)
    distinct = len(np.unique(codes))
    if distinct < 2:
        return None
    centred = (gradients - gradients.mean(axis=0)) / size
    return _cluster_sums(centred, codes, n_clusters) * np.sqrt(distinct / (distinct - 1))


def _solve(
    x_r: np.ndarray, y: np.ndarray, f_r: np.ndarray, x_u: np.ndarray, f_u: np.ndarray, lam: float
) -> tuple[np.ndarray, np.ndarray]:
    """The estimate at ``lam`` and the Hessian ``λ·H_u + (1 - λ)·H_r``."""
    hessian = (1 - lam) * (x_r.T @ x_r) / len(x_r)
    moment = x_r.T @ (y - lam * f_r) / len(x_r)
    if lam:
        hessian = hessian + lam * (x_u.T @ x_u) / len(x_u)
        moment = moment + lam * (x_u.T @ f_u) / len(x_u)
    return np.linalg.solve(hessian, moment), hessian


def _influence_parts(
    theta: np.ndarray,
    hessian: np.ndarray,
    x_r: np.ndarray,
    y: np.ndarray,
    f_r: np.ndarray,
    x_u: np.ndarray,
    f_u: np.ndarray,
    codes: tuple[np.ndarray, np.ndarray, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster influence of the estimate as ``A + λ·B`` (rows clusters, columns
    coefficients), from the gradients at ``theta``: ``A`` the rated sessions' loss on
    their ratings, ``B`` the predictions' part (unrated minus rated)."""
    codes_r, codes_u, n_clusters = codes
    inverse = np.linalg.inv(hessian)
    d = x_r.shape[1]
    nan = np.full((n_clusters, d), np.nan)
    on_ratings = _scaled_influence(x_r * (x_r @ theta - y)[:, None], codes_r, n_clusters)
    on_predictions_r = _scaled_influence(x_r * (x_r @ theta - f_r)[:, None], codes_r, n_clusters)
    on_predictions_u = (
        _scaled_influence(x_u * (x_u @ theta - f_u)[:, None], codes_u, n_clusters)
        if len(x_u)
        else np.zeros((n_clusters, d))
    )
    a = nan if on_ratings is None else -on_ratings @ inverse.T
    if on_predictions_r is None or on_predictions_u is None:
        return a, nan
    b = -(on_predictions_u - on_predictions_r) @ inverse.T
    return a, b


def _tuned_lambda(a: np.ndarray, b: np.ndarray) -> float:
    """The ``λ`` in [0, 1] that minimises the summed variance ``Σ_c |a_c + λ b_c|²``."""
    denominator = float(np.sum(b * b))
    if not np.isfinite(denominator) or denominator <= 0 or not np.all(np.isfinite(a)):
        return 0.0
    return float(np.clip(-np.sum(a * b) / denominator, 0.0, 1.0))


def ppi_ols(
    x_rated: np.ndarray | None,
    y: np.ndarray,
    f_rated: np.ndarray,
    x_unrated: np.ndarray | None,
    f_unrated: np.ndarray,
    *,
    clusters_rated: Sequence[object] | None = None,
    clusters_unrated: Sequence[object] | None = None,
    level: float = 0.95,
    lam: float | None = None,
) -> Estimate:
    """Prediction-powered OLS coefficients of a score on covariates (see the module).

    Args:
        x_rated: Covariates of the rated sessions (``n x d``, with a constant column where
            wanted); None: the constant alone (a mean).
        y: The clients' ratings (``n``).
        f_rated: The predictions for the rated sessions (``n``).
        x_unrated: Covariates of the unrated sessions (``m x d``; None: the constant).
        f_unrated: The predictions for the unrated sessions (``m``).
        clusters_rated: A client label per rated session (None: every session its own).
        clusters_unrated: A client label per unrated session; a label shared with a rated
            session is the same client.
        level: Coverage of the two-sided intervals.
        lam: The weight of the predictions; None tunes it (PPI++), 0 is the classical
            estimate from the rated sessions, 1 plain PPI.
    """
    y = np.asarray(y, dtype=float).ravel()
    f_r = np.asarray(f_rated, dtype=float).ravel()
    f_u = np.asarray(f_unrated, dtype=float).ravel()
    n, m = len(y), len(f_u)
    if len(f_r) != n or n == 0:
        raise ValueError("the rated sessions need one rating and one prediction each")
    if m == 0 and lam != 0:
        raise ValueError("prediction-powered inference needs unrated sessions (or lam=0)")
    x_r, x_u = _as_matrix(x_rated, n), _as_matrix(x_unrated, m)
    codes = _clusters(clusters_rated, clusters_unrated, n, m)
    if lam is None:
        theta, hessian = _solve(x_r, y, f_r, x_u, f_u, 1.0)
        lam = _tuned_lambda(*_influence_parts(theta, hessian, x_r, y, f_r, x_u, f_u, codes))
    theta, hessian = _solve(x_r, y, f_r, x_u, f_u, lam)
    a, b = _influence_parts(theta, hessian, x_r, y, f_r, x_u, f_u, codes)
    influence = a + lam * b if lam else a
    se = np.sqrt(np.sum(influence**2, axis=0))
    z = norm.ppf(0.5 + level / 2)
    return Estimate(theta, theta - z * se, theta + z * se, se, float(lam), level)


def ppi_mean(
    y: np.ndarray,
    f_rated: np.ndarray,
    f_unrated: np.ndarray,
    *,
    clusters_rated: Sequence[object] | None = None,
    clusters_unrated: Sequence[object] | None = None,
    level: float = 0.95,
    lam: float | None = None,
) -> Estimate:
    """Prediction-powered mean of a score: :func:`ppi_ols` on the constant."""
    return ppi_ols(
        None,
        y,
        f_rated,
        None,
        f_unrated,
        clusters_rated=clusters_rated,
        clusters_unrated=clusters_unrated,
        level=level,
        lam=lam,
    )


def classical_ols(
    x: np.ndarray | None,
    y: np.ndarray,
    *,
    clusters: Sequence[object] | None = None,
    level: float = 0.95,
) -> Estimate:
    """OLS with a client-clustered sandwich interval (:func:`ppi_ols` at ``λ = 0``).

    On the clients' ratings of the rated sessions this is the rated-only interval; on the
    predictions of every session it is the naive one, which takes predictions for ratings.
    """
    values = np.asarray(y, dtype=float).ravel()
    return ppi_ols(
        x,
        values,
        values,
        None,
        np.empty(0),
        clusters_rated=clusters,
        clusters_unrated=[],
        level=level,
        lam=0.0,
    )


def classical_mean(
    y: np.ndarray, *, clusters: Sequence[object] | None = None, level: float = 0.95
) -> Estimate:
    """The mean with a client-clustered interval (:func:`classical_ols` on the constant)."""
    return classical_ols(None, y, clusters=clusters, level=level)
