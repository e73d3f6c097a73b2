"""Tests of care.stats.plots: the hand-written SVG charts."""

from __future__ import annotations

import numpy as np
import pytest

from care.stats.plots import Series, bar_chart, histogram, nice_ticks, scatter_plot


def test_nice_ticks() -> None:
    assert nice_ticks(0, 5) == [0, 1, 2, 3, 4, 5]
    assert nice_ticks(0, 100) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(-0.2, 0.4, 3) == pytest.approx([-0.2, 0, 0.2, 0.4])


def test_charts_are_svg_and_escape_text() -> None:
    chart = bar_chart(
        ["goal", "a<b"],
        [Series("x&y", "#000", [0.5, float("nan")], [0.4, 0.1], [0.6, 0.2])],
        title="r <1>",
        ylabel="r",
    )
    assert chart.startswith("<svg") and chart.endswith("</svg>")
    assert "a&lt;b" in chart and "x&amp;y" in chart and "r &lt;1&gt;" in chart
    assert chart.count('class="bar"') == 1  # the NaN bar is not drawn
    points = scatter_plot(
        np.arange(2000) % 5 + 1,
        np.arange(2000) % 5 + 1,
        scale=(1, 5),
        title="t",
        colour="#123456",
        max_points=300,
    )
    assert points.count("<circle") == 300 and "300 of 2000 sessions shown" in points
    hist = histogram([1, 2, 3], [Series("s", "#000", [2, 2, 2])], scale=(1, 5), title="h")
    assert hist.count('class="bar"') == 10 and hist.count('class="curve"') == 1
