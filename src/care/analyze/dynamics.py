"""Within-session dynamics: assess growing windows of a session and flag drops.

A window is the session's first ``k`` turns, for ``k = every, 2*every, ...`` and the full
session. Windows are assessed with the built-in model trained on partial sessions
(``LiteAssessor(cut=True)``) unless another assessor is given. A *drop* is a decrease of a
dimension larger than ``threshold`` from one window to the next: a possible rupture in the
turns the later window added.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from care.data.session import Session
from care.errors import ParameterError
from care.instruments import get_instrument


def window_ends(n_turns: int, every: int) -> list[int]:
    """The window sizes for a session of ``n_turns`` turns: every ``every`` turns and the end."""
    if every < 1:
        raise ParameterError(
            f"parameter 'every' must be a whole number >= 1, got {every}",
            field="--window-every",
            fix="give the number of turns between windows, e.g. 10",
        )
    ends = list(range(every, n_turns, every))
    if n_turns:
        ends.append(n_turns)
    return ends


def session_windows(
    sessions: Iterable[Session], *, every: int = 10, assessor: Any = None
) -> pd.DataFrame:
    """Scores of the growing windows of each session.

    Returns:
        ``session_id, window (1, 2, ...), end_turn`` (number of turns in the window), the
        dimension scores and ``total``.
    """
    if assessor is None:
        from care.assessors.lite import LiteAssessor

        assessor = LiteAssessor(cut=True)
    windows: list[Session] = []
    keys: dict[str, tuple[str, int, int]] = {}
    for session in sessions:
        for number, end in enumerate(window_ends(len(session.turns), every), start=1):
            wid = f"{session.id}@{end}"
            keys[wid] = (session.id, number, end)
            windows.append(
                Session(
                    id=wid,
                    turns=list(session.turns[:end]),
                    language=session.language,
                    client_id=session.client_id,
                    counselor_id=session.counselor_id,
                    meta=dict(session.meta),
                )
            )
    rows = []
    instruments: dict[str, Any] = {}
    for result in assessor.assess(windows):
        instrument = instruments.setdefault(result.instrument, get_instrument(result.instrument))
        sid, number, end = keys[result.session_id]
        rows.append(
            {
                "session_id": sid,
                "window": number,
                "end_turn": end,
                **result.dimension_scores(instrument),
                "total": result.total_score(instrument),
            }
        )
    return pd.DataFrame(rows)


def find_drops(
    windows: pd.DataFrame,
    sessions: Iterable[Session] | None = None,
    *,
    scores: Sequence[str] | None = None,
    threshold: float = 0.15,
    context: int = 2,
    quote_chars: int = 160,
) -> pd.DataFrame:
    """Drops of a score larger than ``threshold`` between consecutive windows.

    Args:
        windows: Output of :func:`session_windows`.
        sessions: The sessions, to quote the turns around each drop (left out when None).
        scores: Score columns to check; default every column but the window bookkeeping.
        threshold: Smallest decrease that counts, on the instrument's scale.
        context: Turns quoted before the added turns.
        quote_chars: Each quoted turn is cut to this many characters.

    Returns:
        ``session_id, score, from_turn, to_turn`` (the turns the later window added, 0-based,
        inclusive), ``before, after, drop`` and ``turns`` (the quoted turns, ``#i role: text``
        joined by newlines).
    """
    bookkeeping = {"session_id", "window", "end_turn"}
    scores = list(scores) if scores is not None else [c for c in windows if c not in bookkeeping]
    by_id = {s.id: s for s in sessions} if sessions is not None else {}
    rows = []
    for sid, part in windows.sort_values(["session_id", "window"]).groupby(
        "session_id", sort=False
    ):
        ends = part["end_turn"].tolist()
        for score in scores:
            values = part[score].tolist()
            for i in range(1, len(values)):
                drop = values[i - 1] - values[i]
                if not drop > threshold:
                    continue
                start, stop = ends[i - 1], ends[i] - 1
                quoted = ""
                session = by_id.get(sid)
                if session is not None:
                    lines = []
                    for turn in session.turns[max(0, start - context) : stop + 1]:
                        text = " ".join(turn.text.split())
                        if len(text) > quote_chars:
                            text = text[: quote_chars - 1] + "…"
                        lines.append(f"#{turn.index} {turn.role}: {text}")
                    quoted = "\n".join(lines)
                rows.append(
                    {
                        "session_id": sid,
                        "score": score,
                        "from_turn": start,
                        "to_turn": stop,
                        "before": values[i - 1],
                        "after": values[i],
                        "drop": drop,
                        "turns": quoted,
                    }
                )
    columns = ["session_id", "score", "from_turn", "to_turn", "before", "after", "drop", "turns"]
    return pd.DataFrame(rows, columns=columns)
