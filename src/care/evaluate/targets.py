"""What ``care evaluate`` scores: the metrics, and the targets of an instrument (items,
dimensions, total) with their prediction and rating tables."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from care.instruments import Instrument

#: Metrics of every target.
HEADLINE_METRICS: tuple[str, ...] = ("pearson", "spearman", "mse", "mae")
#: Metrics of every item (the rounded ones use the item's scale).
ITEM_METRICS: tuple[str, ...] = (
    *HEADLINE_METRICS,
    "exact_accuracy",
    "within_one_accuracy",
    "rounded_mae",
)
#: Metrics where higher is better (for the verdict of paired tests).
HIGHER_IS_BETTER = frozenset({"pearson", "spearman", "exact_accuracy", "within_one_accuracy"})

#: The exact variant of every metric, as written into reports.
METRIC_VARIANTS: dict[str, str] = {
    "pearson": "Pearson product-moment correlation r between prediction and client rating",
    "spearman": "Spearman rank correlation rho: Pearson r of mid-ranks (ties averaged)",
    "mse": "mean squared error, on the target's own scale",
    "mae": "mean absolute error, on the target's own scale",
    "exact_accuracy": "share of sessions whose prediction, rounded half up (2.5 -> 3) and "
    "clipped to the item's scale, equals the client's rating",
    "within_one_accuracy": "share of sessions whose rounded, clipped prediction is at most 1 "
    "point from the client's rating",
    "rounded_mae": "mean absolute error of the rounded, clipped prediction",
}
METRIC_LABELS: dict[str, str] = {
    "pearson": "Pearson r",
    "spearman": "Spearman ρ",
    "mse": "MSE",
    "mae": "MAE",
    "exact_accuracy": "exact",
    "within_one_accuracy": "within ±1",
    "rounded_mae": "rounded MAE",
}

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
