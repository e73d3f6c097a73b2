"""Multi-output ridge regression in numpy, on standardised dense features.

Used by the baselines and as a building block of the built-in model; no scikit-learn
needed at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from care.features.length import column_stats, standardize


@dataclass
class RidgeModel:
    """A fitted multi-output ridge regression ``y = ((x - mean) / scale) @ coef + intercept``."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Predictions, one row per row of ``features`` (missing features count as the
        training mean). Each row is computed on its own (an elementwise product and sum, not
        a matrix product whose blocking depends on the batch), so a session gets the same
        score to the last bit whatever batch it is in."""
        standardized = standardize(features, self.mean, self.scale)
        return (standardized[:, :, None] * self.coef[None, :, :]).sum(axis=1) + self.intercept


def fit_ridge(features: np.ndarray, targets: np.ndarray, alpha: float = 1.0) -> RidgeModel:
    """Fit ridge regression of each target column on standardised features.

    NaN targets are ignored per column (each column is fitted on its own rows); NaN
    features count as the column mean.
    """
    features = np.asarray(features, dtype=float)
    targets = np.asarray(targets, dtype=float)
    if targets.ndim == 1:
        targets = targets[:, None]
    mean, scale = column_stats(features)
    standard = standardize(features, mean, scale)
    n_features = standard.shape[1]
    coef = np.zeros((n_features, targets.shape[1]))
    intercept = np.zeros(targets.shape[1])
    for column in range(targets.shape[1]):
        rows = ~np.isnan(targets[:, column])
        if not rows.any():
            intercept[column] = np.nan
            continue
        x = standard[rows]
        y = targets[rows, column]
        x_mean = x.mean(axis=0)
        y_mean = y.mean()
        centred = x - x_mean
        gram = centred.T @ centred + alpha * np.eye(n_features)
        coef[:, column] = np.linalg.solve(gram, centred.T @ (y - y_mean))
        intercept[column] = y_mean - x_mean @ coef[:, column]
    return RidgeModel(mean=mean, scale=scale, coef=coef, intercept=intercept)
