"""How well results' prediction intervals hold: empirical coverage and mean width per
dimension and total (and the mean over items), with cluster-bootstrap CIs, and how many
sessions the results flag as out of domain.

Computed by ``care evaluate`` whenever results carry intervals
(:mod:`care.assessors.trust`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from care.assessors.trust import domain_counts
from care.instruments import Instrument
from care.results import Assessments
from care.stats import bootstrap_ci


def _mean(values: np.ndarray, _unused: np.ndarray) -> float:
    return float(np.mean(values))


def interval_cases(
    assessments: Assessments, truth: pd.DataFrame, session_ids: Sequence[str], key: str
) -> tuple[np.ndarray, np.ndarray, list[str], float | None]:
    """For one score (``"goal"``, ``"total"`` or ``"item:<id>"``): per evaluated session
    with an interval and a true value, whether it covered it and its width; the session
    ids; and the level (None if no result had an interval)."""
    by_session = assessments.by_session()
    covered, widths, ids = [], [], []
    level = None
    item_id = key.partition(":")[2]
    for session_id in session_ids:
        assessment = by_session.get(session_id)
        intervals = (assessment.intervals or {}) if assessment is not None else {}
        bounds = (intervals.get("items") or {}).get(item_id) if item_id else intervals.get(key)
        if not bounds or session_id not in truth.index:
            continue
        column = f"dim:{key}" if not item_id and key != "total" else key
        true = truth.at[session_id, column]
        if true != true:
            continue
        level = intervals.get("level", level)
        covered.append(float(bounds[0] <= true <= bounds[1]))
        widths.append(float(bounds[1] - bounds[0]))
        ids.append(session_id)
    return np.asarray(covered), np.asarray(widths), ids, level


def _with_ci(
    values: np.ndarray, groups: list[str], n_resamples: int, confidence: float, seed: int
) -> dict[str, Any]:
    estimate = float(values.mean()) if len(values) else math.nan
    low = high = math.nan
    if n_resamples and len(values) >= 2:
        low, high = bootstrap_ci(
            values,
            values,
            _mean,
            groups=groups,
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
        )
    return {"value": estimate, "ci": [low, high]}


def coverage_report(
    predictions: Mapping[str, Assessments],
    truth: pd.DataFrame,
    session_ids: Sequence[str],
    clients: Mapping[str, str | None],
    instrument: Instrument,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any] | None:
    """Per system whose results carry intervals: ``{"level", "scores": {name: {"coverage":
    {"value", "ci"}, "width": {...}, "n"}}, "domain": {"flagged", "checked", "share"}}``;
    None when no system has intervals. ``truth`` is :func:`score_frame` of the clients'
    ratings; ``clients`` maps session id to client id (the bootstrap resamples clients)."""
    report: dict[str, Any] = {}
    names = [*instrument.dimensions, "total"]
    items = [f"item:{item_id}" for item_id in instrument.scored_item_ids]
    for system, assessments in predictions.items():
        scores: dict[str, Any] = {}
        level = None
        for key in [*names, *items]:
            covered, widths, ids, found = interval_cases(assessments, truth, session_ids, key)
            if not len(covered):
                continue
            level = found if found is not None else level
            groups = [clients.get(i) or f"session:{i}" for i in ids]
            resamples = n_resamples if key in names else 0  # items: only their mean is shown
            scores[key] = {
                "coverage": _with_ci(covered, groups, resamples, confidence, seed),
                "width": _with_ci(widths, groups, resamples, confidence, seed),
                "n": len(covered),
            }
        domain = domain_counts(assessments, session_ids)
        if not scores and not domain["checked"]:
            continue
        item_scores = [scores[key] for key in items if key in scores]
        summary = {name: scores[name] for name in names if name in scores}
        if item_scores:
            summary[f"items (mean of {len(item_scores)})"] = {
                kind: {"value": float(np.mean([s[kind]["value"] for s in item_scores]))}
                for kind in ("coverage", "width")
            } | {"n": max(s["n"] for s in item_scores)}
        report[system] = {"level": level, "scores": summary, "domain": domain}
    return report or None


def coverage_markdown(report: Mapping[str, Any] | None) -> list[str]:
    """The report as Markdown lines (nothing without intervals)."""
    if not report:
        return []
    lines = ["", "## Prediction intervals and domain", ""]
    for system, entry in report.items():
        level = entry["level"]
        heading = f"{level:.0%} intervals" if level is not None else "no intervals"
        lines += [f"### {system}: {heading}", ""]
        if entry["scores"]:
            lines += [
                "| score | coverage [CI] | mean width [CI] | n |",
                "| --- | --- | --- | --- |",
            ]
            for name, figures in entry["scores"].items():
                lines.append(
                    f"| {name} | {_cell(figures['coverage'])} | {_cell(figures['width'])} | "
                    f"{figures['n']} |"
                )
            lines.append("")
        domain = entry["domain"]
        if domain["checked"]:
            lines.append(
                f"Out of domain: {domain['flagged']} of {domain['checked']} sessions flagged "
                f"({domain['share']:.1%})."
            )
            lines.append("")
    return lines


def _cell(figure: Mapping[str, Any]) -> str:
    value = figure["value"]
    low, high = figure.get("ci", [math.nan, math.nan])
    if low == low and high == high:
        return f"{value:.3f} [{low:.3f}, {high:.3f}]"
    return f"{value:.3f}"


def coverage_html(report: Mapping[str, Any] | None) -> str:
    """The report as an HTML section (empty without intervals)."""
    from html import escape

    if not report:
        return ""
    parts = ["<section><h2>Prediction intervals and domain</h2>"]
    for system, entry in report.items():
        level = entry["level"]
        heading = f"{level:.0%} intervals" if level is not None else "no intervals"
        parts.append(f"<h3>{escape(system)}: {heading}</h3>")
        if entry["scores"]:
            rows = "".join(
                f"<tr><td>{escape(name)}</td><td>{_cell(f['coverage'])}</td>"
                f"<td>{_cell(f['width'])}</td><td>{f['n']}</td></tr>"
                for name, f in entry["scores"].items()
            )
            parts.append(
                "<table><tr><th>score</th><th>coverage [CI]</th><th>mean width [CI]</th>"
                f"<th>n</th></tr>{rows}</table>"
            )
        domain = entry["domain"]
        if domain["checked"]:
            parts.append(
                f"<p>Out of domain: {domain['flagged']} of {domain['checked']} sessions "
                f"flagged ({domain['share']:.1%}).</p>"
            )
    parts.append("</section>")
    return "".join(parts)
