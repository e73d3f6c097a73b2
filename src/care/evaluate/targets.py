"""What ``care evaluate`` scores: which metrics (their facts are the records of
:data:`care.stats.metrics.METRICS`), and the targets of an instrument (items,
dimensions, total) with their prediction and rating tables."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from care.instruments import Instrument
from care.stats.metrics import METRICS

#: Metrics of every target: those that do not round to a scale.
HEADLINE_METRICS: tuple[str, ...] = tuple(
    name for name, metric in METRICS.items() if not metric.uses_scale
)
#: Metrics of every item: all of them (the rounded ones use the item's scale).
ITEM_METRICS: tuple[str, ...] = tuple(METRICS)
#: Metrics of a human rater on another scale than the client's: the correlations.
CORRELATION_METRICS: tuple[str, ...] = tuple(
    name for name in HEADLINE_METRICS if METRICS[name].is_correlation
)


def metric_label(name: str) -> str:
    """A metric's short name for report tables (its key when it is not a built-in one)."""
    return METRICS[name].label if name in METRICS else name


def metric_definitions() -> dict[str, str]:
    """Every metric's exact variant, as written into reports, in report order."""
    return {name: metric.definition for name, metric in METRICS.items()}


Kind = Literal["system", "baseline", "human"]
Unit = Literal["client", "session"]


@dataclass(frozen=True)
class Target:
    """One thing that is scored: an item, a dimension, or the total.

    Attributes:
        key: Column key in the score frames: ``"item:<id>"``, ``"dim:<name>"`` or
            ``"total"``.
        name: The item id, dimension name or ``"total"``.
        kind: ``"item"``, ``"dimension"`` or ``"total"``.
        scale: ``(min, max)`` of the target's scale.
        headline: Whether it is in the headline table (dimensions, the total, and items
            with a scale of their own such as KokoroChat's ``overall``).
    """

    key: str
    name: str
    kind: str
    scale: tuple[float, float]
    headline: bool


def instrument_targets(instrument: Instrument) -> list[Target]:
    """The targets of an instrument: headline targets first, then every item."""
    main = (float(instrument.scale.min), float(instrument.scale.max))
    targets = [
        Target(f"dim:{name}", name, "dimension", main, True) for name in instrument.dimensions
    ]
    targets.append(Target("total", "total", "total", main, True))
    scored = set(instrument.scored_item_ids)
    for item in instrument.items:
        scale = instrument.scale_for(item.id)
        targets.append(
            Target(
                f"item:{item.id}",
                item.id,
                "item",
                (float(scale.min), float(scale.max)),
                item.id not in scored,
            )
        )
    return targets


def score_frame(
    values: Mapping[str, Mapping[str, float | None]], instrument: Instrument
) -> pd.DataFrame:
    """Item values, dimension scores and total of every session, as target columns.

    Args:
        values: Session id to item id to value (missing, None or NaN for no value).
        instrument: Scores the dimensions and the total.

    Returns:
        A frame indexed by session id with the columns of :func:`instrument_targets`.
    """
    keys = [target.key for target in instrument_targets(instrument)]
    rows: dict[str, dict[str, float]] = {}
    for session_id, item_values in values.items():
        clean = {
            key: float(value)
            for key, value in item_values.items()
            if value is not None and not math.isnan(float(value)) and key in instrument
        }
        row = {f"item:{item_id}": clean.get(item_id, math.nan) for item_id in instrument.item_ids}
        for name, value in instrument.dimension_scores(clean).items():
            row[f"dim:{name}"] = value
        row["total"] = instrument.total_score(clean)
        rows[session_id] = row
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=keys, dtype=float)
    frame.index.name = "session_id"
    return frame


def is_missing(value: Any) -> bool:
    """Whether a figure is absent: None or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def cell_text(row: Mapping[str, Any] | None, digits: int = 3) -> str:
    """A score row (``value``, ``ci_low``, ``ci_high``) as ``"0.604 [0.582, 0.634]"``;
    ``"–"`` when there is no value."""
    if row is None or row["value"] is None or is_missing(row["value"]):
        return "–"
    text = f"{row['value']:.{digits}f}"
    if not is_missing(row.get("ci_low")) and not is_missing(row.get("ci_high")):
        text += f" [{row['ci_low']:.{digits}f}, {row['ci_high']:.{digits}f}]"
    return text
