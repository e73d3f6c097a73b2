"""The report's section on prediction-powered inference: the PPI, naive and rated-only
estimates side by side, as an interval chart and tables."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from care.analyze.ppi_corpus import NAIVE_WARNING, VALIDITY_NOTE, PPIResult
from care.stats.plots import (
    PALETTE,
    PlotFrame,
    Series,
    draw_axes,
    draw_title,
    legend,
    nice_ticks,
    open_svg,
    px,
)

#: The three estimates: entry keys of the estimate and of the interval, label, colour.
METHODS = (
    ("estimate", "ci", "PPI", PALETTE[0]),
    ("naive_estimate", "naive_ci", "naive (predictions as ratings)", PALETTE[1]),
    ("rated_only_estimate", "rated_only_ci", "rated only", PALETTE[2]),
)


def _value(value: float | None) -> float:
    return math.nan if value is None else float(value)


def interval_chart(
    categories: Sequence[str], series: Sequence[Series], *, title: str, ylabel: str
) -> str:
    """Per category one point with its interval for each series, side by side."""
    values = [v for s in series for v in (*s.values, *s.low, *s.high) if math.isfinite(v)]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    pad = 0.08 * (hi - lo or 1.0)
    ylim = (lo - pad, hi + pad)
    width = max(420, 130 * len(categories) + 80)
    frame = PlotFrame(width, 280, (0.0, float(len(categories))), ylim, (34, 10, 30, 56))
    parts = [open_svg(width, 280, title, "chart intervals"), draw_title(frame, title)]
    step = (frame.x1 - frame.x0) / max(len(categories), 1)
    centres = [(frame.x0 + step * (i + 0.5), name) for i, name in enumerate(categories)]
    parts.append(draw_axes(frame, "", ylabel, None, nice_ticks(*ylim, 5), centres))
    for position, item in enumerate(series):
        offset = (position - (len(series) - 1) / 2) * min(22.0, step / (len(series) + 1))
        for index, value in enumerate(item.values):
            x = frame.x0 + step * (index + 0.5) + offset
            low, high = item.low[index], item.high[index]
            if math.isfinite(low) and math.isfinite(high):
                parts.append(
                    f'<line x1="{px(x)}" y1="{px(frame.y(low))}" x2="{px(x)}" '
                    f'y2="{px(frame.y(high))}" stroke="{item.colour}" stroke-width="2.5"/>'
                )
            if math.isfinite(value):
                parts.append(
                    f'<circle cx="{px(x)}" cy="{px(frame.y(value))}" r="4" '
                    f'fill="{item.colour}"><title>{escape(item.name)}, '
                    f"{escape(categories[index])}: {value:.3f} [{low:.3f}, {high:.3f}]"
                    "</title></circle>"
                )
    parts.append("</svg>")
    return "".join(parts)


def cell(estimate: float | None, interval: Sequence[float | None]) -> str:
    """``"3.412 [3.301, 3.522]"`` (``"–"`` for no estimate)."""
    if estimate is None:
        return "–"
    low, high = interval
    if low is None or high is None:
        return f"{estimate:.3f}"
    return f"{estimate:.3f} [{low:.3f}, {high:.3f}]"


def width_ratio(record: Mapping[str, Any]) -> str:
    """The PPI interval's width as a share of the rated-only one."""
    ppi, rated = record["ci"], record["rated_only_ci"]
    if None in (*ppi, *rated) or rated[1] == rated[0]:
        return ""
    return f"{(ppi[1] - ppi[0]) / (rated[1] - rated[0]):.2f}"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{header}</tr>{body}</table>"


def _row(label: Sequence[str], record: Mapping[str, Any]) -> list[str]:
    return [
        *label,
        *(cell(record[estimate], record[ci]) for estimate, ci, _, _ in METHODS),
        str(record["n_rated"]),
        str(record["n_unrated"]),
        width_ratio(record),
        f"{record['lambda']:.2f}",
    ]


_HEAD = (
    "PPI",
    "naive",
    "rated only",
    "rated",
    "unrated",
    "PPI width / rated-only width",
    "λ",
)


def render_ppi_section(result: PPIResult, counselor_limit: int = 30) -> str:
    """The report's HTML section for :class:`PPIResult`."""
    level = f"{result.level:.0%}"
    parts = [
        "<h2>Corpus estimates from the rated sessions (prediction-powered inference)</h2>",
        f"<p>Each estimate with three {level} intervals: <b>PPI</b> combines the predictions "
        "of the unrated sessions with the model's errors measured on the rated ones; "
        "<b>naive</b> takes the predictions for ratings; <b>rated only</b> uses the clients' "
        f"ratings alone. {escape(NAIVE_WARNING)}</p>",
        f'<p class="note">{escape(VALIDITY_NOTE)} λ is the weight given to the predictions '
        "(0: the rated sessions alone).</p>",
        "".join(f'<p class="note">{escape(n)}</p>' for n in result.notes),
    ]
    scores = list(result.corpus)
    if scores:
        series = [
            Series(
                name,
                colour,
                [_value(result.corpus[s][estimate]) for s in scores],
                [_value(result.corpus[s][ci][0]) for s in scores],
                [_value(result.corpus[s][ci][1]) for s in scores],
            )
            for estimate, ci, name, colour in METHODS
        ]
        parts.append(
            interval_chart(
                scores, series, title=f"Corpus means with {level} intervals", ylabel="mean"
            )
        )
        parts.append(legend(series, 640))
        rows = [_row([s], result.corpus[s]) for s in scores]
        parts.append(_table(("score", *_HEAD), rows))
    parts.append("<h3>Counselors</h3>")
    with_estimates = [c for c in result.counselors if c["estimates"]]
    without = [c for c in result.counselors if not c["estimates"]]
    if with_estimates:
        rows = [
            _row([c["counselor_id"], score], record)
            for c in with_estimates[:counselor_limit]
            for score, record in c["estimates"].items()
        ]
        parts.append(_table(("counselor", "score", *_HEAD), rows))
    if without:
        most = max(c["n_rated"] for c in without)
        parts.append(
            f'<p class="note">{len(without)} counselors have fewer than {result.min_rated} '
            f"rated sessions (at most {most}): no estimate for them; rate more of their "
            "sessions or lower --min-rated.</p>"
        )
    if not result.counselors:
        parts.append('<p class="note">no session has a counselor id</p>')
    parts.append(f"<h3>Interaction patterns ({escape(result.target)})</h3>")
    if result.patterns:
        rows = [_row([p["term"]], p) for p in result.patterns]
        parts.append(_table(("term", *_HEAD), rows))
    else:
        parts.append('<p class="note">no PPI regression (see the notes above)</p>')
    return "".join(parts)


def ppi_summary(result: PPIResult) -> list[str]:
    """Lines for the terminal: each corpus mean with its three intervals."""
    lines = [f"prediction-powered {result.level:.0%} intervals (PPI | naive | rated only):"]
    for score, record in result.corpus.items():
        ratio = width_ratio(record)
        lines.append(
            f"  {score}: {cell(record['estimate'], record['ci'])} | "
            f"{cell(record['naive_estimate'], record['naive_ci'])} | "
            f"{cell(record['rated_only_estimate'], record['rated_only_ci'])}"
            + (f"; PPI width {ratio} of rated-only" if ratio else "")
        )
    enough = sum(c["estimates"] is not None for c in result.counselors)
    lines.append(
        f"  {enough} of {len(result.counselors)} counselors have {result.min_rated}+ rated "
        f"sessions; {len(result.patterns)} pattern coefficients"
    )
    return lines
