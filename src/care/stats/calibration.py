"""Calibration: mean prediction against mean true rating, per quantile bin of predictions."""

from __future__ import annotations

import numpy as np

__all__ = ["calibration_curve"]


def calibration_curve(
    truth: np.ndarray, predicted: np.ndarray, n_bins: int = 10, min_per_bin: int = 10
) -> tuple[list[float], list[float], list[int]]:
    """Mean prediction and mean client rating per quantile bin of the predictions.

    Pairs with a NaN are left out. The number of bins is at most ``n_bins`` and at most
    one per ``min_per_bin`` pairs (at least 1); equal bin edges are merged, so a constant
    prediction gives one point.

    Returns:
        ``(mean predicted, mean client rating, pairs)`` per bin, in order of prediction.
    """
    y = np.asarray(truth, dtype=float)
    p = np.asarray(predicted, dtype=float)
    keep = ~(np.isnan(y) | np.isnan(p))
    y, p = y[keep], p[keep]
    if not len(p):
        return [], [], []
    bins = max(1, min(n_bins, len(p) // max(min_per_bin, 1)))
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    labels = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    xs, ys, ns = [], [], []
    for label in np.unique(labels):
        mask = labels == label
        xs.append(float(p[mask].mean()))
        ys.append(float(y[mask].mean()))
        ns.append(int(mask.sum()))
    return xs, ys, ns
