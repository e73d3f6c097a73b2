"""Length features: how much each side says. The length-only baseline uses these alone."""

from __future__ import annotations

import math
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
    "has_duration",
)


def session_duration_minutes(session: Session) -> float | None:
    """Minutes between the first and last timestamped turn, if both parse as ISO 8601."""
    times = [turn.time for turn in session.turns if turn.time]
    if len(times) < 2:
        return None
    try:
        start = datetime.fromisoformat(times[0])
        end = datetime.fromisoformat(times[-1])
    except ValueError:
        return None
    minutes = (end - start).total_seconds() / 60
    return minutes if minutes >= 0 else None


def length_features(session: Session) -> np.ndarray:
    """The length features of one session, in the order of :data:`LENGTH_FEATURE_NAMES`."""
    client = [len(turn.text) for turn in session.turns if turn.role == "client"]
    counselor = [len(turn.text) for turn in session.turns if turn.role == "counselor"]
    client_chars = sum(client)
    counselor_chars = sum(counselor)
    duration = session_duration_minutes(session)
    return np.array(
        [
            math.log1p(len(session.turns)),
            math.log1p(client_chars),
            math.log1p(counselor_chars),
            client_chars / max(1, client_chars + counselor_chars),
            math.log1p(client_chars / max(1, len(client))),
            math.log1p(counselor_chars / max(1, len(counselor))),
            math.log1p(duration) if duration is not None else 0.0,
            1.0 if duration is not None else 0.0,
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
