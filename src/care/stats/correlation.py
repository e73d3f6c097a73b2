"""Pearson and Spearman correlations under resampling weights, for every resample at once.

A bootstrap resample is represented by how many times each row was drawn (a row of
weights); these functions compute the correlation for a whole chunk of resamples with a
few matrix products instead of one call per resample.
"""

from __future__ import annotations

import numpy as np

__all__ = ["weighted_pearson", "weighted_spearman"]


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


def weighted_pearson(w: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
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


def weighted_spearman(w: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
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
