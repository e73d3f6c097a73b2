"""Interaction patterns: which counselor-label -> next-label pairs go with higher alliance.

For every counselor turn with a label (``turn.meta[counselor_key]``), the pair is its label
and the label of the *next* turn:

* next turn is a client turn with ``turn.meta[client_key]``: ``"A -> B"`` (e.g. AnnoMI's
  therapist behaviour -> client talk type);
* where clients carry no labels (ESConv labels only the supporter's strategies) the next
  turn's label is ``client`` for a client turn, or the counselor label of the next turn when
  the counselor speaks again: ``"Question -> client"``, ``"Question -> Affirmation"``;
* the last turn, or a next turn without a label: no pair.

A session's frequency of a pair is its count divided by the session's number of counselor
turns. The session's score (total or a dimension) is regressed on the frequencies by OLS
(statsmodels) with standard errors clustered by client, as in CARE's Table 8. Where no turn
carries a label there is nothing to regress and :func:`pattern_regression` says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from care.data.session import Session

#: Turn meta keys tried, in order, when the user names none.
COUNSELOR_KEYS = ("strategy", "behaviour", "behavior", "label")
CLIENT_KEYS = ("talk_type", "reaction", "label")
ARROW = " -> "


def detect_label_keys(sessions: Sequence[Session]) -> tuple[str | None, str | None]:
    """The counselor and client label keys found in the turns' meta (None where none is)."""
    seen = {"counselor": Counter(), "client": Counter()}
    for session in sessions:
        for turn in session.turns:
            if turn.role in seen:
                seen[turn.role].update(k for k, v in turn.meta.items() if v not in (None, ""))
    counselor = next((k for k in COUNSELOR_KEYS if seen["counselor"][k]), None)
    client = next((k for k in CLIENT_KEYS if seen["client"][k]), None)
    return counselor, client


def session_pairs(session: Session, counselor_key: str, client_key: str | None) -> Counter:
    """Counts of ``"A -> B"`` pairs in one session (see the module docstring)."""
    counts: Counter = Counter()
    turns = session.turns
    for position, turn in enumerate(turns[:-1]):
        if turn.role != "counselor":
            continue
        label = turn.meta.get(counselor_key)
        if label in (None, ""):
            continue
        nxt = turns[position + 1]
        if nxt.role == "client":
            after = nxt.meta.get(client_key) if client_key is not None else "client"
        elif nxt.role == "counselor":
            after = nxt.meta.get(counselor_key)
        else:
            after = None
        if after in (None, ""):
            continue
        counts[f"{label}{ARROW}{after}"] += 1
    return counts


def pair_frequencies(
    sessions: Iterable[Session], counselor_key: str, client_key: str | None = None
) -> pd.DataFrame:
    """Sessions x pairs: each pair's count per counselor turn (0 where absent).

    Sessions without counselor turns are left out.
    """
    rows = {}
    for session in sessions:
        n_counselor = sum(turn.role == "counselor" for turn in session.turns)
        if not n_counselor:
            continue
        counts = session_pairs(session, counselor_key, client_key)
        rows[session.id] = {pair: count / n_counselor for pair, count in counts.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index").fillna(0.0)
    frame.index.name = "session_id"
    return frame.reindex(sorted(frame.columns), axis=1)


@dataclass
class PatternResult:
    """The regression of a score on pair frequencies.

    Attributes:
        target: The score regressed (``total`` or a dimension).
        table: ``term, coef, se, ci_low, ci_high, p, mean_freq, n_sessions_with`` per pair
            (and ``const``); empty when no regression was run.
        notes: What was done and left out, in words (no labels, pairs dropped, ...).
        n_sessions: Sessions in the regression.
        n_clusters: Clients (clusters) in it.
        r_squared: The OLS R-squared.
    """

    target: str
    table: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    n_sessions: int = 0
    n_clusters: int = 0
    r_squared: float = float("nan")

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "n_sessions": self.n_sessions,
            "n_clusters": self.n_clusters,
            "r_squared": None if np.isnan(self.r_squared) else self.r_squared,
            "notes": self.notes,
            "coefficients": self.table.replace({np.nan: None}).to_dict(orient="records"),
        }


_COLUMNS = ["term", "coef", "se", "ci_low", "ci_high", "p", "mean_freq", "n_sessions_with"]


def pattern_regression(
    frequencies: pd.DataFrame,
    scores: pd.Series,
    groups: pd.Series | None = None,
    *,
    target: str = "total",
    max_pairs: int | None = None,
    sessions_per_pair: int = 10,
    alpha: float = 0.05,
) -> PatternResult:
    """OLS of ``scores`` on pair ``frequencies`` with SEs clustered by ``groups`` (client).

    Args:
        frequencies: :func:`pair_frequencies` output (index session id).
        scores: Session id to score.
        groups: Session id to client id; a session without one is its own cluster.
        target: Name of the score, for the result.
        max_pairs: Most pairs in the model; default ``n_sessions // sessions_per_pair`` (at
            least 1), and never more than ``n_clusters - 2``. The most frequent pairs (by
            mean frequency) are kept and the note says how many were dropped.
        sessions_per_pair: Sessions per pair for the default ``max_pairs``.
        alpha: 1 - coverage of the confidence intervals.
    """
    import statsmodels.api as sm

    empty = pd.DataFrame(columns=_COLUMNS)
    if frequencies.shape[1] == 0:
        return PatternResult(
            target,
            empty,
            ["no turn carries a counselor label: no interaction-pattern regression was run"],
        )
    ids = [sid for sid in frequencies.index if sid in scores.index and pd.notna(scores[sid])]
    x = frequencies.loc[ids]
    y = scores.loc[ids].to_numpy(dtype=float)
    if groups is None:
        cluster = [f"session:{sid}" for sid in ids]
    else:
        cluster = [
            str(groups[sid]) if sid in groups.index and pd.notna(groups[sid]) else f"session:{sid}"
            for sid in ids
        ]
    codes = pd.factorize(pd.Series(cluster))[0]
    n, n_clusters = len(ids), int(codes.max() + 1) if len(ids) else 0
    notes: list[str] = []
    varying = [c for c in x.columns if x[c].std(ddof=0) > 0]
    if len(varying) < x.shape[1]:
        notes.append(f"{x.shape[1] - len(varying)} pairs have the same frequency in every session")
    order = x[varying].mean().sort_values(ascending=False, kind="stable").index.tolist()
    limit = max_pairs if max_pairs is not None else max(1, n // sessions_per_pair)
    limit = min(limit, n_clusters - 2, n - 2)
    if limit < 1 or not order:
        notes.append(
            f"too few sessions ({n}) or clients ({n_clusters}) for a regression on pair "
            "frequencies: none was run"
        )
        return PatternResult(target, empty, notes, n, n_clusters)
    keep = order[:limit]
    if len(keep) < len(order):
        notes.append(
            f"kept the {len(keep)} most frequent of {len(order)} pairs ({n} sessions, "
            f"{n_clusters} clients; about {sessions_per_pair} sessions per pair)"
        )
    design = sm.add_constant(x[keep].astype(float), has_constant="add")
    # Frequencies of all pairs can sum to a constant (every counselor turn followed by a
    # labelled turn), collinear with the intercept: drop the least frequent until full rank.
    while len(keep) > 1 and np.linalg.matrix_rank(design.to_numpy()) < design.shape[1]:
        notes.append(f"left out '{keep[-1]}' (collinear with the other pairs and the intercept)")
        design = design.drop(columns=[keep[-1]])
        keep = keep[:-1]
    fit = sm.OLS(y, design).fit(cov_type="cluster", cov_kwds={"groups": codes})
    ci = fit.conf_int(alpha=alpha)
    rows = []
    for term in design.columns:
        rows.append(
            {
                "term": term,
                "coef": float(fit.params[term]),
                "se": float(fit.bse[term]),
                "ci_low": float(ci.loc[term, 0]),
                "ci_high": float(ci.loc[term, 1]),
                "p": float(fit.pvalues[term]),
                "mean_freq": float(x[term].mean()) if term != "const" else float("nan"),
                "n_sessions_with": int((x[term] > 0).sum()) if term != "const" else n,
            }
        )
    notes.append(
        f"OLS of {target} on {len(keep)} pair frequencies, {n} sessions, standard errors "
        f"clustered by client ({n_clusters} clusters)"
    )
    return PatternResult(target, pd.DataFrame(rows), notes, n, n_clusters, float(fit.rsquared))
