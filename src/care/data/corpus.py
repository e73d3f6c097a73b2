"""A :class:`Corpus` is an ordered collection of sessions with unique ids."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from care.data.session import RatingSet, Session, Turn, reindex
from care.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

TURN_COLUMNS = ["session_id", "turn_index", "role", "speaker", "text", "time"]


class Corpus:
    """Sessions in order, addressable by id.

    Session ids must be unique; adding a second session with an id already present
    raises :class:`~care.errors.DataError`.
    """

    def __init__(self, sessions: Iterable[Session] = ()) -> None:
        self._sessions: dict[str, Session] = {}
        for session in sessions:
            self.add(session)

    def add(self, session: Session) -> None:
        """Add a session; its id must not be in the corpus yet."""
        if session.id in self._sessions:
            raise DataError(
                f"duplicate session id '{session.id}'",
                field="id",
                fix="give every session a unique id",
            )
        self._sessions[session.id] = session

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(self._sessions.values())

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._sessions

    def __getitem__(self, session_id: str) -> Session:
        try:
            return self._sessions[session_id]
        except KeyError:
            raise KeyError(f"no session with id '{session_id}' in this corpus") from None

    def __repr__(self) -> str:
        return f"Corpus({len(self)} sessions)"

    @property
    def ids(self) -> list[str]:
        """Session ids, in order."""
        return list(self._sessions)

    def filter(self, predicate: Callable[[Session], bool]) -> Corpus:
        """A new corpus with the sessions for which ``predicate`` is true."""
        return Corpus(session for session in self if predicate(session))

    def subset(self, ids: Iterable[str]) -> Corpus:
        """A new corpus with the sessions whose ids are given, in that order."""
        return Corpus(self[session_id] for session_id in ids)

    def languages(self) -> dict[str | None, int]:
        """How many sessions there are per language."""
        counts: dict[str | None, int] = {}
        for session in self:
            counts[session.language] = counts.get(session.language, 0) + 1
        return counts

    # ------------------------------------------------------------------ pandas
    def to_dataframe(self) -> pd.DataFrame:
        """One row per turn: session_id, turn_index, role, speaker, text, time, plus
        session-level columns (language, client_id, counselor_id) and ``turn_meta`` /
        ``session_meta`` dicts. Ratings are in :meth:`ratings_frame`."""
        import pandas as pd

        rows: list[dict[str, Any]] = []
        for session in self:
            for turn in session.turns:
                rows.append(
                    {
                        "session_id": session.id,
                        "turn_index": turn.index,
                        "role": turn.role,
                        "speaker": turn.speaker,
                        "text": turn.text,
                        "time": turn.time,
                        "turn_meta": dict(turn.meta),
                        "language": session.language,
                        "client_id": session.client_id,
                        "counselor_id": session.counselor_id,
                        "session_meta": dict(session.meta),
                    }
                )
        columns = [
            *TURN_COLUMNS,
            "turn_meta",
            "language",
            "client_id",
            "counselor_id",
            "session_meta",
        ]
        return pd.DataFrame(rows, columns=columns)

    def ratings_frame(self) -> pd.DataFrame:
        """One row per (session, instrument, rater, item): the ratings in long format."""
        import pandas as pd

        rows = [
            {
                "session_id": session.id,
                "instrument": rating_set.instrument,
                "rater": rating_set.rater,
                "item": item_id,
                "value": value,
            }
            for session in self
            for rating_set in session.ratings
            for item_id, value in rating_set.values.items()
        ]
        return pd.DataFrame(rows, columns=["session_id", "instrument", "rater", "item", "value"])

    def ratings_table(self, instrument: str, rater: str = "client") -> pd.DataFrame:
        """Wide table of one instrument's ratings by one rater: a row per rated session
        (indexed by session id), a column per item. Sessions without such ratings are
        left out."""
        import pandas as pd

        data = {
            session.id: rating_set.values
            for session in self
            if (rating_set := session.rating(instrument, rater)) is not None  # type: ignore[arg-type]
        }
        frame = pd.DataFrame.from_dict(data, orient="index", dtype=float)
        frame.index.name = "session_id"
        return frame

    @classmethod
    def from_dataframe(
        cls,
        turns: pd.DataFrame,
        ratings: pd.DataFrame | None = None,
    ) -> Corpus:
        """Rebuild a corpus from :meth:`to_dataframe` (and optionally :meth:`ratings_frame`).

        Only ``session_id``, ``role`` and ``text`` columns are required; rows are taken in
        order of ``turn_index`` when that column is present.
        """
        import pandas as pd

        missing = {"session_id", "role", "text"} - set(turns.columns)
        if missing:
            raise DataError(
                f"the turns table lacks the columns {sorted(missing)}",
                field=", ".join(sorted(missing)),
                fix="add them (session_id, role, text are required)",
            )
        frame = turns
        if "turn_index" in frame.columns:
            frame = frame.sort_values(["turn_index"], kind="stable")

        def value(row: Any, column: str) -> Any:
            if column not in row or row[column] is None:
                return None
            if not isinstance(row[column], dict | list) and pd.isna(row[column]):
                return None
            return row[column]

        sessions: dict[str, Session] = {}
        for session_id in dict.fromkeys(turns["session_id"].astype(str)):
            sessions[session_id] = Session(id=session_id, turns=[])
        for row in frame.to_dict("records"):
            session = sessions[str(row["session_id"])]
            if not session.turns:
                session.language = value(row, "language")
                session.client_id = _opt_str(value(row, "client_id"))
                session.counselor_id = _opt_str(value(row, "counselor_id"))
                session.meta = dict(value(row, "session_meta") or {})
            session.turns.append(
                Turn(
                    index=len(session.turns),
                    role=row["role"],
                    text=str(row["text"]),
                    speaker=_opt_str(value(row, "speaker")),
                    time=_opt_str(value(row, "time")),
                    meta=dict(value(row, "turn_meta") or {}),
                )
            )
        if ratings is not None and len(ratings):
            grouped: dict[tuple[str, str, str], dict[str, float]] = {}
            for row in ratings.to_dict("records"):
                key = (str(row["session_id"]), row["instrument"], row["rater"])
                grouped.setdefault(key, {})[str(row["item"])] = float(row["value"])
            for (session_id, instrument, rater), values in grouped.items():
                if session_id in sessions:
                    sessions[session_id].ratings.append(
                        RatingSet(instrument=instrument, rater=rater, values=values)  # type: ignore[arg-type]
                    )
        for session in sessions.values():
            session.turns = reindex(session.turns)
        return cls(sessions.values())


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
