"""Sessions too thin to rate well, and evidence that would contradict its score.

Every assessor scores whatever turns it is given, so a session with only the counselor's
turns, or a single turn, still gets scores; they rest on almost nothing the client said.
:func:`session_warnings` says so, naming the session (and nothing of its text), so that a
front-end can warn beside the scores.

:func:`consistent_evidence` keeps the quoted evidence of a score from contradicting it: a
score at the bottom of its scale was raised by nothing that shows in it, and one at the
top was lowered by nothing, so such pieces are not shown as its explanation.
"""

from __future__ import annotations

from collections.abc import Sequence

from care.data.session import Session
from care.results import Evidence

__all__ = ["consistent_evidence", "session_warnings"]

_TOLERANCE = 1e-9


def session_warnings(session: Session) -> list[str]:
    """What makes ``session`` too thin to rate well; an empty list when nothing does."""
    roles = [turn.role for turn in session.turns]
    warnings = []
    if len(roles) == 1:
        warnings.append(
            f"session '{session.id}' has a single turn: its scores say little about the alliance"
        )
    if "client" not in roles:
        warnings.append(
            f"session '{session.id}' has no client turns: its scores rest on the counselor's "
            "words and the session's length alone"
        )
    elif "counselor" not in roles:
        warnings.append(
            f"session '{session.id}' has no counselor turns: its scores rest on the client's "
            "words alone"
        )
    return warnings


def consistent_evidence(
    score: float, low: float, high: float, evidence: Sequence[Evidence]
) -> list[Evidence]:
    """The pieces of ``evidence`` that do not contradict ``score`` on the scale ``low``-``high``.

    A piece with a positive contribution says it raised the score; at ``low`` the score
    was not raised by anything visible, so the piece is left out (and likewise a negative
    piece at ``high``). A score that is not a number keeps no evidence.
    """
    if score != score:  # NaN: nothing was rated
        return []
    at_floor = score <= low + _TOLERANCE
    at_ceiling = score >= high - _TOLERANCE
    kept = []
    for piece in evidence:
        contribution = piece.contribution or 0.0
        if (at_floor and contribution > 0) or (at_ceiling and contribution < 0):
            continue
        kept.append(piece)
    return kept
