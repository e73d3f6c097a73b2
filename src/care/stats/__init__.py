"""The statistics kit under every layer that measures: agreement metrics with confidence
intervals, client-grouped splits and small SVG charts.

It depends on nothing in care but :mod:`care.errors` (and on numpy, scipy and pandas), so
the assessors, training, evaluation, analysis and curation can all use it.

* :mod:`care.stats.metrics`: correlations, errors and ordinal accuracies.
* :mod:`care.stats.bootstrap`: percentile (cluster) bootstrap intervals and paired
  comparisons of two systems, computed for all resamples at once
  (:mod:`care.stats.correlation` holds the weighted correlations this needs).
* :mod:`care.stats.tables`: a metric with its interval, score tables, fold summaries.
* :mod:`care.stats.splits`: cross-validation folds that never put the same client on
  both sides, optionally stratified by score.
* :mod:`care.stats.plots`: self-contained SVG charts (bars, scatter, lines, histograms).
"""

from care.stats.bootstrap import PairedResult, bootstrap_ci, paired_bootstrap
from care.stats.metrics import (
    METRICS,
    exact_accuracy,
    mae,
    mse,
    pearson,
    round_to_scale,
    rounded_mae,
    spearman,
    within_one_accuracy,
)
from care.stats.splits import fold_assignments, grouped_kfold
from care.stats.tables import DEFAULT_METRICS, MetricResult, fold_summary, score, score_table

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
