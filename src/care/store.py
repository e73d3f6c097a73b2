"""The run store: every assessment result in one SQLite file, written as it finishes.

A result is keyed by ``(session_id, instrument, item_id, model, prompt_version)``. The LLM
assessor writes each item as soon as it is rated, so killing a run loses nothing that
finished; re-running skips what is done. The built-in assessor's whole-session results are
stored the same way (its ``prompt_version`` is the model version), so evaluation and analysis
can read either from the store without querying a model again.

The file uses SQLite's write-ahead log, so a reader can open it while a run writes to it.

Item status is one of:

* ``ok``: the item has a value;
* ``parse_failure``: the model answered, but no answer could be read after the allowed
  re-asks (kept with its raw output; not retried, as the same prompt at temperature 0 gives
  the same answer);
* ``backend_error``: the engine failed (after retries); retried by the next run.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from care.errors import CareError
from care.records import Evidence, ItemRating, SessionAssessment

STORE_FORMAT_VERSION = 1
STATUSES = ("ok", "parse_failure", "backend_error")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    session_id TEXT NOT NULL,
    instrument TEXT NOT NULL,
    item_id TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    status TEXT NOT NULL,
    value REAL,
    expected REAL,
    probabilities TEXT,
    rationale TEXT,
    evidence TEXT,
    raw_output TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 1,
    usage TEXT,
    language TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (session_id, instrument, item_id, model, prompt_version)
);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT NOT NULL,
    instrument TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    record TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (session_id, instrument, model, prompt_version)
);
"""


class StoreError(CareError):
    """The run store file cannot be opened or is not a care run store."""


class RunStore:
    """A SQLite run store.

    Args:
        path: The store file (created if missing). ``":memory:"`` keeps it in memory.

    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            row = self._db.execute("SELECT value FROM meta WHERE key='format_version'").fetchone()
            if row is None:
                with self._db:
                    self._db.execute(
                        "INSERT INTO meta VALUES ('format_version', ?)",
                        (str(STORE_FORMAT_VERSION),),
                    )
            elif int(row[0]) > STORE_FORMAT_VERSION:
                raise StoreError(
                    f"the store has format version {row[0]}, newer than this care's "
                    f"{STORE_FORMAT_VERSION}",
                    file=self.path,
                    fix="upgrade care, or use a new --store file",
                )
        except sqlite3.DatabaseError as error:
            raise StoreError(
                f"cannot open the run store: {error}",
                file=self.path,
                fix="give --store a new file name or an existing care run store",
            ) from error

    # -- items ------------------------------------------------------------------------------

    def put_item(
        self,
        rating: ItemRating,
        *,
        instrument: str,
        model: str,
        prompt_version: str,
        status: str | None = None,
        expected: float | None = None,
        attempts: int = 1,
        usage: dict[str, Any] | None = None,
        language: str | None = None,
    ) -> None:
        """Write (or replace) one item's result, committed at once."""
        with self._db:
            self._put_item(
                rating,
                instrument,
                model,
                prompt_version,
                status,
                expected,
                attempts,
                usage,
                language,
            )

    def _put_item(
        self,
        rating: ItemRating,
        instrument: str,
        model: str,
        prompt_version: str,
        status: str | None,
        expected: float | None,
        attempts: int,
        usage: dict[str, Any] | None,
        language: str | None,
    ) -> None:
        if status is None:
            status = "ok" if rating.value is not None else "parse_failure"
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        self._db.execute(
            "INSERT OR REPLACE INTO items VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                rating.session_id,
                instrument,
                rating.item_id,
                model,
                prompt_version,
                status,
                rating.value,
                expected,
                _dump(rating.probabilities),
                rating.rationale,
                json.dumps([asdict(piece) for piece in rating.evidence], ensure_ascii=False),
                rating.raw_output,
                rating.error,
                attempts,
                _dump(usage),
                language,
                time.time(),
            ),
        )

    def get_items(
        self, session_id: str, *, instrument: str, model: str, prompt_version: str
    ) -> dict[str, ItemRating]:
        """The stored item results of one session (any status), by item id."""
        return {
            rating.item_id: rating
            for rating, _ in self._item_rows(session_id, instrument, model, prompt_version)
        }

    def item_rows(
        self, session_id: str, *, instrument: str, model: str, prompt_version: str
    ) -> list[tuple[ItemRating, dict[str, Any]]]:
        """Stored items with their bookkeeping (status, expected, attempts, usage, ...)."""
        return list(self._item_rows(session_id, instrument, model, prompt_version))

    def _item_rows(
        self, session_id: str, instrument: str, model: str, prompt_version: str
    ) -> Iterator[tuple[ItemRating, dict[str, Any]]]:
        cursor = self._db.execute(
            "SELECT item_id, status, value, expected, probabilities, rationale, evidence, "
            "raw_output, error, attempts, usage, language, created_at FROM items "
            "WHERE session_id=? AND instrument=? AND model=? AND prompt_version=?",
            (session_id, instrument, model, prompt_version),
        )
        for row in cursor.fetchall():
            rating = ItemRating(
                session_id=session_id,
                item_id=row[0],
                value=row[2],
                probabilities=_load(row[4]),
                rationale=row[5],
                evidence=[Evidence(**piece) for piece in (_load(row[6]) or [])],
                raw_output=row[7],
                error=row[8],
            )
            info = {
                "status": row[1],
                "expected": row[3],
                "attempts": row[9],
                "usage": _load(row[10]),
                "language": row[11],
                "created_at": row[12],
            }
            yield rating, info

    def finished_items(
        self, session_id: str, *, instrument: str, model: str, prompt_version: str
    ) -> dict[str, ItemRating]:
        """Items a re-run should not redo: those with a value or a stored parse failure."""
        return {
            rating.item_id: rating
            for rating, info in self._item_rows(session_id, instrument, model, prompt_version)
            if info["status"] != "backend_error"
        }

    # -- sessions ---------------------------------------------------------------------------

    def put_assessment(
        self,
        assessment: SessionAssessment,
        *,
        prompt_version: str | None = None,
        write_items: bool = True,
    ) -> None:
        """Store a whole session's assessment (its items and its session-level record), which
        marks the session finished.

        ``prompt_version`` defaults to the assessment's ``model_version``. ``write_items=False``
        records only the session (its items were stored one by one as they finished).
        """
        version = prompt_version or assessment.model_version
        expected = assessment.meta.get("expected_scores", {}) if assessment.meta else {}
        statuses = assessment.meta.get("item_status", {}) if assessment.meta else {}
        record = assessment.to_record()
        record["item_order"] = list(record.pop("items"))
        with self._db:
            for rating in assessment.items.values() if write_items else ():
                self._put_item(
                    rating,
                    assessment.instrument,
                    assessment.model,
                    version,
                    statuses.get(rating.item_id),
                    expected.get(rating.item_id),
                    1,
                    None,
                    assessment.language,
                )
            self._db.execute(
                "INSERT OR REPLACE INTO sessions VALUES (?,?,?,?,?,?)",
                (
                    assessment.session_id,
                    assessment.instrument,
                    assessment.model,
                    version,
                    json.dumps(record, ensure_ascii=False),
                    time.time(),
                ),
            )

    def get_assessment(
        self, session_id: str, *, instrument: str, model: str, prompt_version: str
    ) -> SessionAssessment | None:
        """A stored session assessment, or None if the session was not finished."""
        row = self._db.execute(
            "SELECT record FROM sessions WHERE session_id=? AND instrument=? AND model=? "
            "AND prompt_version=?",
            (session_id, instrument, model, prompt_version),
        ).fetchone()
        if row is None:
            return None
        record = json.loads(row[0])
        items = self.get_items(
            session_id, instrument=instrument, model=model, prompt_version=prompt_version
        )
        order = record.pop("item_order", None) or list(items)
        record["items"] = {key: _item_dict(items[key]) for key in [*order, *items] if key in items}
        return SessionAssessment.from_record(record)

    def has_assessment(
        self, session_id: str, *, instrument: str, model: str, prompt_version: str
    ) -> bool:
        """Whether the session's assessment is stored as finished."""
        row = self._db.execute(
            "SELECT 1 FROM sessions WHERE session_id=? AND instrument=? AND model=? "
            "AND prompt_version=?",
            (session_id, instrument, model, prompt_version),
        ).fetchone()
        return row is not None

    def assessments(
        self,
        *,
        model: str | None = None,
        instrument: str | None = None,
        prompt_version: str | None = None,
    ) -> list[SessionAssessment]:
        """Every finished session assessment matching the filters, oldest first."""
        query = "SELECT session_id, instrument, model, prompt_version FROM sessions"
        clauses, params = [], []
        for name, value in (
            ("model", model),
            ("instrument", instrument),
            ("prompt_version", prompt_version),
        ):
            if value is not None:
                clauses.append(f"{name}=?")
                params.append(value)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY created_at, rowid"
        keys = self._db.execute(query, params).fetchall()
        found: list[SessionAssessment] = []
        for session_id, inst, mod, version in keys:
            assessment = self.get_assessment(
                session_id, instrument=inst, model=mod, prompt_version=version
            )
            if assessment is not None:
                found.append(assessment)
        return found

    def failures(self, *, model: str | None = None) -> list[tuple[ItemRating, str]]:
        """Failed items (parse failures and backend errors) with their status."""
        query = (
            "SELECT session_id, item_id, status, raw_output, error FROM items WHERE status != 'ok'"
        )
        params: list[str] = []
        if model is not None:
            query += " AND model=?"
            params.append(model)
        return [
            (
                ItemRating(
                    session_id=row[0], item_id=row[1], value=None, raw_output=row[3], error=row[4]
                ),
                row[2],
            )
            for row in self._db.execute(query, params).fetchall()
        ]

    def count_items(self, status: str | None = None) -> int:
        """How many item results are stored (with ``status``, if given)."""
        if status is None:
            return int(self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0])
        return int(
            self._db.execute("SELECT COUNT(*) FROM items WHERE status=?", (status,)).fetchone()[0]
        )

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _item_dict(rating: ItemRating) -> dict[str, Any]:
    record: dict[str, Any] = {"value": rating.value}
    for name in ("probabilities", "rationale", "raw_output", "error"):
        if getattr(rating, name) is not None:
            record[name] = getattr(rating, name)
    if rating.evidence:
        record["evidence"] = [asdict(piece) for piece in rating.evidence]
    return record
