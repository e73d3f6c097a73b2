"""The session table (scores joined with session facts) and score distributions."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from care.data.session import Session
from care.errors import DataError
from care.instruments import get_instrument
from care.results import Assessments

log = logging.getLogger(__name__)

#: Columns of :func:`session_table` that are not scores.
FACT_COLUMNS = ("session_id", "client_id", "counselor_id", "date", "n_turns", "language")


def session_date(session: Session) -> str | None:
    """The session's date: ``meta["date"]`` (or ``meta["time"]``), else its first turn time."""
    for key in ("date", "time", "started_at"):
        value = session.meta.get(key)
        if value:
            return str(value)
    for turn in session.turns:
        if turn.time:
            return str(turn.time)
    return None


def session_table(
    sessions: Iterable[Session], assessments: Assessments
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """One row per session that has both a transcript and a result, joined by session id.

    Returns:
        ``(table, dimensions)``: the table has the :data:`FACT_COLUMNS`, one column per item
        (``item:ID``), per dimension and ``total``; ``dimensions`` maps the instrument's
        dimensions to their items.

    Raises:
        DataError: No session id is shared by the sessions and the results, or the results
            mix instruments.
    """
    by_id = {session.id: session for session in sessions}
    results = assessments.by_session()
    instruments = {a.instrument for a in results.values()}
    if len(instruments) > 1:
        raise DataError(
            f"the results mix instruments {sorted(instruments)}",
            field="instrument",
            fix="analyze the results of one instrument at a time",
        )
    common = [sid for sid in by_id if sid in results]
    if not common:
        raise DataError(
            f"none of the {len(by_id)} sessions has a result among the {len(results)} results "
            "(they are joined by session id)",
            field="session_id",
            fix="give the session files the results were computed from",
        )
    missing = len(by_id) - len(common)
    if missing:
        log.warning("%d sessions have no result and are left out", missing)
    instrument = get_instrument(next(iter(instruments)))
    rows = []
    for sid in common:
        session, result = by_id[sid], results[sid]
        row: dict[str, object] = {
            "session_id": sid,
            "client_id": session.client_id,
            "counselor_id": session.counselor_id,
            "date": session_date(session),
            "n_turns": len(session.turns),
            "language": result.language or session.language,
        }
        row.update({f"item:{k}": v for k, v in result.item_values().items()})
        row.update(result.dimension_scores(instrument))
        row["total"] = result.total_score(instrument)
        rows.append(row)
    table = pd.DataFrame(rows)
    dimensions = {name: list(items) for name, items in instrument.dimensions.items()}
    return table, dimensions


def score_columns(table: pd.DataFrame) -> list[str]:
    """The score columns of a session table: items, dimensions and total."""
    return [c for c in table.columns if c not in FACT_COLUMNS]


def score_distributions(table: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Per score column: n, mean, sd (ddof=1), min, quartiles, max, skewness.

    NaN values are left out per column.
    """
    from scipy import stats

    rows = []
    for column in columns if columns is not None else score_columns(table):
        values = table[column].to_numpy(dtype=float)
        values = values[~np.isnan(values)]
        n = len(values)
        row = {"score": column, "n": n}
        if n:
            q = np.percentile(values, [25, 50, 75])
            row.update(
                mean=float(values.mean()),
                sd=float(values.std(ddof=1)) if n > 1 else float("nan"),
                min=float(values.min()),
                q25=float(q[0]),
                median=float(q[1]),
                q75=float(q[2]),
                max=float(values.max()),
                skew=float(stats.skew(values)) if n > 2 else float("nan"),
            )
        rows.append(row)
    return pd.DataFrame(rows)
