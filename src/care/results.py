"""Assessment results: the results of a corpus (:class:`Assessments`) and the one reader of
results files and run stores (:meth:`Assessments.read`).

The records of one session (:class:`SessionAssessment`, :class:`ItemRating`,
:class:`Evidence`) live in :mod:`care.records` and are importable from here too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from care.instruments import Instrument, get_instrument
from care.records import RESULT_SCHEMA_VERSION, Evidence, ItemRating, SessionAssessment

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "RESULT_SCHEMA_VERSION",
    "Assessments",
    "Evidence",
    "ItemRating",
    "SessionAssessment",
    "StoredAssessments",
]


class StoredAssessments(Protocol):
    """Anything that holds finished assessments, such as a :class:`~care.store.RunStore`."""

    def assessments(self, *, model: str | None = None) -> Iterable[SessionAssessment]:
        """The finished assessments (of ``model`` only, when given)."""
        ...


class Assessments:
    """The assessments of a corpus, in session order."""

    def __init__(self, assessments: Iterable[SessionAssessment] = ()) -> None:
        self._items: list[SessionAssessment] = list(assessments)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[SessionAssessment]:
        return iter(self._items)

    def __getitem__(self, position: int) -> SessionAssessment:
        return self._items[position]

    def append(self, assessment: SessionAssessment) -> None:
        """Add one session's assessment."""
        self._items.append(assessment)

    def by_session(self) -> dict[str, SessionAssessment]:
        """Session id to assessment."""
        return {assessment.session_id: assessment for assessment in self._items}

    def items_frame(self) -> pd.DataFrame:
        """Wide table: a row per session (index session_id), a column per item."""
        import pandas as pd

        frame = pd.DataFrame.from_dict(
            {a.session_id: a.item_values() for a in self._items}, orient="index", dtype=float
        )
        frame.index.name = "session_id"
        return frame

    def scores_frame(self) -> pd.DataFrame:
        """Wide table of derived scores: a row per session, a column per dimension and
        ``total``."""
        import pandas as pd

        instruments: dict[str, Instrument] = {}
        rows = {}
        for assessment in self._items:
            instrument = instruments.setdefault(
                assessment.instrument, get_instrument(assessment.instrument)
            )
            rows[assessment.session_id] = {
                **assessment.dimension_scores(instrument),
                "total": assessment.total_score(instrument),
            }
        frame = pd.DataFrame.from_dict(rows, orient="index", dtype=float)
        frame.index.name = "session_id"
        return frame

    def to_jsonl(self, path: str | Path) -> None:
        """Write one JSON record per session."""
        from care.output.atomic import atomic_write

        with atomic_write(path) as handle:
            for assessment in self._items:
                handle.write(json.dumps(assessment.to_record(), ensure_ascii=False) + "\n")

    @classmethod
    def read(
        cls,
        source: str | Path | StoredAssessments,
        *,
        instrument: str | Instrument | None = None,
        model: str | None = None,
        option: str | None = None,
    ) -> Assessments:
        """Read the results of a results file (``care assess --out``, JSON Lines, may be
        gzipped) or a run store (its SQLite file, or an open
        :class:`~care.store.RunStore`), checked, with their evidence.

        ``instrument`` is the one every record must be on (default: the first record's),
        ``model`` keeps that model's records only, ``option`` names the command-line
        option the source came from in messages. See :mod:`care.results_io`.

        Raises:
            DataError: Naming the file, record and field of the first invalid record.
            ParameterError: If the path does not exist.
        """
        from care.results_io import read_assessments

        return cls(read_assessments(source, instrument=instrument, model=model, option=option))
