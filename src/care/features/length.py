"""Length features: how much each side says, and how fast. The length-only baseline uses
these alone.

Time features are NaN for a session without (parseable) timestamps; :func:`standardize`
then gives them the training mean, so untimed transcripts are not pushed up or down by
a model trained on timed ones.
"""

from __future__ import annotations

import math
import warnings
from datetime import datetime

import numpy as np

from care.data.session import Session

LENGTH_FEATURE_NAMES = (
    "log_turns",
    "log_client_chars",
    "log_counselor_chars",
    "client_char_share",
    "log_mean_client_turn_chars",
    "log_mean_counselor_turn_chars",
    "log_duration_minutes",
    "client_turn_share",
    "log_median_gap_seconds",
    "mean_log_gap_seconds",
)


def turn_seconds(session: Session) -> list[float]:
    """Timestamps (seconds) of the turns whose time parses as ISO 8601, in turn order."""
    seconds = []
    for turn in session.turns:
        if not turn.time:
            continue
        try:
            seconds.append(datetime.fromisoformat(turn.time).timestamp())
        except ValueError:
            continue
    return seconds


def session_duration_minutes(session: Session) -> float | None:
    """Minutes between the first and last timestamped turn, if both parse as ISO 8601."""
    return _duration_minutes(turn_seconds(session))


def _duration_minutes(seconds: list[float]) -> float | None:
    if len(seconds) < 2:
        return None
    minutes = (seconds[-1] - seconds[0]) / 60
    return minutes if minutes >= 0 else None


def length_features(session: Session) -> np.ndarray:
    """The length features of one session, in the order of :data:`LENGTH_FEATURE_NAMES`."""
    client = [len(turn.text) for turn in session.turns if turn.role == "client"]
    counselor = [len(turn.text) for turn in session.turns if turn.role == "counselor"]
    client_chars = sum(client)
    counselor_chars = sum(counselor)
    seconds = turn_seconds(session)
    duration = _duration_minutes(seconds)
    gaps = np.clip(np.diff(seconds), 0, None) if len(seconds) > 1 else None
    n_client = sum(1 for turn in session.turns if turn.role == "client")
    return np.array(
        [
            math.log1p(len(session.turns)),
            math.log1p(client_chars),
            math.log1p(counselor_chars),
            client_chars / max(1, client_chars + counselor_chars),
            math.log1p(client_chars / max(1, len(client))),
            math.log1p(counselor_chars / max(1, len(counselor))),
            math.log1p(duration) if duration is not None else math.nan,
            n_client / max(1, len(session.turns)),
            math.log1p(float(np.median(gaps))) if gaps is not None else math.nan,
            float(np.log1p(gaps).mean()) if gaps is not None else math.nan,
        ],
        dtype=float,
    )


def length_matrix(sessions: list[Session]) -> np.ndarray:
    """Length features of many sessions, one row each."""
    return (
        np.vstack([length_features(session) for session in sessions])
        if sessions
        else np.zeros((0, len(LENGTH_FEATURE_NAMES)))
    )


def column_stats(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each column, ignoring NaN (a constant or empty
    column gets mean 0 / scale 1 where undefined)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        mean = np.nanmean(matrix, axis=0) if len(matrix) else np.zeros(matrix.shape[1])
        scale = np.nanstd(matrix, axis=0) if len(matrix) else np.ones(matrix.shape[1])
    mean = np.nan_to_num(mean, nan=0.0)
    scale = np.nan_to_num(scale, nan=1.0)
    scale[scale == 0] = 1.0
    return mean, scale


def standardize(matrix: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(matrix - mean) / scale`` with missing values (NaN) set to the mean (0)."""
    return np.nan_to_num((matrix - mean) / scale, nan=0.0)
