"""Corpus claims from a few rated sessions: ``care analyze --rated``.

The analysed sessions carry a model's predictions; some sessions (``--rated``: a random
subset of them, or a sample of the same population) also carry the clients' own ratings.
For the corpus mean of every dimension and the total, for each counselor with enough rated
sessions, and for the coefficients of the interaction-pattern regression this module gives
three estimates with their intervals (:mod:`care.analyze.ppi`):

* **PPI**: prediction-powered, from the predictions of the unrated sessions corrected by
  the model's error on the rated ones; valid whatever the model's bias;
* **naive**: the predictions of every session taken as if they were ratings; its interval
  is narrow but measures only sampling noise, not the model's error, so it misses the truth
  whenever the model is biased;
* **rated only**: the rated sessions' ratings alone; valid but wide.

Dimension scores of ratings and predictions both come from the instrument
(:meth:`~care.instruments.Instrument.dimension_scores` and ``total_score``).
A rated session that is also among the analysed sessions (same session id) is not counted
again among the unrated ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from care.analyze.patterns import pair_frequencies
from care.analyze.ppi import Estimate, classical_ols, ppi_ols
from care.data.session import Session
from care.errors import DataError
from care.instruments import Instrument
from care.results import Assessments

#: Why the naive interval cannot be trusted, in one sentence (report and docs).
NAIVE_WARNING = (
    "The naive interval treats the model's predictions as if they were the clients' own "
    "ratings: it measures only how much the predictions vary from session to session, not "
    "how far they are from the ratings, so a biased model gets a narrow interval around the "
    "wrong value."
)

#: What makes the PPI interval valid (report and docs).
VALIDITY_NOTE = (
    "PPI intervals are valid when the rated sessions are a random sample of the analysed "
    "population and were not used to train the model (on its own training sessions a model's "
    "errors look smaller than they are)."
)


@dataclass
class RatedSample:
    """Sessions with the clients' ratings and the same assessor's predictions for them.

    Attributes:
        sessions: The rated sessions (ratings by ``client`` on the analysis's instrument).
        assessments: A prediction for every one of them.
    """

    sessions: list[Session]
    assessments: Assessments


@dataclass
class PPIResult:
    """The ``"ppi"`` block of ``analysis.json``.

    Attributes:
        level: Coverage of every interval.
        min_rated: Fewest rated sessions for a counselor's estimate.
        target: The score of the pattern regression.
        corpus: Score (dimensions, then ``total``) to its entry (see :func:`entry`).
        counselors: Per counselor: ``counselor_id, n_rated, n_unrated`` and ``estimates``
            (score to entry), or ``estimates: None`` and a ``note`` saying why not.
        patterns: Per regression term: ``term`` and the entry of its coefficient.
        notes: What was done and left out, in words.
    """

    level: float
    min_rated: int
    target: str
    corpus: dict[str, dict[str, Any]] = field(default_factory=dict)
    counselors: list[dict[str, Any]] = field(default_factory=list)
    patterns: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "corpus": self.corpus,
            "counselors": self.counselors,
            "patterns": self.patterns,
            "target": self.target,
            "min_rated": self.min_rated,
            "notes": self.notes,
        }

    def to_frame(self) -> pd.DataFrame:
        """Every estimate as one row (``ppi.csv``): ``kind`` (corpus, counselor, pattern),
        ``counselor_id``, ``name`` (score or term), the estimates and interval ends."""
        rows = []

        def add(kind: str, counselor: str | None, name: str, record: dict[str, Any]) -> None:
            row: dict[str, Any] = {"kind": kind, "counselor_id": counselor, "name": name}
            for prefix, key in (
                ("", "ci"),
                ("naive_", "naive_ci"),
                ("rated_only_", "rated_only_ci"),
            ):
                row[f"{prefix}estimate"] = record[f"{prefix}estimate"]
                row[f"{prefix}ci_low"], row[f"{prefix}ci_high"] = record[key]
            row.update(n_rated=record["n_rated"], n_unrated=record["n_unrated"])
            row["lambda"] = record["lambda"]
            rows.append(row)

        for score, record in self.corpus.items():
            add("corpus", None, score, record)
        for counselor in self.counselors:
            for score, record in (counselor["estimates"] or {}).items():
                add("counselor", counselor["counselor_id"], score, record)
        for record in self.patterns:
            add("pattern", None, record["term"], record)
        return pd.DataFrame(rows)


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def entry(
    ppi: Estimate, naive: Estimate, rated: Estimate, n_rated: int, n_unrated: int, index: int = 0
) -> dict[str, Any]:
    """One estimate as written to ``analysis.json``: ``estimate, ci, naive_ci,
    rated_only_ci, n_rated, n_unrated`` and, for the report, ``naive_estimate,
    rated_only_estimate`` and the predictions' weight ``lambda``."""

    def interval(estimate: Estimate) -> list[float | None]:
        return [_number(estimate.low[index]), _number(estimate.high[index])]

    return {
        "estimate": _number(ppi.estimate[index]),
        "ci": interval(ppi),
        "naive_ci": interval(naive),
        "rated_only_ci": interval(rated),
        "n_rated": n_rated,
        "n_unrated": n_unrated,
        "naive_estimate": _number(naive.estimate[index]),
        "rated_only_estimate": _number(rated.estimate[index]),
        "lambda": ppi.lam,
    }


def _cluster(frame: pd.DataFrame) -> list[str]:
    """Client labels (a session without a client id is a client of its own)."""
    return [
        f"client:{c}" if pd.notna(c) else f"session:{s}"
        for c, s in zip(frame["client_id"], frame["session_id"], strict=True)
    ]


def rated_table(
    sample: RatedSample, instrument: Instrument, scores: Sequence[str]
) -> tuple[pd.DataFrame, list[str]]:
    """One row per rated session: ids, and per score ``y:<score>`` (the client's rating)
    and ``f:<score>`` (the prediction); and notes on sessions left out.

    Raises:
        DataError: No session has client ratings on the instrument, or a rated session
            has no prediction.
    """
    predictions = sample.assessments.by_session()
    rows, unrated, notes = [], 0, []
    for session in sample.sessions:
        rating = session.rating(instrument.id, "client")
        if rating is None:
            unrated += 1
            continue
        result = predictions.get(session.id)
        if result is None:
            raise DataError(
                "a rated session has no prediction",
                record=f"session '{session.id}'",
                fix="assess the rated sessions with the same assessor as the others",
            )
        truth = {**instrument.dimension_scores(rating.values)}
        truth["total"] = instrument.total_score(rating.values)
        guess = {**result.dimension_scores(instrument)}
        guess["total"] = result.total_score(instrument)
        row: dict[str, Any] = {
            "session_id": session.id,
            "client_id": session.client_id,
            "counselor_id": session.counselor_id,
        }
        for score in scores:
            row[f"y:{score}"] = truth[score]
            row[f"f:{score}"] = guess[score]
        rows.append(row)
    if not rows:
        raise DataError(
            f"none of the {len(sample.sessions)} rated sessions has client ratings on "
            f"'{instrument.id}'",
            field="ratings",
            fix="give --rated sessions rated by their clients on the results' instrument",
        )
    if unrated:
        notes.append(
            f"{unrated} of the {len(sample.sessions)} --rated sessions have no client ratings "
            f"on {instrument.id} and are left out"
        )
    return pd.DataFrame(rows), notes


def _three(
    y: np.ndarray,
    f_r: np.ndarray,
    f_u: np.ndarray,
    clusters_r: list[str],
    clusters_u: list[str],
    level: float,
    x_r: np.ndarray | None = None,
    x_u: np.ndarray | None = None,
) -> tuple[Estimate, Estimate, Estimate]:
    """PPI, naive and rated-only estimates of a mean (``x`` None) or of OLS coefficients."""
    ppi = ppi_ols(
        x_r,
        y,
        f_r,
        x_u,
        f_u,
        clusters_rated=clusters_r,
        clusters_unrated=clusters_u,
        level=level,
        lam=None if len(f_u) else 0.0,
    )
    x_all = None if x_r is None else np.vstack([x_r, x_u])
    naive = classical_ols(
        x_all, np.concatenate([f_r, f_u]), clusters=clusters_r + clusters_u, level=level
    )
    rated = classical_ols(x_r, y, clusters=clusters_r, level=level)
    return ppi, naive, rated


def _mean_entries(
    rated: pd.DataFrame, unrated: pd.DataFrame, scores: Sequence[str], level: float
) -> dict[str, dict[str, Any]]:
    """Score to the entry of its mean, each from the sessions that have the score."""
    entries = {}
    for score in scores:
        r = rated[rated[f"y:{score}"].notna() & rated[f"f:{score}"].notna()]
        u = unrated[unrated[score].notna()]
        if len(r) < 2:
            continue
        estimates = _three(
            r[f"y:{score}"].to_numpy(float),
            r[f"f:{score}"].to_numpy(float),
            u[score].to_numpy(float),
            _cluster(r),
            _cluster(u),
            level,
        )
        entries[score] = entry(*estimates, len(r), len(u))
    return entries


def _of_counselor(frame: pd.DataFrame, counselor: str) -> pd.Series:
    ids = frame["counselor_id"]
    return ids.notna() & (ids.astype(str) == counselor)


def _counselors(
    rated: pd.DataFrame,
    unrated: pd.DataFrame,
    scores: Sequence[str],
    level: float,
    min_rated: int,
) -> list[dict[str, Any]]:
    """One record per counselor, most rated sessions first."""
    n_rated = rated["counselor_id"].dropna().astype(str).value_counts()
    n_unrated = unrated["counselor_id"].dropna().astype(str).value_counts()
    counselors = sorted(
        set(n_rated.index) | set(n_unrated.index),
        key=lambda c: (-n_rated.get(c, 0), -n_unrated.get(c, 0), c),
    )
    records = []
    for counselor in counselors:
        k, m = int(n_rated.get(counselor, 0)), int(n_unrated.get(counselor, 0))
        record: dict[str, Any] = {"counselor_id": counselor, "n_rated": k, "n_unrated": m}
        if k < min_rated:
            record["estimates"] = None
            record["note"] = (
                f"{k} rated session{'s' if k != 1 else ''}, fewer than the {min_rated} needed: "
                "no estimate"
            )
        else:
            mine_r = rated[_of_counselor(rated, counselor)]
            mine_u = unrated[_of_counselor(unrated, counselor)]
            record["estimates"] = _mean_entries(mine_r, mine_u, scores, level)
        records.append(record)
    return records


def _pattern_entries(
    rated: pd.DataFrame,
    rated_sessions: Sequence[Session],
    unrated: pd.DataFrame,
    frequencies: pd.DataFrame,
    terms: Sequence[str],
    labels: tuple[str, str | None],
    target: str,
    level: float,
) -> tuple[list[dict[str, Any]], list[str]]:
    """The entries of the pattern regression's coefficients (``const`` first)."""
    counselor_key, client_key = labels
    rated_frequencies = pair_frequencies(rated_sessions, counselor_key, client_key)
    rated_frequencies = rated_frequencies.reindex(columns=list(terms), fill_value=0.0)
    r = rated[
        rated["session_id"].isin(rated_frequencies.index)
        & rated[f"y:{target}"].notna()
        & rated[f"f:{target}"].notna()
    ]
    u = unrated[unrated["session_id"].isin(frequencies.index) & unrated[target].notna()]
    notes = []
    left_out = len(rated) - len(r)
    if left_out:
        notes.append(
            f"patterns: {left_out} rated sessions without a labelled counselor turn or a "
            f"{target} score are left out"
        )
    if len(r) < len(terms) + 3:
        notes.append(
            f"patterns: {len(r)} rated sessions are too few for a PPI regression on "
            f"{len(terms)} pair frequencies: none was run"
        )
        return [], notes

    def design(frame: pd.DataFrame, source: pd.DataFrame) -> np.ndarray:
        x = source.loc[frame["session_id"], list(terms)].to_numpy(float)
        return np.column_stack([np.ones(len(frame)), x])

    x_r, x_u = design(r, rated_frequencies), design(u, frequencies)
    if np.linalg.matrix_rank(x_r) < x_r.shape[1]:
        notes.append(
            "patterns: the rated sessions' pair frequencies are collinear: no PPI regression "
            "was run"
        )
        return [], notes
    estimates = _three(
        r[f"y:{target}"].to_numpy(float),
        r[f"f:{target}"].to_numpy(float),
        u[target].to_numpy(float),
        _cluster(r),
        _cluster(u),
        level,
        x_r,
        x_u,
    )
    entries = [
        {"term": term, **entry(*estimates, len(r), len(u), index=i)}
        for i, term in enumerate(["const", *terms])
    ]
    notes.append(
        f"patterns: PPI OLS of {target} on the same {len(terms)} pair frequencies, "
        f"{len(r)} rated and {len(u)} unrated sessions"
    )
    return entries, notes


def prediction_powered(
    table: pd.DataFrame,
    sample: RatedSample,
    instrument: Instrument,
    scores: Sequence[str],
    *,
    level: float = 0.95,
    min_rated: int = 20,
    target: str = "total",
    frequencies: pd.DataFrame | None = None,
    terms: Sequence[str] = (),
    labels: tuple[str, str | None] | None = None,
) -> PPIResult:
    """PPI, naive and rated-only estimates of the corpus means, the counselor means and the
    pattern regression's coefficients.

    Args:
        table: The analysed sessions' table (:func:`~care.analyze.distributions.session_table`:
            ids and predicted scores).
        sample: The rated sessions and their predictions.
        instrument: The results' instrument.
        scores: The scores estimated (dimensions and ``total``).
        level: Coverage of the intervals.
        min_rated: Fewest rated sessions for a counselor's estimate.
        target: The pattern regression's score.
        frequencies: The analysed sessions' pair frequencies
            (:func:`~care.analyze.patterns.pair_frequencies`); None: no pattern regression.
        terms: The pairs in the regression (as in the analysis's own regression).
        labels: The counselor and client label keys of the pairs.
    """
    rated, notes = rated_table(sample, instrument, scores)
    rated_ids = set(rated["session_id"])
    unrated = table[~table["session_id"].isin(rated_ids)]
    shared = len(table) - len(unrated)
    notes.append(
        f"{len(rated)} rated sessions ({shared} of them among the analysed sessions), "
        f"{len(unrated)} unrated; {level:.0%} intervals clustered by client"
    )
    result = PPIResult(level=level, min_rated=min_rated, target=target, notes=notes)
    result.corpus = _mean_entries(rated, unrated, scores, level)
    if len(rated) < min_rated:
        notes.append(
            f"only {len(rated)} rated sessions: the normal approximation behind the intervals "
            "may be poor"
        )
    result.counselors = _counselors(rated, unrated, scores, level, min_rated)
    if not result.counselors:
        notes.append("no session has a counselor id: no counselor estimates")
    else:
        enough = sum(c["estimates"] is not None for c in result.counselors)
        notes.append(
            f"counselors: {enough} of {len(result.counselors)} have at least {min_rated} rated "
            "sessions and get estimates"
        )
    if frequencies is None or labels is None or not terms:
        notes.append("patterns: no interaction-pattern regression was run, so no PPI one")
    else:
        sessions = [s for s in sample.sessions if s.id in rated_ids]
        result.patterns, more = _pattern_entries(
            rated, sessions, unrated, frequencies, terms, labels, target, level
        )
        notes.extend(more)
    return result
