"""The statistics kit under every layer that measures: agreement metrics with confidence
intervals, client-grouped splits and small SVG charts.

It depends on nothing in care but :mod:`care.errors` (and on numpy, scipy and pandas), so
the assessors, training, evaluation, analysis and curation can all use it. The names below
are loaded on first use, so ``import care.stats.metrics`` (numpy only) stays cheap for the
command line.

* :mod:`care.stats.metrics`: correlations, errors and ordinal accuracies.
* :mod:`care.stats.bootstrap`: percentile (cluster) bootstrap intervals and paired
  comparisons of two systems, computed for all resamples at once
  (:mod:`care.stats.correlation` holds the weighted correlations this needs).
* :mod:`care.stats.tables`: a metric with its interval, score tables, fold summaries.
* :mod:`care.stats.calibration`: calibration curves over quantile bins of predictions.
* :mod:`care.stats.splits`: cross-validation folds that never put the same client on
  both sides, optionally stratified by score.
* :mod:`care.stats.plots`: self-contained SVG charts (bars, scatter, lines, histograms).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "PairedResult": "care.stats.bootstrap",
    "calibration_curve": "care.stats.calibration",
    "bootstrap_ci": "care.stats.bootstrap",
    "paired_bootstrap": "care.stats.bootstrap",
    "METRICS": "care.stats.metrics",
    "Metric": "care.stats.metrics",
    "exact_accuracy": "care.stats.metrics",
    "mae": "care.stats.metrics",
    "mse": "care.stats.metrics",
    "pearson": "care.stats.metrics",
    "round_to_scale": "care.stats.metrics",
    "rounded_mae": "care.stats.metrics",
    "spearman": "care.stats.metrics",
    "within_one_accuracy": "care.stats.metrics",
    "fold_assignments": "care.stats.splits",
    "grouped_kfold": "care.stats.splits",
    "DEFAULT_METRICS": "care.stats.tables",
    "MetricResult": "care.stats.tables",
    "fold_summary": "care.stats.tables",
    "score": "care.stats.tables",
    "score_table": "care.stats.tables",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the public names lazily (PEP 562)."""
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'care.stats' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
