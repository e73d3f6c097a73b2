"""The rows of an evaluation: systems' predictions, the cross-validated baselines and the
human raters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from care.data.corpus import Corpus
from care.data.session import Session
from care.errors import CareError
from care.evaluate.targets import Kind, score_frame
from care.instruments import Instrument, get_instrument
from care.results import Assessments
from care.stats import fold_assignments


@dataclass
class SystemPredictions:
    """One row source of an evaluation: a system, a baseline, or a human rater.

    Attributes:
        name: Name shown in the tables, e.g. ``"care-lite-en"``, ``"baseline/length"``.
        kind: ``"system"`` (predictions read from a file), ``"baseline"`` (fitted by the
            evaluator) or ``"human"`` (another rater's ratings from the gold sessions).
        values: Scores per session: index session id, columns target keys.
        folds: The fold of each session, if known.
        source: Where the values come from (a file, "cross-validation on the gold
            sessions", ...).
        description: One line on what the row is.
        error_metrics: Whether MSE and MAE are meaningful (False for a human rater on
            another scale).
        assessments: The assessments read from the file (systems only).
    """

    name: str
    kind: Kind
    values: pd.DataFrame
    folds: pd.Series | None = None
    source: str = ""
    description: str = ""
    error_metrics: bool = True
    assessments: Assessments | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready description of the row."""
        return {
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "description": self.description,
            "n_sessions": len(self.values),
            "folds": None if self.folds is None else int(self.folds.nunique()),
            "error_metrics": self.error_metrics,
        }


def system_from_assessments(
    name: str, assessments: Assessments, instrument: Instrument, source: str
) -> SystemPredictions:
    values = {a.session_id: a.item_values() for a in assessments}
    folds = [a.meta.get("fold") for a in assessments]
    fold_series = None
    if folds and all(isinstance(f, int) and not isinstance(f, bool) for f in folds):
        fold_series = pd.Series(folds, index=[a.session_id for a in assessments], dtype=int)
    models = sorted({a.model for a in assessments})
    return SystemPredictions(
        name=name,
        kind="system",
        values=score_frame(values, instrument),
        folds=fold_series,
        source=source,
        description=f"predictions of {', '.join(models)} read from {source}",
        assessments=assessments,
    )


def _groups_of(sessions: Sequence[Session]) -> list[str | None]:
    return [session.client_id for session in sessions]


def folds_for_baselines(
    sessions: Sequence[Session],
    hint: pd.Series | None,
    n_splits: int,
    seed: int,
) -> tuple[np.ndarray | None, str]:
    """Folds for the baselines: the systems' folds if they cover every rated session,
    else client-grouped folds; None when there are fewer than 2 clients."""
    ids = [session.id for session in sessions]
    if hint is not None and set(ids) <= set(hint.index):
        values = hint.reindex(ids).to_numpy()
        codes = pd.factorize(values)[0]
        if codes.max() >= 1:
            return codes.astype(int), "the systems' folds"
    groups = [
        g if g is not None else f"session:{s.id}"
        for g, s in zip(_groups_of(sessions), sessions, strict=True)
    ]
    n_groups = len(set(groups))
    if n_groups < 2:
        return None, ""
    k = min(n_splits, n_groups)
    return (
        fold_assignments(groups, n_splits=k, seed=seed),
        f"{k}-fold cross-validation grouped by client",
    )


def cross_validated_baselines(
    sessions: Sequence[Session],
    instrument: Instrument,
    folds: np.ndarray,
    fold_source: str,
) -> list[SystemPredictions]:
    """Out-of-fold predictions of the mean-rating and length-only baselines.

    Args:
        sessions: Sessions rated by their client on ``instrument`` (cut already, for the
            process-only view).
        instrument: The instrument.
        folds: The test fold of every session.
        fold_source: How the folds were made (for the description).
    """
    from care.assessors.baselines import LengthAssessor, MeanRatingAssessor

    rows = []
    for cls, description in (
        (MeanRatingAssessor, "predicts every item's mean rating in the training folds"),
        (LengthAssessor, "ridge regression of every item on session-length features"),
    ):
        values: dict[str, dict[str, float]] = {}
        for fold in np.unique(folds):
            train = Corpus(s for s, f in zip(sessions, folds, strict=True) if f != fold)
            test = [s for s, f in zip(sessions, folds, strict=True) if f == fold]
            assessor = cls(instrument).fit(train, instrument, "client")
            for assessment in assessor.assess(test):
                values[assessment.session_id] = assessment.item_values()
        ordered = {s.id: values[s.id] for s in sessions}
        rows.append(
            SystemPredictions(
                name=cls.name,
                kind="baseline",
                values=score_frame(ordered, instrument),
                folds=pd.Series(folds, index=[s.id for s in sessions], dtype=int),
                source=f"out-of-fold predictions, {fold_source}, on the evaluated gold sessions",
                description=description,
            )
        )
    return rows


def human_raters(sessions: Sequence[Session], instrument: Instrument) -> list[SystemPredictions]:
    """Rows for the counselor's and observers' own ratings of the gold sessions.

    Their dimension scores and total (on their own instrument) are matched to the client's
    by dimension name. MSE/MAE are only meaningful when the scales are the same.
    """
    rows = []
    for rater in ("counselor", "observer"):
        by_instrument: dict[str, dict[str, dict[str, float]]] = {}
        for session in sessions:
            for rating_set in session.ratings:
                if rating_set.rater == rater:
                    by_instrument.setdefault(rating_set.instrument, {})[session.id] = dict(
                        rating_set.values
                    )
        for instrument_id, values in sorted(by_instrument.items()):
            try:
                theirs = get_instrument(instrument_id)
            except CareError:
                continue
            shared = [name for name in theirs.dimensions if name in instrument.dimensions]
            frame = score_frame(values, theirs)
            columns = {f"dim:{name}": frame[f"dim:{name}"] for name in shared}
            columns["total"] = frame["total"]
            same_scale = (theirs.scale.min, theirs.scale.max) == (
                instrument.scale.min,
                instrument.scale.max,
            )
            rows.append(
                SystemPredictions(
                    name=f"human/{rater} ({instrument_id})",
                    kind="human",
                    values=pd.DataFrame(columns, index=frame.index),
                    source="ratings in the gold sessions",
                    description=f"the {rater}'s own ratings on '{instrument_id}', "
                    f"dimensions matched by name ({', '.join(shared) or 'none'}) and total",
                    error_metrics=same_scale,
                )
            )
    return rows
