"""Small hand-written SVG charts for the evaluation report (no plotting library needed).

Every function returns one self-contained ``<svg>`` element as a string, sized in pixels
and with a ``viewBox``, so that a page can lay the charts out with CSS and they render
offline in any browser. All text is escaped.

Charts:

* :func:`bar_chart` - grouped bars with confidence-interval whiskers (systems x targets).
* :func:`scatter_plot` - predicted against client rating, with the identity line and the
  least-squares line.
* :func:`line_plot` - calibration curves (mean client rating per bin of predictions).
* :func:`histogram` - the distribution of client ratings with the systems' predicted
  distributions drawn over it as step lines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np

__all__ = [
    "PALETTE",
    "Series",
    "bar_chart",
    "histogram",
    "line_plot",
    "nice_ticks",
    "scatter_plot",
]

#: Colour-blind-safe colours (Okabe & Ito) for systems, in order.
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#F0C808",  # yellow
)
#: Colours of the reference rows.
REFERENCE_COLOURS: dict[str, str] = {
    "baseline/mean-rating": "#BBBBBB",
    "baseline/length": "#777777",
    "human": "#009E73",  # bluish green
}
TEXT = "#222222"
GRID = "#E6E6E6"
AXIS = "#888888"
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif"


@dataclass(frozen=True)
class Series:
    """One system's data in a chart.

    Attributes:
        name: Legend label.
        colour: CSS colour.
        values: The chart's values (per chart: bar values, points, or samples).
        low: Lower interval ends (bar charts), else empty.
        high: Upper interval ends (bar charts), else empty.
        dashed: Draw lines dashed (reference rows).
    """

    name: str
    colour: str
    values: Sequence[float]
    low: Sequence[float] = ()
    high: Sequence[float] = ()
    dashed: bool = False


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering ``[low, high]``."""
    if not math.isfinite(low) or not math.isfinite(high):
        return []
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    start = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _tick_label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value - round(value)) < 1e-9:
        return f"{round(value)}"
    return f"{value:.2f}".rstrip("0").rstrip(".").replace("-0.", "−0.").replace("-", "−")


def px(value: float) -> str:
    """A pixel coordinate as SVG attribute text (one decimal)."""
    return f"{value:.1f}"


class PlotFrame:
    """Maps data coordinates to pixels inside a chart's plot area."""

    def __init__(
        self,
        width: int,
        height: int,
        xlim: tuple[float, float],
        ylim: tuple[float, float],
        margin: tuple[int, int, int, int] = (34, 14, 44, 50),
    ) -> None:
        self.width, self.height = width, height
        self.top, self.right, self.bottom, self.left = margin
        self.xlim, self.ylim = xlim, ylim

    @property
    def x0(self) -> float:
        return float(self.left)

    @property
    def x1(self) -> float:
        return float(self.width - self.right)

    @property
    def y0(self) -> float:
        return float(self.height - self.bottom)

    @property
    def y1(self) -> float:
        return float(self.top)

    def x(self, value: float) -> float:
        lo, hi = self.xlim
        return self.x0 + (value - lo) / (hi - lo or 1.0) * (self.x1 - self.x0)

    def y(self, value: float) -> float:
        lo, hi = self.ylim
        return self.y0 - (value - lo) / (hi - lo or 1.0) * (self.y0 - self.y1)


def open_svg(width: int, height: int, label: str, css_class: str) -> str:
    """The opening <svg> tag of a chart of the given size, labelled for screen readers."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{css_class}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" style="{FONT}">'
        f"<title>{escape(label)}</title>"
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#FFFFFF"/>'
    )


def draw_title(frame: PlotFrame, text: str) -> str:
    """The chart title, centred above the plot area."""
    return (
        f'<text x="{px(frame.width / 2)}" y="18" text-anchor="middle" font-size="14" '
        f'font-weight="600" fill="{TEXT}">{escape(text)}</text>'
    )


def draw_axes(
    frame: PlotFrame,
    xlabel: str,
    ylabel: str,
    xticks: Sequence[float] | None,
    yticks: Sequence[float],
    xcategories: Sequence[tuple[float, str]] | None = None,
) -> str:
    """Grid lines, tick labels, axis lines and axis labels of a plot area."""
    parts = []
    for tick in yticks:
        y = frame.y(tick)
        parts.append(
            f'<line x1="{px(frame.x0)}" y1="{px(y)}" x2="{px(frame.x1)}" y2="{px(y)}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{px(frame.x0 - 6)}" y="{px(y + 4)}" text-anchor="end" '
            f'font-size="11" fill="{TEXT}">{_tick_label(tick)}</text>'
        )
    for tick in xticks or ():
        x = frame.x(tick)
        parts.append(
            f'<line x1="{px(x)}" y1="{px(frame.y1)}" x2="{px(x)}" y2="{px(frame.y0)}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{px(x)}" y="{px(frame.y0 + 15)}" text-anchor="middle" '
            f'font-size="11" fill="{TEXT}">{_tick_label(tick)}</text>'
        )
    for x, label in xcategories or ():
        parts.append(
            f'<text x="{px(x)}" y="{px(frame.y0 + 16)}" text-anchor="middle" '
            f'font-size="12" fill="{TEXT}">{escape(label)}</text>'
        )
    parts.append(
        f'<line x1="{px(frame.x0)}" y1="{px(frame.y0)}" x2="{px(frame.x1)}" '
        f'y2="{px(frame.y0)}" stroke="{AXIS}" stroke-width="1"/>'
        f'<line x1="{px(frame.x0)}" y1="{px(frame.y1)}" x2="{px(frame.x0)}" '
        f'y2="{px(frame.y0)}" stroke="{AXIS}" stroke-width="1"/>'
    )
    if xlabel:
        parts.append(
            f'<text x="{px((frame.x0 + frame.x1) / 2)}" y="{px(frame.height - 8)}" '
            f'text-anchor="middle" font-size="12" fill="{TEXT}">{escape(xlabel)}</text>'
        )
    if ylabel:
        cy = (frame.y0 + frame.y1) / 2
        parts.append(
            f'<text x="13" y="{px(cy)}" text-anchor="middle" font-size="12" fill="{TEXT}" '
            f'transform="rotate(-90 13 {px(cy)})">{escape(ylabel)}</text>'
        )
    return "".join(parts)


def legend(series: Sequence[Series], width: int, marker: str = "rect") -> str:
    """A horizontal legend as its own small SVG (wraps onto several rows)."""
    rows: list[list[tuple[Series, float]]] = [[]]
    x = 0.0
    for item in series:
        item_width = 28 + 7.2 * len(item.name)
        if x + item_width > width and rows[-1]:
            rows.append([])
            x = 0.0
        rows[-1].append((item, x))
        x += item_width
    height = 22 * len(rows) + 4
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="legend" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" style="{FONT}">'
    ]
    for row_number, row in enumerate(rows):
        y = 14 + 22 * row_number
        for item, x in row:
            if marker == "line":
                dash = ' stroke-dasharray="5 3"' if item.dashed else ""
                parts.append(
                    f'<line x1="{px(x)}" y1="{y - 4}" x2="{px(x + 18)}" y2="{y - 4}" '
                    f'stroke="{item.colour}" stroke-width="3"{dash}/>'
                )
            else:
                parts.append(
                    f'<rect x="{px(x)}" y="{y - 11}" width="14" height="14" rx="2" '
                    f'fill="{item.colour}"/>'
                )
            parts.append(
                f'<text x="{px(x + 22)}" y="{y}" font-size="12" fill="{TEXT}">'
                f"{escape(item.name)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    ylabel: str,
    width: int = 620,
    height: int = 300,
    ylim: tuple[float, float] | None = None,
) -> str:
    """Grouped bars (one group per category, one bar per series) with interval whiskers.

    NaN values draw no bar; the whisker is drawn where both ends are finite.
    """
    values = [v for s in series for v in (*s.values, *s.low, *s.high) if math.isfinite(v)]
    if ylim is None:
        lo = min([0.0, *values])
        hi = max([0.0, *values]) or 1.0
        ticks = nice_ticks(lo, hi, 5)
        step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
        ylim = (math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step)
    frame = PlotFrame(width, height, (0.0, float(len(categories))), ylim, (34, 10, 30, 52))
    parts = [open_svg(width, height, title, "chart bars"), draw_title(frame, title)]
    group_width = (frame.x1 - frame.x0) / max(len(categories), 1)
    centres = [(frame.x0 + group_width * (i + 0.5), name) for i, name in enumerate(categories)]
    parts.append(draw_axes(frame, "", ylabel, None, nice_ticks(*ylim), centres))
    n = max(len(series), 1)
    bar_width = min(28.0, 0.8 * group_width / n)
    zero = frame.y(max(ylim[0], min(0.0, ylim[1])))
    for position, item in enumerate(series):
        for index, value in enumerate(item.values):
            if not math.isfinite(value):
                continue
            left = frame.x0 + group_width * index + group_width / 2 - bar_width * n / 2
            x = left + position * bar_width
            y = frame.y(value)
            top, bar_height = min(y, zero), abs(zero - y)
            parts.append(
                f'<rect class="bar" x="{px(x + 1)}" y="{px(top)}" '
                f'width="{px(bar_width - 2)}" height="{px(max(bar_height, 0.5))}" '
                f'fill="{item.colour}"><title>{escape(item.name)}, {escape(categories[index])}'
                f": {value:.3f}</title></rect>"
            )
            if index < len(item.low) and index < len(item.high):
                low, high = item.low[index], item.high[index]
                if math.isfinite(low) and math.isfinite(high):
                    cx = x + bar_width / 2
                    parts.append(
                        f'<path d="M{px(cx)} {px(frame.y(low))}V{px(frame.y(high))}'
                        f"M{px(cx - 4)} {px(frame.y(low))}H{px(cx + 4)}"
                        f'M{px(cx - 4)} {px(frame.y(high))}H{px(cx + 4)}" '
                        f'stroke="{TEXT}" stroke-width="1.3" fill="none"/>'
                    )
    if ylim[0] < 0 < ylim[1]:
        parts.append(
            f'<line x1="{px(frame.x0)}" y1="{px(zero)}" x2="{px(frame.x1)}" '
            f'y2="{px(zero)}" stroke="{AXIS}" stroke-width="1"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def scatter_plot(
    truth: Sequence[float],
    predicted: Sequence[float],
    *,
    scale: tuple[float, float],
    title: str,
    colour: str,
    xlabel: str = "client's rating",
    ylabel: str = "predicted",
    width: int = 226,
    height: int = 236,
    max_points: int = 800,
    seed: int = 0,
) -> str:
    """Predicted (y) against client rating (x) on the target's scale.

    Pairs with a NaN are left out. With more than ``max_points`` pairs a random subset
    (fixed ``seed``) is drawn and the title says so. The dashed diagonal is perfect
    agreement; the solid line is the least-squares fit of all pairs.
    """
    x = np.asarray(truth, dtype=float)
    y = np.asarray(predicted, dtype=float)
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    lo, hi = scale
    pad = 0.03 * (hi - lo)
    frame = PlotFrame(width, height, (lo - pad, hi + pad), (lo - pad, hi + pad), (34, 12, 42, 46))
    shown = np.arange(len(x))
    if len(x) > max_points:
        shown = np.sort(np.random.default_rng(seed).choice(len(x), max_points, replace=False))
    label = title if len(shown) == len(x) else f"{title} ({len(shown)} of {len(x)} shown)"
    parts = [open_svg(width, height, label, "chart scatter"), draw_title(frame, title)]
    ticks = nice_ticks(lo, hi, 5)
    parts.append(draw_axes(frame, xlabel, ylabel, ticks, ticks))
    parts.append(
        f'<line x1="{px(frame.x(lo))}" y1="{px(frame.y(lo))}" x2="{px(frame.x(hi))}" '
        f'y2="{px(frame.y(hi))}" stroke="{AXIS}" stroke-width="1.2" stroke-dasharray="4 3"/>'
    )
    radius = 2.6 if len(shown) > 300 else 3.2
    opacity = 0.35 if len(shown) > 300 else 0.6
    parts.append(f'<g fill="{colour}" fill-opacity="{opacity}">')
    shown_y = np.clip(y[shown], lo - pad, hi + pad)
    parts.extend(
        f'<circle cx="{px(frame.x(x[i]))}" cy="{px(frame.y(yv))}" r="{radius}"/>'
        for i, yv in zip(shown, shown_y, strict=True)
    )
    parts.append("</g>")
    if len(x) >= 2 and np.std(x) > 0:
        slope, intercept = np.polyfit(x, y, 1)
        x_a, x_b = float(x.min()), float(x.max())
        ya, yb = slope * x_a + intercept, slope * x_b + intercept
        parts.append(
            f'<line x1="{px(frame.x(x_a))}" y1="{px(frame.y(ya))}" x2="{px(frame.x(x_b))}" '
            f'y2="{px(frame.y(yb))}" stroke="{TEXT}" stroke-width="2"/>'
        )
    if len(shown) < len(x):
        parts.append(
            f'<text x="{px(frame.x0 + 4)}" y="{px(frame.y1 + 10)}" text-anchor="start" '
            f'font-size="10" fill="{TEXT}">{len(shown)} of {len(x)} sessions shown</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def line_plot(
    series: Sequence[tuple[Series, Sequence[float]]],
    *,
    scale: tuple[float, float],
    title: str,
    xlabel: str = "mean predicted",
    ylabel: str = "mean client rating",
    width: int = 226,
    height: int = 236,
    diagonal: bool = True,
) -> str:
    """Lines through points (x from the pair's second element, y from the series' values),
    on a square frame over ``scale``, with the dashed diagonal of perfect calibration."""
    lo, hi = scale
    pad = 0.03 * (hi - lo)
    frame = PlotFrame(width, height, (lo - pad, hi + pad), (lo - pad, hi + pad), (34, 12, 42, 46))
    parts = [open_svg(width, height, title, "chart calibration"), draw_title(frame, title)]
    ticks = nice_ticks(lo, hi, 5)
    parts.append(draw_axes(frame, xlabel, ylabel, ticks, ticks))
    if diagonal:
        parts.append(
            f'<line x1="{px(frame.x(lo))}" y1="{px(frame.y(lo))}" x2="{px(frame.x(hi))}" '
            f'y2="{px(frame.y(hi))}" stroke="{AXIS}" stroke-width="1.2" '
            'stroke-dasharray="4 3"/>'
        )
    for item, xs in series:
        points = [
            (frame.x(xv), frame.y(yv))
            for xv, yv in zip(xs, item.values, strict=True)
            if math.isfinite(xv) and math.isfinite(yv)
        ]
        if not points:
            continue
        parts.append(polyline(points, item.colour, item.name, 2.2, 3, dashed=item.dashed))
    parts.append("</svg>")
    return "".join(parts)


def polyline(
    points: list[tuple[float, float]],
    colour: str,
    name: str,
    stroke_width: float,
    radius: float,
    *,
    dashed: bool = False,
) -> str:
    """A named line through ``points`` (pixel coordinates) with a dot at each point."""
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    path = " ".join(f"{'M' if i == 0 else 'L'}{px(x)} {px(y)}" for i, (x, y) in enumerate(points))
    dots = "".join(
        f'<circle cx="{px(x)}" cy="{px(y)}" r="{radius}" fill="{colour}"/>' for x, y in points
    )
    return (
        f'<path class="curve" d="{path}" fill="none" stroke="{colour}" '
        f'stroke-width="{stroke_width}"{dash}><title>{escape(name)}</title></path>{dots}'
    )


def histogram(
    truth: Sequence[float],
    overlays: Sequence[Series],
    *,
    scale: tuple[float, float],
    title: str,
    bins: int = 10,
    xlabel: str = "score",
    width: int = 226,
    height: int = 220,
) -> str:
    """Share of sessions per bin: the client ratings as grey bars, each overlay's values
    as a step line over the same bins (NaN values left out)."""
    lo, hi = scale
    edges = np.linspace(lo, hi, bins + 1)

    def shares(values: Sequence[float]) -> np.ndarray:
        arr = np.asarray(values, dtype=float)
        arr = arr[~np.isnan(arr)]
        if not len(arr):
            return np.zeros(bins)
        counts, _ = np.histogram(np.clip(arr, lo, hi), bins=edges)
        return counts / len(arr)

    base = shares(truth)
    lines = [(item, shares(item.values)) for item in overlays]
    top = max([float(base.max()), *(float(s.max()) for _, s in lines), 0.05]) * 1.1
    frame = PlotFrame(width, height, (lo, hi), (0.0, top), (34, 12, 42, 50))
    parts = [open_svg(width, height, title, "chart histogram"), draw_title(frame, title)]
    parts.append(
        draw_axes(frame, xlabel, "share of sessions", nice_ticks(lo, hi, 5), nice_ticks(0, top, 4))
    )
    for index, share in enumerate(base):
        x_a, x_b = frame.x(edges[index]), frame.x(edges[index + 1])
        y = frame.y(float(share))
        parts.append(
            f'<rect class="bar" x="{px(x_a + 0.5)}" y="{px(y)}" width="{px(x_b - x_a - 1)}" '
            f'height="{px(frame.y0 - y)}" fill="#CFCFCF"/>'
        )
    for item, share in lines:
        path = [f"M{px(frame.x(edges[0]))} {px(frame.y(float(share[0])))}"]
        for index in range(len(share)):
            path.append(f"H{px(frame.x(edges[index + 1]))}")
            if index + 1 < len(share):
                path.append(f"V{px(frame.y(float(share[index + 1])))}")
        dash = ' stroke-dasharray="6 4"' if item.dashed else ""
        parts.append(
            f'<path class="curve" d="{"".join(path)}" fill="none" stroke="{item.colour}" '
            f'stroke-width="2.2"{dash}><title>{escape(item.name)}</title></path>'
        )
    parts.append("</svg>")
    return "".join(parts)
