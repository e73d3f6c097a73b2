"""What ``care evaluate`` found: the scores of every row on every view, as data.

An :class:`Evaluation` holds one :class:`EvaluationView` per set of sessions scored (the
whole sessions and, with ``cut_end``, the cut ones); :meth:`Evaluation.to_dict` is the JSON
report. The Markdown and HTML reports are plain functions over it
(:mod:`care.evaluate.markdown`, :mod:`care.evaluate.html`).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from care.evaluate.systems import SystemPredictions
from care.evaluate.targets import Target, cell_text, metric_definitions
from care.instruments import Instrument
from care.stats.calibration import calibration_curve

__all__ = ["Evaluation", "EvaluationView", "item_means"]


@dataclass
class EvaluationView:
    """The scores of all rows on one set of sessions (the whole sessions, or cut ones).

    Attributes:
        name: ``"full"`` or ``"process"``.
        title: Heading for reports.
        description: What was scored and how.
        session_ids: The sessions scored.
        truth: The client's scores (target columns) on those sessions.
        groups: Client id of every scored session (None where unknown).
        systems: The rows (systems, then baselines, then human raters).
        scores: Long table: ``system, kind, target, target_kind, metric, value, ci_low,
            ci_high, n``.
        folds: ``{system: {target key: {"n_folds", metric: {"mean", "sd"}}}}``.
        paired: Paired bootstrap tests, one dict each.
        notes: Anything the reader must know.
        targets: The targets scored.
    """

    name: str
    title: str
    description: str
    session_ids: list[str]
    truth: pd.DataFrame
    groups: list[str | None]
    systems: list[SystemPredictions]
    scores: pd.DataFrame
    folds: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    paired: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    _index: dict[tuple[str, str, str], dict[str, Any]] | None = field(
        default=None, init=False, repr=False
    )
    _indexed_rows: int = field(default=-1, init=False, repr=False)

    @property
    def n_clients(self) -> int:
        """Distinct clients among the scored sessions (unknown clients count one each)."""
        return len(
            {
                g if g is not None else f"session:{s}"
                for g, s in zip(self.groups, self.session_ids, strict=True)
            }
        )

    def value(self, system: str, target: str, metric: str) -> dict[str, Any] | None:
        """One score row as a dict (``value``, ``ci_low``, ``ci_high``, ``n``, ...), or None
        if it was not computed. ``target`` is a target key such as ``"dim:goal"``."""
        if self._index is None or self._indexed_rows != len(self.scores):
            records = self.scores.to_dict("records") if not self.scores.empty else []
            self._index = {(r["system"], r["target_key"], r["metric"]): r for r in records}
            self._indexed_rows = len(self.scores)
        found = self._index.get((system, target, metric))
        return None if found is None else dict(found)

    def calibration(self) -> dict[str, dict[str, dict[str, list[float]]]]:
        """Calibration curves (:func:`calibration_curve`) of every system and baseline on
        the non-item targets and own-scale items: ``{system: {target key: {"mean_predicted",
        "mean_client", "n"}}}``."""
        out: dict[str, dict[str, dict[str, list[float]]]] = {}
        keys = [t.key for t in self.targets if t.headline]
        for system in self.systems:
            if system.kind == "human":
                continue
            pred = system.values.reindex(self.session_ids)
            entry = {}
            for key in keys:
                xs, ys, ns = calibration_curve(self.truth[key].to_numpy(), pred[key].to_numpy())
                entry[key] = {"mean_predicted": xs, "mean_client": ys, "n": ns}
            out[system.name] = entry
        return out

    def dimension_correlations(self) -> dict[str, dict[str, float]]:
        """How distinct the dimension scores are: Pearson r between every pair of
        dimensions (``"goal~task"``), for the clients' ratings (``"clients"``) and for every
        row, on the scored sessions where both scores exist. Empty with fewer than two
        dimensions. A model whose dimensions correlate far more than the clients' measures
        one general appraisal, whatever its dimensions are called."""
        keys = [(t.name, t.key) for t in self.targets if t.kind == "dimension"]
        if len(keys) < 2:
            return {}
        frames = {"clients": self.truth}
        frames.update(
            {system.name: system.values.reindex(self.session_ids) for system in self.systems}
        )
        out: dict[str, dict[str, float]] = {}
        for row, frame in frames.items():
            pairs: dict[str, float] = {}
            for (name_a, key_a), (name_b, key_b) in itertools.combinations(keys, 2):
                if key_a not in frame or key_b not in frame:
                    continue
                both = frame[[key_a, key_b]].astype(float).dropna()
                spread = both.std().min() if len(both) > 2 else 0.0
                pairs[f"{name_a}~{name_b}"] = (
                    float(np.corrcoef(both[key_a], both[key_b])[0, 1]) if spread > 0 else math.nan
                )
            if pairs:
                out[row] = pairs
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content (every figure)."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "n_sessions": len(self.session_ids),
            "n_clients": self.n_clients,
            "systems": [system.summary() for system in self.systems],
            "scores": [_clean_row(row) for row in self.scores.to_dict("records")],
            "folds": _json_ready(self.folds),
            "paired": _json_ready(self.paired),
            "calibration": _json_ready(self.calibration()),
            "dimension_correlations": _json_ready(self.dimension_correlations()),
            "notes": list(self.notes),
        }


def _clean_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _json_ready(value) for key, value in row.items()}


def _json_ready(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    return value


@dataclass
class Evaluation:
    """Everything :func:`~care.evaluate.report.evaluate` found: write it with
    :func:`~care.evaluate.markdown.evaluation_markdown`,
    :func:`~care.evaluate.html.render_html` or :meth:`to_dict`.

    Attributes:
        instrument: The instrument scored.
        targets: Its targets (headline first).
        views: ``"full"`` and, with ``cut_end``, ``"process"``.
        settings: Resampling, confidence, seed, bootstrap unit, folds, cut.
        gold: What the gold data were.
        rationales: Rationale metrics per system (None when no system has rationales).
        notes: Anything the reader must know.
        trust: Coverage and width of the systems' prediction intervals and their domain flags
            (:func:`care.evaluate.coverage.coverage_report`), or None without intervals.
    """

    instrument: Instrument
    targets: list[Target]
    views: dict[str, EvaluationView]
    settings: dict[str, Any]
    gold: dict[str, Any]
    rationales: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    trust: dict[str, Any] | None = None

    @property
    def headline_targets(self) -> list[Target]:
        """Dimensions, total and own-scale items."""
        return [target for target in self.targets if target.headline]

    @property
    def item_targets(self) -> list[Target]:
        """Every item."""
        return [target for target in self.targets if target.kind == "item"]

    def interval_text(self) -> str:
        """How the confidence intervals were computed, in words."""
        settings = self.settings
        if not settings["n_resamples"]:
            return "no confidence intervals (0 resamples)"
        unit = (
            "whole clients (cluster bootstrap; a session without a client id counts as its "
            "own client)"
            if settings["bootstrap_unit"] == "client"
            else "sessions"
        )
        return (
            f"{settings['confidence']:.0%} percentile bootstrap intervals over "
            f"{settings['n_resamples']} resamples of {unit}, seed {settings['seed']}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Every figure, as a JSON-ready mapping."""
        return {
            "schema": "care-evaluation/1",
            "instrument": {
                "id": self.instrument.id,
                "name": self.instrument.name,
                "scale": [self.instrument.scale.min, self.instrument.scale.max],
                "dimensions": list(self.instrument.dimensions),
            },
            "targets": [
                {
                    "key": t.key,
                    "name": t.name,
                    "kind": t.kind,
                    "scale": list(t.scale),
                    "headline": t.headline,
                }
                for t in self.targets
            ],
            "gold": _json_ready(self.gold),
            "settings": _json_ready(self.settings),
            "intervals": self.interval_text(),
            "metric_variants": metric_definitions(),
            "views": {name: view.to_dict() for name, view in self.views.items()},
            "rationales": _json_ready(self.rationales),
            "notes": list(self.notes),
            "trust": _json_ready(self.trust),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def headline_table(self, view: str = "full", metric: str = "pearson") -> pd.DataFrame:
        """One metric of every row on the headline targets: ``"value [low, high]"`` cells."""
        chosen = self.views[view]
        data: dict[str, dict[str, str]] = {}
        for system in chosen.systems:
            data[system.name] = {
                target.name: cell_text(chosen.value(system.name, target.key, metric))
                for target in self.headline_targets
            }
        return pd.DataFrame.from_dict(data, orient="index")


def item_means(
    view: EvaluationView, targets: Sequence[Target], main_scale: tuple[float, float]
) -> dict[str, dict[str, float]]:
    """Per row, the mean over the items on the main scale of each item metric."""
    keys = [t.key for t in targets if t.kind == "item" and t.scale == main_scale]
    out: dict[str, dict[str, float]] = {}
    if view.scores.empty:
        return out
    for system in view.systems:
        if system.kind == "human":
            continue
        rows = view.scores[
            (view.scores["system"] == system.name) & view.scores["target_key"].isin(keys)
        ]
        out[system.name] = {
            metric: float(np.nanmean(group["value"].to_numpy(dtype=float)))
            if group["value"].notna().any()
            else math.nan
            for metric, group in rows.groupby("metric", sort=False)
        }
    return out
