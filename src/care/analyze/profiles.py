"""Counselor profiles and client trajectories across sessions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from care.stats import bootstrap_ci


def _mean_ci(
    values: np.ndarray, groups: np.ndarray, n_resamples: int, seed: int
) -> tuple[float, float]:
    """Cluster-bootstrap CI of the mean, through :func:`bootstrap_ci`'s vectorised MAE:
    shifted to be non-negative, ``mae(v - m, 0)`` is the mean of ``v - m``."""
    if len(values) < 2:
        return float("nan"), float("nan")
    shift = float(values.min())
    low, high = bootstrap_ci(
        values - shift,
        np.zeros_like(values),
        "mae",
        groups=groups,
        n_resamples=n_resamples,
        seed=seed,
    )
    return low + shift, high + shift


def counselor_profiles(
    table: pd.DataFrame,
    scores: Sequence[str],
    *,
    min_sessions: int = 1,
    n_resamples: int = 1000,
    confidence_seed: int = 0,
) -> pd.DataFrame:
    """Per counselor and score: sessions, clients, mean, 95% CI, corpus mean and difference.

    The CI is a percentile cluster bootstrap over the counselor's sessions, resampling
    clients (a session without a client id is a cluster of its own), so that one client's
    many sessions do not narrow it. Sessions without a counselor id are left out.

    Returns:
        Long table: ``counselor_id, score, n_sessions, n_clients, mean, ci_low, ci_high,
        corpus_mean, diff``; sorted by counselor (most sessions first) and score.
    """
    known = table[table["counselor_id"].notna()]
    rows = []
    corpus_means = {s: float(np.nanmean(table[s].to_numpy(dtype=float))) for s in scores}
    counts = known.groupby("counselor_id").size().sort_values(ascending=False, kind="stable")
    for counselor in counts.index:
        part = known[known["counselor_id"] == counselor]
        if len(part) < min_sessions:
            continue
        clients = part["client_id"].astype(object).where(part["client_id"].notna(), None)
        groups = np.array(
            [
                c if c is not None else f"session:{s}"
                for c, s in zip(clients, part["session_id"], strict=True)
            ],
            dtype=object,
        )
        for score in scores:
            values = part[score].to_numpy(dtype=float)
            keep = ~np.isnan(values)
            low, high = _mean_ci(values[keep], groups[keep], n_resamples, confidence_seed)
            mean = float(values[keep].mean()) if keep.any() else float("nan")
            rows.append(
                {
                    "counselor_id": str(counselor),
                    "score": score,
                    "n_sessions": int(keep.sum()),
                    "n_clients": len(set(groups[keep])),
                    "mean": mean,
                    "ci_low": low,
                    "ci_high": high,
                    "corpus_mean": corpus_means[score],
                    "diff": mean - corpus_means[score],
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "counselor_id",
            "score",
            "n_sessions",
            "n_clients",
            "mean",
            "ci_low",
            "ci_high",
            "corpus_mean",
            "diff",
        ],
    )


def client_trajectories(
    table: pd.DataFrame, scores: Sequence[str], *, min_sessions: int = 2
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clients' scores across their dated sessions, and a least-squares trend per client.

    Only sessions with a client id and a date count; clients with fewer than
    ``min_sessions`` of them are left out.

    Returns:
        ``(sessions, trends)``: ``sessions`` has ``client_id, session_number (1, 2, ...),
        session_id, date`` and the scores; ``trends`` has per client and score the slope
        per session (:func:`scipy.stats.linregress`), its p-value, first and last score.
    """
    from scipy import stats

    dated = table[table["client_id"].notna() & table["date"].notna()].copy()
    dated["_when"] = pd.to_datetime(dated["date"], errors="coerce", utc=True)
    dated = dated[dated["_when"].notna()]
    dated = dated.sort_values(["client_id", "_when", "session_id"], kind="stable")
    sizes = dated.groupby("client_id")["session_id"].transform("size")
    dated = dated[sizes >= min_sessions].copy()
    dated["session_number"] = dated.groupby("client_id").cumcount() + 1
    sessions = dated[["client_id", "session_number", "session_id", "date", *scores]].reset_index(
        drop=True
    )
    trend_rows = []
    for client, part in sessions.groupby("client_id", sort=True):
        x = part["session_number"].to_numpy(dtype=float)
        for score in scores:
            y = part[score].to_numpy(dtype=float)
            keep = ~np.isnan(y)
            if keep.sum() < 2:
                continue
            fit = stats.linregress(x[keep], y[keep])
            trend_rows.append(
                {
                    "client_id": str(client),
                    "score": score,
                    "n_sessions": int(keep.sum()),
                    "slope_per_session": float(fit.slope),
                    "p_value": float(fit.pvalue) if keep.sum() > 2 else float("nan"),
                    "first": float(y[keep][0]),
                    "last": float(y[keep][-1]),
                }
            )
    trends = pd.DataFrame(
        trend_rows,
        columns=[
            "client_id",
            "score",
            "n_sessions",
            "slope_per_session",
            "p_value",
            "first",
            "last",
        ],
    )
    return sessions, trends
