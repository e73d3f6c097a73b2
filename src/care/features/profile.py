"""A session's profile: the signals that say how far it lies from a model's reference
sessions (out-of-domain detection) and how hard it is to score (interval width).

The profile signals need only the transcript, so they serve any assessor; the built-in
model adds signals of its own (:data:`MODEL_SIGNALS`, computed in
:mod:`care.assessors.lite.signals`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from care.data.session import Session


@dataclass(frozen=True)
class Signal:
    """One signal of a session.

    Attributes:
        name: Its key.
        label: How it is named to a reader (``"turns"``).
        unit: ``"count"`` (shown as a whole number), ``"share"`` (shown as a percentage)
            or ``"number"``.
        logged: Compared on a log scale (``log1p``): counts and sizes.
    """

    name: str
    label: str
    unit: str
    logged: bool

    def format(self, value: float) -> str:
        """``value`` as a reader would write it."""
        if self.unit == "share":
            return f"{100 * value:.0f}%"
        if self.unit == "count":
            return f"{value:,.0f}"
        return f"{value:.3g}"


PROFILE_SIGNALS = (
    Signal("turns", "turns", "count", True),
    Signal("client_chars", "characters from the client", "count", True),
    Signal("counselor_chars", "characters from the counselor", "count", True),
    Signal("client_turn_chars", "characters per client turn", "count", True),
    Signal("counselor_turn_chars", "characters per counselor turn", "count", True),
    Signal("client_share", "client's share of the characters", "share", False),
)
"""The signals of any transcript, in the order of :func:`profile_signals`."""

MODEL_SIGNALS = (
    Signal("known_client", "share of the client's n-grams the model knows", "share", False),
    Signal("known_counselor", "share of the counselor's n-grams the model knows", "share", False),
    Signal("evidence_mass", "the model's evidence mass (sum of |token effects|)", "number", True),
)
"""The built-in model's own signals."""

SIGNALS = {signal.name: signal for signal in (*PROFILE_SIGNALS, *MODEL_SIGNALS)}
"""Every signal by name."""


def profile_signals(session: Session) -> np.ndarray:
    """The :data:`PROFILE_SIGNALS` of one session."""
    client = [len(turn.text) for turn in session.turns if turn.role == "client"]
    counselor = [len(turn.text) for turn in session.turns if turn.role == "counselor"]
    client_chars, counselor_chars = sum(client), sum(counselor)
    return np.array(
        [
            len(session.turns),
            client_chars,
            counselor_chars,
            client_chars / max(1, len(client)),
            counselor_chars / max(1, len(counselor)),
            client_chars / max(1, client_chars + counselor_chars),
        ],
        dtype=float,
    )


def profile_matrix(sessions: list[Session]) -> np.ndarray:
    """:func:`profile_signals` of many sessions, one row each."""
    if not sessions:
        return np.zeros((0, len(PROFILE_SIGNALS)))
    return np.vstack([profile_signals(session) for session in sessions])


def log_signals(signals: np.ndarray, names: list[str]) -> np.ndarray:
    """``signals`` (sessions x the named signals) with the logged ones as ``log1p``."""
    transformed = np.array(signals, dtype=float, copy=True)
    for position, name in enumerate(names):
        if SIGNALS[name].logged:
            transformed[:, position] = np.log1p(np.clip(transformed[:, position], 0, None))
    return transformed
