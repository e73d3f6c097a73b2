"""Honest evaluation: agreement metrics with confidence intervals, client-grouped splits.

* :mod:`care.evaluate.metrics`: correlations, errors and ordinal accuracies, percentile
  (cluster) bootstrap intervals, paired comparisons of two systems, score tables.
* :mod:`care.evaluate.splits`: cross-validation folds that never put the same client on
  both sides, optionally stratified by score.
"""

from care.evaluate.metrics import (
    DEFAULT_METRICS,
    METRICS,
    MetricResult,
    PairedResult,
    bootstrap_ci,
    exact_accuracy,
    fold_summary,
    mae,
    mse,
    paired_bootstrap,
    pearson,
    round_to_scale,
    rounded_mae,
    score,
    score_table,
    spearman,
    within_one_accuracy,
)
from care.evaluate.splits import fold_assignments, grouped_kfold

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "MetricResult",
    "PairedResult",
    "bootstrap_ci",
    "exact_accuracy",
    "fold_assignments",
    "fold_summary",
    "grouped_kfold",
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
