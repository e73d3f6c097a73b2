"""Sessions as data: a :class:`Session` is an ordered list of :class:`Turn` objects.

A session may carry ratings (:class:`RatingSet`), one set per instrument and rater,
for example the client's own post-session WAI-SR or the counselor's report.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Role = Literal["counselor", "client", "other"]
ROLES: tuple[str, ...] = get_args(Role)

Rater = Literal["client", "counselor", "observer"]
RATERS: tuple[str, ...] = get_args(Rater)


@dataclass
class Turn:
    """One utterance (or merged run of utterances) in a session.

    Attributes:
        index: Position of the turn in its session, starting at 0.
        role: ``"counselor"``, ``"client"`` or ``"other"``.
        text: What was said.
        speaker: The speaker's name or label as it appeared in the source, if any.
        time: A timestamp (ISO 8601 or the source's own format), if any.
        meta: Anything else the source carries (strategy labels, behaviour codes, ...).
    """

    index: int
    role: Role
    text: str
    speaker: str | None = None
    time: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class RatingSet:
    """The ratings one rater gave one session on one instrument.

    Attributes:
        instrument: The instrument id, e.g. ``"wai-sr-client"``.
        rater: ``"client"``, ``"counselor"`` or ``"observer"``.
        values: Item id to rating. Items the rater skipped are absent (never a default).
        meta: Anything else (rater id, date, ...).
    """

    instrument: str
    rater: Rater
    values: dict[str, float]
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Session:
    """A counseling session: turns in order, optional ratings and metadata.

    Attributes:
        id: Unique id of the session within its corpus.
        turns: The turns, in order; ``turns[i].index == i``.
        language: BCP-47-like language code (``"en"``, ``"zh"``, ``"ja"``) or None if unknown.
        client_id: Who the client is, if known (cross-validation groups by it).
        counselor_id: Who the counselor is, if known.
        ratings: Ratings that came with the session.
        meta: Anything else (topic, date, source format, ...).
    """

    id: str
    turns: list[Turn]
    language: str | None = None
    client_id: str | None = None
    counselor_id: str | None = None
    ratings: list[RatingSet] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.turns)

    def __iter__(self) -> Iterator[Turn]:
        return iter(self.turns)

    def turns_by(self, role: Role) -> list[Turn]:
        """The turns spoken by ``role``, in order."""
        return [turn for turn in self.turns if turn.role == role]

    def rating(self, instrument: str, rater: Rater = "client") -> RatingSet | None:
        """The ratings ``rater`` gave on ``instrument``, or None if there are none."""
        for rating_set in self.ratings:
            if rating_set.instrument == instrument and rating_set.rater == rater:
                return rating_set
        return None

    def truncated(self, fraction: float) -> Session:
        """A copy holding only the first ``fraction`` of the turns (at least one turn).

        Used to assess a session before its end and to evaluate without the closing
        exchange. Ratings are kept: they still describe the whole session.
        """
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1]; got {fraction}")
        keep = max(1, round(len(self.turns) * fraction)) if self.turns else 0
        return Session(
            id=self.id,
            turns=list(self.turns[:keep]),
            language=self.language,
            client_id=self.client_id,
            counselor_id=self.counselor_id,
            ratings=list(self.ratings),
            meta={**self.meta, "truncated_fraction": fraction},
        )


def reindex(turns: Iterable[Turn]) -> list[Turn]:
    """Return the turns with ``index`` set to their position."""
    result = list(turns)
    for position, turn in enumerate(result):
        turn.index = position
    return result


def merge_consecutive_turns(session: Session, separator: str = "\n") -> Session:
    """A copy of ``session`` where consecutive turns of the same speaker are one turn.

    Turns merge when they have the same role and the same speaker. The merged turn
    keeps the first turn's time and speaker, and records the original indices in
    ``meta["merged_from"]``. Care never merges turns unless asked to.
    """
    merged: list[Turn] = []
    for turn in session.turns:
        previous = merged[-1] if merged else None
        if previous is not None and previous.role == turn.role and previous.speaker == turn.speaker:
            previous.text = f"{previous.text}{separator}{turn.text}"
            previous.meta.setdefault("merged_from", [previous.index])
            previous.meta["merged_from"].append(turn.index)
            continue
        merged.append(
            Turn(
                index=turn.index,
                role=turn.role,
                text=turn.text,
                speaker=turn.speaker,
                time=turn.time,
                meta=dict(turn.meta),
            )
        )
    return Session(
        id=session.id,
        turns=reindex(merged),
        language=session.language,
        client_id=session.client_id,
        counselor_id=session.counselor_id,
        ratings=list(session.ratings),
        meta={**session.meta, "merged_consecutive_turns": True},
    )
