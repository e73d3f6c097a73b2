"""Run the whole analysis and write it: CSV/JSON tables and a self-contained HTML report.

The charts reuse :mod:`care.stats.plots` (bar charts, histograms); the one chart it lacks,
scores over turns, is :func:`trajectory_plot` here, drawn with the same frame and axes.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from care.analyze.distributions import score_distributions, session_table
from care.analyze.dynamics import find_drops, session_windows
from care.analyze.patterns import (
    PatternResult,
    detect_label_keys,
    pair_frequencies,
    pattern_regression,
)
from care.analyze.ppi_corpus import PPIResult, RatedSample, prediction_powered
from care.analyze.ppi_html import render_ppi_section
from care.analyze.profiles import client_trajectories, counselor_profiles
from care.analyze.themes import ThemeResult, find_themes
from care.assessors.trust import domain_counts
from care.data.session import Session
from care.instruments import get_instrument
from care.output import check_output_dir, write_text_atomic
from care.results import Assessments
from care.stats.plots import (
    PALETTE,
    PlotFrame,
    Series,
    bar_chart,
    draw_axes,
    draw_title,
    histogram,
    legend,
    nice_ticks,
    open_svg,
    polyline,
    px,
)

log = logging.getLogger(__name__)


@dataclass
class Analysis:
    """Everything ``care analyze`` computes (tables are pandas frames)."""

    model: str
    instrument: str
    scale: tuple[float, float]
    dimensions: list[str]
    sessions: pd.DataFrame
    distributions: pd.DataFrame
    profiles: pd.DataFrame
    client_sessions: pd.DataFrame
    client_trends: pd.DataFrame
    windows: pd.DataFrame
    drops: pd.DataFrame
    patterns: PatternResult
    themes: ThemeResult
    notes: list[str] = field(default_factory=list)
    ppi: PPIResult | None = None
    domain: dict[str, Any] | None = None


def analyze(
    sessions: Sequence[Session],
    assessments: Assessments,
    *,
    trajectories: int = 20,
    window_every: int = 10,
    drop_threshold: float = 0.15,
    labels: tuple[str | None, str | None] | None = None,
    target: str = "total",
    n_themes: int = 8,
    n_resamples: int = 1000,
    seed: int = 0,
    rated: RatedSample | None = None,
    ci_level: float = 0.95,
    min_rated: int = 20,
) -> Analysis:
    """Run every analysis on sessions and their results (joined by session id); with
    ``rated`` sessions also the prediction-powered estimates (:mod:`care.analyze.ppi_corpus`,
    ``ci_level`` intervals, counselors with at least ``min_rated`` rated sessions)."""
    notes: list[str] = []
    table, dims = session_table(sessions, assessments)
    first = assessments[0]
    instrument = get_instrument(first.instrument)
    scale = (float(instrument.scale.min), float(instrument.scale.max))
    dimensions = list(dims)
    scores = [*dimensions, "total"]
    distributions = score_distributions(table)
    profiles = counselor_profiles(table, scores, n_resamples=n_resamples)
    if profiles.empty:
        notes.append("no session has a counselor id: no counselor profiles")
    client_sessions, client_trends = client_trajectories(table, scores)
    if client_sessions.empty:
        notes.append("no client has two or more dated sessions: no client trajectories")
    joined = [s for s in sessions if s.id in set(table.session_id)]
    windows, drops = pd.DataFrame(), pd.DataFrame()
    if trajectories > 0:
        rng = np.random.default_rng(seed)
        pick = sorted(rng.choice(len(joined), min(trajectories, len(joined)), replace=False))
        sample = [joined[i] for i in pick]
        windows = session_windows(sample, every=window_every)
        drops = find_drops(windows, sample, threshold=drop_threshold)
        notes.append(
            f"within-session trajectories: {len(sample)} sessions drawn at random (seed {seed}), "
            f"windows every {window_every} turns, assessed by the built-in partial-session "
            f"model; a drop is a fall of more than {drop_threshold} between windows"
        )
    counselor_key, client_key = labels if labels is not None else detect_label_keys(joined)
    frequencies = None
    if counselor_key is None:
        patterns = PatternResult(
            target,
            pd.DataFrame(),
            [
                "no turn carries a counselor label (e.g. an ESConv strategy or AnnoMI behaviour "
                "code): no interaction-pattern regression was run, and none is invented"
            ],
        )
    else:
        frequencies = pair_frequencies(joined, counselor_key, client_key)
        indexed = table.set_index("session_id")
        patterns = pattern_regression(
            frequencies, indexed[target], indexed["client_id"], target=target
        )
        patterns.notes.insert(
            0,
            f"labels: counselor '{counselor_key}', "
            + (f"client '{client_key}'" if client_key else "clients unlabelled (next turn)"),
        )
    themes = find_themes(assessments, table, dims, n_themes=n_themes, seed=seed)
    ppi = None
    if rated is not None:
        terms = [t for t in patterns.table.get("term", []) if t != "const"]
        ppi = prediction_powered(
            table,
            rated,
            instrument,
            scores,
            level=ci_level,
            min_rated=min_rated,
            target=target,
            frequencies=frequencies,
            terms=terms,
            labels=None if counselor_key is None else (counselor_key, client_key),
        )
    domain = domain_counts(assessments, list(table.session_id))
    if domain["checked"]:
        notes.append(
            f"out of domain: {domain['flagged']} of {domain['checked']} sessions "
            f"({domain['share']:.1%}) are unlike the model's reference sessions; their scores "
            "may not hold (each result's domain field says why)"
        )
    return Analysis(
        model=first.model,
        instrument=first.instrument,
        scale=scale,
        dimensions=dimensions,
        sessions=table,
        distributions=distributions,
        profiles=profiles,
        client_sessions=client_sessions,
        client_trends=client_trends,
        windows=windows,
        drops=drops,
        patterns=patterns,
        themes=themes,
        notes=notes,
        ppi=ppi,
        domain=domain,
    )


# ------------------------------------------------------------------------------ charts


def trajectory_plot(
    lines: Sequence[tuple[Series, Sequence[float]]],
    *,
    scale: tuple[float, float],
    title: str,
    xlabel: str = "turns so far",
    ylabel: str = "score",
    marks: Sequence[float] = (),
    width: int = 300,
    height: int = 220,
) -> str:
    """Scores (y, on ``scale``) against turns (x) per series, with dashed ``marks`` (drops)."""
    xs = [x for _, x_values in lines for x in x_values]
    xmax = max([1.0, *xs])
    values = [v for item, _ in lines for v in item.values if math.isfinite(v)]
    lo = min([*values, scale[1]]) if values else scale[0]
    hi = max([*values, scale[0]]) if values else scale[1]
    pad = max(0.1, 0.1 * (hi - lo))
    ylim = (max(scale[0], lo - pad), min(scale[1], hi + pad))
    frame = PlotFrame(width, height, (0.0, xmax), ylim, (34, 10, 42, 44))
    parts = [open_svg(width, height, title, "chart trajectory"), draw_title(frame, title)]
    parts.append(draw_axes(frame, xlabel, ylabel, nice_ticks(0, xmax, 5), nice_ticks(*ylim, 4)))
    for mark in marks:
        parts.append(
            f'<line x1="{px(frame.x(mark))}" y1="{px(frame.y1)}" x2="{px(frame.x(mark))}" '
            f'y2="{px(frame.y0)}" stroke="#D55E00" stroke-dasharray="3 3"/>'
        )
    for item, x_values in lines:
        points = [
            (frame.x(x), frame.y(y))
            for x, y in zip(x_values, item.values, strict=True)
            if math.isfinite(y)
        ]
        if not points:
            continue
        parts.append(polyline(points, item.colour, item.name, 2, 2.5))
    parts.append("</svg>")
    return "".join(parts)


# ------------------------------------------------------------------------------ writing

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif;
margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
h1{font-size:24px}h2{font-size:19px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f4f4f4}.charts{display:flex;flex-wrap:wrap;gap:10px}
.note{color:#555;font-size:13px}pre{white-space:pre-wrap;font-size:12px;margin:0}
"""


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return "" if math.isnan(value) else f"{value:.3f}"
    return "" if value is None else str(value)


def _html_table(frame: pd.DataFrame, limit: int = 50, pre: Sequence[str] = ()) -> str:
    if frame is None or frame.empty:
        return '<p class="note">(empty)</p>'
    head = "".join(f"<th>{escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for _, row in frame.head(limit).iterrows():
        cells = []
        for column in frame.columns:
            text = escape(_fmt(row[column]))
            cells.append(f"<td><pre>{text}</pre></td>" if column in pre else f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = f'<p class="note">first {limit} of {len(frame)} rows</p>' if len(frame) > limit else ""
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>{more}"


def _notes(notes: Sequence[str]) -> str:
    return "".join(f'<p class="note">{escape(n)}</p>' for n in notes)


def render_html(analysis: Analysis, title: str = "care analyze") -> str:
    """The report as one self-contained HTML page."""
    scores = [*analysis.dimensions, "total"]
    colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(scores)}
    table = analysis.sessions
    parts = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}"
        f"</title><style>{_CSS}</style></head><body><h1>{escape(title)}</h1>",
        f'<p class="note">{len(table)} sessions; model {escape(analysis.model)}; instrument '
        f"{escape(analysis.instrument)} (scale {analysis.scale[0]:g}-{analysis.scale[1]:g}).</p>",
        _notes(analysis.notes),
        "<h2>Score distributions</h2><div class='charts'>",
    ]
    for score in scores:
        parts.append(
            histogram(table[score].tolist(), [], scale=analysis.scale, title=score, xlabel=score)
        )
    parts.append("</div>")
    dist = analysis.distributions
    parts.append(_html_table(dist[~dist.score.str.startswith("item:")]))
    if analysis.ppi is not None:
        parts.append(render_ppi_section(analysis.ppi))
    parts.append("<h2>Counselor profiles</h2>")
    profiles = analysis.profiles
    if not profiles.empty:
        top = (
            profiles.drop_duplicates("counselor_id")
            .sort_values("n_sessions", ascending=False, kind="stable")
            .head(20)["counselor_id"]
            .tolist()
        )
        for score in ("total",):
            part = profiles[profiles.score == score].set_index("counselor_id").loc[top]
            parts.append(
                bar_chart(
                    [str(c) for c in top],
                    [
                        Series(
                            f"{score} (corpus mean {part['corpus_mean'].iloc[0]:.2f})",
                            colours[score],
                            part["mean"].tolist(),
                            part["ci_low"].tolist(),
                            part["ci_high"].tolist(),
                        )
                    ],
                    title=f"Mean {score} per counselor (most sessions first), 95% CI",
                    ylabel=score,
                    width=1000,
                    ylim=analysis.scale,
                )
            )
        wide = profiles.pivot_table(index="counselor_id", columns="score", values="diff")
        counts = profiles.drop_duplicates("counselor_id").set_index("counselor_id")
        wide.insert(0, "n_sessions", counts["n_sessions"])
        wide = wide.sort_values("n_sessions", ascending=False).reset_index()
        parts.append('<p class="note">difference from the corpus mean per score:</p>')
        parts.append(_html_table(wide, limit=30))
    parts.append("<h3>Client trajectories across dated sessions</h3>")
    if analysis.client_trends.empty:
        parts.append('<p class="note">no client has two or more dated sessions</p>')
    else:
        trends = analysis.client_trends[analysis.client_trends.score == "total"]
        parts.append(
            f'<p class="note">{trends.client_id.nunique()} clients; mean slope of total per '
            f"session {trends.slope_per_session.mean():.3f}</p>"
        )
        parts.append(_html_table(trends.sort_values("n_sessions", ascending=False), limit=20))
    parts.append("<h2>Within-session dynamics</h2>")
    if analysis.windows.empty:
        parts.append('<p class="note">not computed</p>')
    else:
        parts.append("<div class='charts'>")
        drops = analysis.drops
        for sid, part in analysis.windows.groupby("session_id", sort=False):
            marks = drops.loc[drops.session_id == sid, "to_turn"].astype(float).add(1).tolist()
            lines = [
                (Series(s, colours[s], part[s].tolist()), part["end_turn"].tolist())
                for s in analysis.dimensions
            ]
            parts.append(
                trajectory_plot(lines, scale=analysis.scale, title=f"session {sid}", marks=marks)
            )
        parts.append("</div>")
        parts.append(legend([Series(s, colours[s], []) for s in analysis.dimensions], 600))
        parts.append(f"<h3>Drops (possible ruptures): {len(drops)}</h3>")
        parts.append(_html_table(drops, limit=30, pre=("turns",)))
    parts.append("<h2>Interaction patterns</h2>")
    parts.append(_notes(analysis.patterns.notes))
    coef = analysis.patterns.table
    if not coef.empty:
        terms = coef[coef.term != "const"]
        parts.append(
            bar_chart(
                terms.term.tolist(),
                [
                    Series(
                        "coefficient",
                        PALETTE[0],
                        terms.coef.tolist(),
                        terms.ci_low.tolist(),
                        terms.ci_high.tolist(),
                    )
                ],
                title=f"Effect of pair frequency on {analysis.patterns.target} (95% CI)",
                ylabel="coefficient",
                width=max(620, 60 * len(terms)),
            )
        )
        parts.append(_html_table(coef))
    parts.append("<h2>Themes of low alliance</h2>")
    parts.append(_notes(analysis.themes.notes))
    themes = analysis.themes.themes
    if not themes.empty:
        parts.append(
            bar_chart(
                [f"{t}: {label[:24]}" for t, label in zip(themes.theme, themes.label, strict=True)],
                [Series("texts", PALETTE[1], themes["size"].astype(float).tolist())],
                title="Texts per theme",
                ylabel="texts",
                width=max(620, 110 * len(themes)),
            )
        )
        parts.append(_html_table(themes))
        parts.append(_html_table(analysis.themes.quotes, limit=60, pre=("text",)))
    parts.append("</body></html>")
    return "".join(parts)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records", force_ascii=False))


def write_analysis(analysis: Analysis, out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.html``, one CSV per table and ``analysis.json`` (all tables) to
    ``out_dir``; returns name to path."""
    out = check_output_dir(out_dir)
    tables = {
        "sessions": analysis.sessions,
        "distributions": analysis.distributions,
        "counselor_profiles": analysis.profiles,
        "client_sessions": analysis.client_sessions,
        "client_trends": analysis.client_trends,
        "windows": analysis.windows,
        "drops": analysis.drops,
        "patterns": analysis.patterns.table,
        "themes": analysis.themes.themes,
        "theme_quotes": analysis.themes.quotes,
    }
    if analysis.ppi is not None:
        tables["ppi"] = analysis.ppi.to_frame()
    paths: dict[str, Path] = {}
    for name, frame in tables.items():
        paths[name] = out / f"{name}.csv"
        write_text_atomic(paths[name], frame.to_csv(index=False))
    summary = {
        "model": analysis.model,
        "instrument": analysis.instrument,
        "scale": list(analysis.scale),
        "dimensions": analysis.dimensions,
        "notes": analysis.notes,
        "domain": analysis.domain,
        "patterns": analysis.patterns.to_dict(),
        "themes_notes": analysis.themes.notes,
        "tables": {
            name: _records(frame)
            for name, frame in tables.items()
            if name not in ("sessions", "ppi")
        },
    }
    if analysis.ppi is not None:
        summary["ppi"] = analysis.ppi.to_dict()
    paths["json"] = out / "analysis.json"
    write_text_atomic(paths["json"], json.dumps(summary, ensure_ascii=False, indent=1))
    paths["html"] = out / "report.html"
    write_text_atomic(paths["html"], render_html(analysis))
    return paths
