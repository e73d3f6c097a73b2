"""Scoring one view: every row on every target with every metric, with bootstrap
intervals, per-fold summaries and paired tests between the rows."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pandas as pd

from care.evaluate.evaluation import EvaluationView
from care.evaluate.systems import SystemPredictions
from care.evaluate.targets import (
    CORRELATION_METRICS,
    HEADLINE_METRICS,
    ITEM_METRICS,
    Target,
    Unit,
    is_missing,
)
from care.stats import METRICS, fold_summary, paired_bootstrap, score_table

__all__ = ["score_view"]


def score_view(
    name: str,
    title: str,
    description: str,
    session_ids: list[str],
    truth_all: pd.DataFrame,
    groups: list[str | None],
    rows: Sequence[SystemPredictions],
    targets: Sequence[Target],
    unit: Unit,
    paired_metrics: Sequence[str],
    *,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> EvaluationView:
    """Score ``rows`` against the client's scores on ``session_ids``.

    Args:
        name: The view's name (``"full"`` or ``"process"``).
        title: Its heading.
        description: What was scored and how.
        session_ids: The sessions scored (every row on the same ones).
        truth_all: The client's scores (target columns) of every rated session.
        groups: Client id of every scored session, in order.
        rows: Systems, baselines and human raters.
        targets: What is scored.
        unit: Bootstrap unit: whole ``"client"``s or ``"session"``s.
        paired_metrics: Metrics of the paired tests.
        n_resamples: Bootstrap resamples; 0 skips intervals and tests.
        confidence: Coverage of the intervals.
        seed: Random seed.
    """
    truth = truth_all.loc[session_ids]
    group_series = pd.Series(groups, index=session_ids, dtype=object) if unit == "client" else None
    item_scales = {t.key: t.scale for t in targets if t.kind == "item"}
    item_keys = [t.key for t in targets if t.kind == "item"]
    score_keys = [t.key for t in targets if t.kind != "item"]
    by_key = {t.key: t for t in targets}
    frames = []
    notes: list[str] = []
    for system in rows:
        pred = system.values.reindex(session_ids)
        if system.kind == "human":
            present = pred.dropna(how="all")
            if present.empty:
                continue
            metrics = HEADLINE_METRICS if system.error_metrics else CORRELATION_METRICS
            columns = [k for k in score_keys if k in pred.columns]
            table = score_table(
                truth.loc[present.index],
                present,
                columns=columns,
                groups=group_series,
                metrics=metrics,
                n_resamples=n_resamples,
                seed=seed,
                confidence=confidence,
            )
            if not system.error_metrics:
                notes.append(
                    f"{system.name}: rated on another scale than the client, so only "
                    "correlations are reported"
                )
            notes.append(
                f"{system.name}: scored on the {len(present)} of {len(session_ids)} sessions "
                "that carry these ratings"
            )
            parts = [table]
        else:
            parts = []
            for keys, metrics, scale in (
                (score_keys, HEADLINE_METRICS, None),
                (item_keys, ITEM_METRICS, item_scales),
            ):
                parts.append(
                    score_table(
                        truth,
                        pred,
                        columns=keys,
                        groups=group_series,
                        metrics=metrics,
                        n_resamples=n_resamples,
                        seed=seed,
                        confidence=confidence,
                        scale=scale,
                    )
                )
        table = pd.concat(parts, ignore_index=True)
        table = table.rename(columns={"target": "target_key"})
        table.insert(0, "kind", system.kind)
        table.insert(0, "system", system.name)
        table.insert(3, "target", [by_key[k].name for k in table["target_key"]])
        table.insert(4, "target_kind", [by_key[k].kind for k in table["target_key"]])
        frames.append(table)
    scores = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    view = EvaluationView(
        name=name,
        title=title,
        description=description,
        session_ids=list(session_ids),
        truth=truth,
        groups=list(groups),
        systems=[r for r in rows if r.kind != "human" or r.name in set(scores.get("system", []))],
        scores=scores,
        notes=notes,
        targets=list(targets),
    )
    view.folds = _fold_summaries(view, targets)
    view.paired = _paired_tests(
        view, targets, paired_metrics, group_series, n_resamples, confidence, seed
    )
    if any(r.name == "baseline/mean-rating" for r in view.systems):
        view.notes.append(
            "baseline/mean-rating predicts the same value for every session of a fold; its "
            "correlations only reflect differences between the folds' training means (and "
            "are usually negative), so read its errors, not its correlations"
        )
    return view


def _fold_summaries(view: EvaluationView, targets: Sequence[Target]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for system in view.systems:
        if system.folds is None or system.kind == "human":
            continue
        folds = system.folds.reindex(view.session_ids)
        labels = sorted(int(f) for f in folds.dropna().unique())
        if len(labels) < 2:
            continue
        pred = system.values.reindex(view.session_ids)
        entry: dict[str, Any] = {}
        for target in targets:
            metrics = ITEM_METRICS if target.kind == "item" else HEADLINE_METRICS
            per_fold = []
            for label in labels:
                mask = (folds == label).to_numpy()
                y = view.truth[target.key].to_numpy()[mask]
                p = pred[target.key].to_numpy()[mask]
                per_fold.append({m: METRICS[m].value(y, p, target.scale) for m in metrics})
            summary = fold_summary(per_fold)
            entry[target.key] = {
                "n_folds": len(labels),
                **{m: {"mean": mean, "sd": sd} for m, (mean, sd) in summary.items()},
            }
        out[system.name] = entry
    return out


def _paired_tests(
    view: EvaluationView,
    targets: Sequence[Target],
    metrics: Sequence[str],
    groups: pd.Series | None,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> list[dict[str, Any]]:
    if not n_resamples:
        return []
    systems = [s for s in view.systems if s.kind == "system"]
    baselines = [s for s in view.systems if s.kind == "baseline"]
    pairs = list(itertools.combinations(systems, 2)) + list(itertools.product(systems, baselines))
    results = []
    group_values = None if groups is None else groups.reindex(view.session_ids).to_numpy()
    for a, b in pairs:
        pa_frame = a.values.reindex(view.session_ids)
        pb_frame = b.values.reindex(view.session_ids)
        for target in targets:
            if not target.headline:
                continue
            y = view.truth[target.key].to_numpy()
            for metric in metrics:
                scale = target.scale if target.kind == "item" else None
                result = paired_bootstrap(
                    y,
                    pa_frame[target.key].to_numpy(),
                    pb_frame[target.key].to_numpy(),
                    metric,
                    groups=group_values,
                    n_resamples=n_resamples,
                    confidence=confidence,
                    seed=seed,
                    scale=scale,
                )
                results.append(
                    {
                        "a": a.name,
                        "b": b.name,
                        "target": target.name,
                        "target_key": target.key,
                        "metric": metric,
                        "delta": result.delta,
                        "ci_low": result.ci_low,
                        "ci_high": result.ci_high,
                        "p_value": result.p_value,
                        "verdict": _verdict(
                            a.name, b.name, metric, result.delta, result.p_value, confidence
                        ),
                    }
                )
    return results


def _verdict(a: str, b: str, metric: str, delta: float, p_value: float, confidence: float) -> str:
    if is_missing(delta) or is_missing(p_value):
        return "undefined"
    if p_value >= 1.0 - confidence:
        return "no significant difference"
    a_better = delta > 0 if METRICS[metric].greater_is_better else delta < 0
    return f"{a if a_better else b} better"
