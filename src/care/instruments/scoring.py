"""Dimension and total scores for many sessions at once, by the instrument's own key.

The same rule as :meth:`Instrument.dimension_scores` (the mean of a dimension's items after
reverse keying), applied to a (sessions x items) array: the home of that rule for tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from care.instruments.base import Instrument


def keyed_matrix(instrument: Instrument, values: np.ndarray, item_ids: Sequence[str]) -> np.ndarray:
    """``values`` (sessions x ``item_ids``) after reverse keying, NaN kept."""
    keyed = np.array(values, dtype=float, copy=True)
    for column, item_id in enumerate(item_ids):
        if item_id in instrument and instrument.item(item_id).reverse_keyed:
            scale = instrument.scale_for(item_id)
            keyed[:, column] = scale.min + scale.max - keyed[:, column]
    return keyed


def score_matrix(
    instrument: Instrument,
    values: np.ndarray,
    item_ids: Sequence[str],
    *,
    min_items: int | None = 1,
) -> dict[str, np.ndarray]:
    """Each dimension's and the total's score per row of ``values``.

    Args:
        instrument: The instrument whose dimensions and keys apply.
        values: (sessions x items) ratings, NaN where unrated.
        item_ids: The item id of each column.
        min_items: Rated items a score needs (None: all of them); the default 1 takes the
            mean of whatever is rated.

    Returns:
        ``{dimension: scores, ..., "total": scores}``, NaN where too few items are rated.
    """
    keyed = keyed_matrix(instrument, values, item_ids)
    position = {item_id: column for column, item_id in enumerate(item_ids)}
    groups = {**instrument.dimensions, "total": instrument.scored_item_ids}
    scores: dict[str, np.ndarray] = {}
    for name, members in groups.items():
        columns = keyed[:, [position[item_id] for item_id in members]]
        rated = np.sum(~np.isnan(columns), axis=1)
        required = len(members) if min_items is None else min(min_items, len(members))
        with np.errstate(invalid="ignore"):
            mean = np.nansum(columns, axis=1) / rated
        scores[name] = np.where(rated >= max(required, 1), mean, np.nan)
    return scores
