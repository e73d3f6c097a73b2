"""Summaries of a cross-validation: agreement with client ratings, with cluster-bootstrap
confidence intervals and the length-only baseline beside every figure."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from care.assessors.lite.fit import CrossValidation
from care.instruments import Instrument
from care.instruments.scoring import score_matrix
from care.stats import (
    bootstrap_ci,
    exact_accuracy,
    mse,
    pearson,
    rounded_mae,
    within_one_accuracy,
)


def score_columns(values: np.ndarray, item_ids: list[str], instrument: Instrument) -> pd.DataFrame:
    """Dimension scores, the total and any separately scaled items (such as KokoroChat's
    0-100 overall score) from a (sessions x items) array, by the instrument's key (reverse
    keying included)."""
    columns = score_matrix(instrument, np.asarray(values, dtype=float), item_ids)
    position = {item_id: column for column, item_id in enumerate(item_ids)}
    for item in instrument.items:
        if item.scale is not None and item.id not in instrument.scored_item_ids:
            columns[item.id] = np.asarray(values, dtype=float)[:, position[item.id]]
    return pd.DataFrame(columns)


def cv_report(
    cv: CrossValidation,
    predicted: np.ndarray,
    instrument: Instrument,
    n_resamples: int = 1000,
) -> dict[str, Any]:
    """Pearson r (95% cluster-bootstrap CI, clients resampled) and MSE per score for the
    model, the length-only baseline and (when it was run) the plain TF-IDF baseline, plus
    per-item rounded metrics."""
    groups = np.asarray(cv.groups)
    truth = score_columns(cv.truth, cv.item_ids, instrument)
    systems = {
        "model": score_columns(predicted, cv.item_ids, instrument),
        "length_baseline": score_columns(cv.length_baseline, cv.item_ids, instrument),
    }
    if cv.tfidf_baseline is not None:
        systems["tfidf_baseline"] = score_columns(cv.tfidf_baseline, cv.item_ids, instrument)
    targets: dict[str, Any] = {}
    for column in truth.columns:
        y = truth[column].to_numpy()
        entry: dict[str, Any] = {}
        for system, frame in systems.items():
            p = frame[column].to_numpy()
            low, high = bootstrap_ci(y, p, "pearson", groups=groups, n_resamples=n_resamples)
            entry[system] = {
                "pearson": round(pearson(y, p), 3),
                "pearson_ci": [round(low, 3), round(high, 3)],
                "mse": round(mse(y, p), 3),
            }
        targets[column] = entry
    item_metrics = {}
    for position, item_id in enumerate(cv.item_ids):
        scale = instrument.scale_for(item_id)
        y, p = cv.truth[:, position], predicted[:, position]
        item_metrics[item_id] = {
            "exact": round(exact_accuracy(y, p, scale=(scale.min, scale.max)), 3),
            "within_one": round(within_one_accuracy(y, p, scale=(scale.min, scale.max)), 3),
            "rounded_mae": round(rounded_mae(y, p, scale=(scale.min, scale.max)), 3),
            "pearson": round(pearson(y, p), 3),
        }
    scored = [item_metrics[item_id] for item_id in instrument.scored_item_ids]
    dimensions = list(instrument.dimensions)
    return {
        "n_sessions": len(cv.session_ids),
        "n_clients": len(set(cv.groups)),
        "n_splits": cv.info.get("n_splits"),
        "split": "K-fold grouped by client (no client on both sides)",
        "cut": cv.info.get("cut"),
        "calibration": cv.info.get("calibration"),
        "targets": targets,
        "items_mean_over": len(scored),
        "items_mean": {
            key: round(float(np.nanmean([entry[key] for entry in scored])), 3)
            for key in ("exact", "within_one", "rounded_mae", "pearson")
        },
        "items": item_metrics,
        "dimension_correlations": {
            "dimensions": dimensions,
            "model": _correlations(systems["model"][dimensions]),
            "clients": _correlations(truth[dimensions]),
        },
    }


def _correlations(frame: pd.DataFrame) -> list[list[float]]:
    """The Pearson correlation matrix of the columns, rounded."""
    return [[round(float(value), 3) for value in row] for row in frame.corr().to_numpy()]


def _off_diagonal_range(matrix: list[list[float]]) -> tuple[float, float]:
    values = [v for i, row in enumerate(matrix) for j, v in enumerate(row) if i != j]
    return min(values), max(values)


def format_cv_report(report: dict[str, Any], title: str = "Cross-validation") -> str:
    """A Markdown table of :func:`cv_report`."""
    cut = report.get("cut")
    with_tfidf = all("tfidf_baseline" in entry for entry in report["targets"].values())
    baselines = (["tfidf_baseline"] if with_tfidf else []) + ["length_baseline"]
    headers = {"tfidf_baseline": "TF-IDF r [95% CI]", "length_baseline": "length-only r [95% CI]"}
    lines = [
        f"{title}: {report['n_sessions']} sessions, {report['n_clients']} clients, "
        f"{report['n_splits']}-fold grouped by client"
        + (f", sessions cut to their first {cut:.0%} of turns" if cut else ""),
        "",
        "| score | Pearson r [95% CI] | MSE | "
        + " | ".join(headers[name] for name in baselines)
        + " |",
        "| --- | --- | --- |" + " --- |" * len(baselines),
    ]

    def r_with_ci(figures: dict[str, Any]) -> str:
        low, high = figures["pearson_ci"]
        return f"{figures['pearson']:.3f} [{low:.3f}, {high:.3f}]"

    for name, entry in report["targets"].items():
        model = entry["model"]
        cells = [name, r_with_ci(model), f"{model['mse']:.3f}"]
        cells += [r_with_ci(entry[baseline]) for baseline in baselines]
        lines.append("| " + " | ".join(cells) + " |")
    items = report["items_mean"]
    lines += [
        "",
        f"Calibration: {report.get('calibration') or 'not recorded'}.",
        f"Items (mean over the {report['items_mean_over']} items on the main scale, rounded "
        f"predictions): exact "
        f"{items['exact']:.3f}, within ±1 {items['within_one']:.3f}, MAE "
        f"{items['rounded_mae']:.3f}, Pearson r {items['pearson']:.3f}",
    ]
    correlations = report.get("dimension_correlations")
    if correlations and len(correlations["dimensions"]) >= 2:
        model_low, model_high = _off_diagonal_range(correlations["model"])
        client_low, client_high = _off_diagonal_range(correlations["clients"])
        lines.append(
            f"Distinctness: the predicted {', '.join(correlations['dimensions'])} correlate "
            f"{model_low:.2f} to {model_high:.2f} with each other; the clients' own ratings "
            f"{client_low:.2f} to {client_high:.2f}."
        )
    return "\n".join(lines)
