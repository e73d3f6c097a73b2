"""Drafts and review decisions, in the run store's SQLite file (tables of their own).

The tables sit beside :class:`care.store.RunStore`'s in the same file, so one ``--store``
holds assessments, drafts and reviews; RunStore's API and tables are not touched.

A draft is keyed by ``(session_id, instrument, item_id, teacher, prompt_version)``; its status
is ``ok`` (a rationale was read), ``parse_failure`` (the teacher answered, but nothing usable:
kept with the raw output, not retried) or ``backend_error`` (the engine failed: retried by the
next run). A review decision (``accept``, ``edit`` or ``reject``) is appended, never
overwritten, with the reviewer's name and the time; the latest decision of a key is the one
that counts.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from care.errors import ParameterError
from care.store import StoreError

DRAFT_STATUSES = ("ok", "parse_failure", "backend_error")
DECISIONS = ("accept", "edit", "reject")
#: The paper's 1-5 scales that a reviewer may score a draft on.
REVIEW_SCALES = ("faithfulness", "relevance", "informativeness")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rationale_drafts (
    session_id TEXT NOT NULL,
    instrument TEXT NOT NULL,
    item_id TEXT NOT NULL,
    teacher TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    rating REAL NOT NULL,
    status TEXT NOT NULL,
    rationale TEXT,
    raw_output TEXT,
    error TEXT,
    language TEXT,
    options TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (session_id, instrument, item_id, teacher, prompt_version)
);
CREATE TABLE IF NOT EXISTS rationale_reviews (
    review_id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    instrument TEXT NOT NULL,
    item_id TEXT NOT NULL,
    teacher TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    decision TEXT NOT NULL,
    text TEXT,
    scores TEXT,
    note TEXT,
    created_at REAL NOT NULL
);
"""

Key = tuple[str, str, str, str, str]


@dataclass
class Draft:
    """One drafted rationale (see the module docstring for ``status``)."""

    session_id: str
    instrument: str
    item_id: str
    teacher: str
    prompt_version: str
    rating: float
    status: str
    rationale: str | None = None
    raw_output: str | None = None
    error: str | None = None
    language: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0

    @property
    def key(self) -> Key:
        """``(session_id, instrument, item_id, teacher, prompt_version)``."""
        return (self.session_id, self.instrument, self.item_id, self.teacher, self.prompt_version)


@dataclass
class Review:
    """One reviewer's decision on one draft.

    Attributes:
        decision: ``accept``, ``edit`` (``text`` is the edited rationale) or ``reject``.
        scores: Optional 1-5 scores by name (:data:`REVIEW_SCALES`).
    """

    session_id: str
    instrument: str
    item_id: str
    teacher: str
    prompt_version: str
    reviewer: str
    decision: str
    text: str | None = None
    scores: dict[str, int] = field(default_factory=dict)
    note: str | None = None
    created_at: float = 0.0

    @property
    def key(self) -> Key:
        return (self.session_id, self.instrument, self.item_id, self.teacher, self.prompt_version)


def check_review(review: Review, where: str = "review") -> None:
    """Raise :class:`ParameterError` for a decision, reviewer or score that is not valid."""
    if review.decision not in DECISIONS:
        raise ParameterError(
            f"the decision must be one of {list(DECISIONS)}; got {review.decision!r}",
            record=where,
            field="decision",
            fix="write accept, edit or reject",
        )
    if not review.reviewer or not review.reviewer.strip():
        raise ParameterError(
            "the reviewer's name is empty", record=where, field="reviewer", fix="give a name"
        )
    if review.decision == "edit" and not (review.text or "").strip():
        raise ParameterError(
            "an 'edit' decision needs the edited rationale",
            record=where,
            field="edited_rationale",
            fix="write the edited text, or use accept/reject",
        )
    for name, value in review.scores.items():
        if name not in REVIEW_SCALES or not isinstance(value, int) or not 1 <= value <= 5:
            raise ParameterError(
                f"score {name}={value!r} is not valid",
                record=where,
                field=name,
                fix=f"scores are integers 1-5 on {', '.join(REVIEW_SCALES)}",
            )


class RationaleStore:
    """Drafts and reviews in a run store file (created if missing).

    Args:
        path: The store file, usually the same ``--store`` as the assessments.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as error:
            raise StoreError(
                f"cannot open the run store: {error}",
                file=self.path,
                fix="give --store a new file name or an existing care run store",
            ) from error

    # -- drafts -----------------------------------------------------------------------------

    def put_draft(self, draft: Draft) -> None:
        """Write (or replace) one draft, committed at once."""
        if draft.status not in DRAFT_STATUSES:
            raise ValueError(f"unknown draft status {draft.status!r}")
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO rationale_drafts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    *draft.key,
                    float(draft.rating),
                    draft.status,
                    draft.rationale,
                    draft.raw_output,
                    draft.error,
                    draft.language,
                    json.dumps(draft.options, ensure_ascii=False),
                    draft.created_at or time.time(),
                ),
            )

    def drafts(self, *, teacher: str | None = None, status: str | None = None) -> list[Draft]:
        """Stored drafts, ordered by session and item."""
        sql = "SELECT * FROM rationale_drafts WHERE 1=1"
        args: list[Any] = []
        if teacher is not None:
            sql += " AND teacher=?"
            args.append(teacher)
        if status is not None:
            sql += " AND status=?"
            args.append(status)
        sql += " ORDER BY session_id, instrument, item_id, teacher, prompt_version"
        rows = self._db.execute(sql, args).fetchall()
        return [
            Draft(*row[:11], options=json.loads(row[11] or "{}"), created_at=row[12])
            for row in rows
        ]

    def draft(self, key: Key) -> Draft | None:
        """The draft with ``key``, or None."""
        row = self._db.execute(
            "SELECT * FROM rationale_drafts WHERE session_id=? AND instrument=? AND item_id=? "
            "AND teacher=? AND prompt_version=?",
            key,
        ).fetchone()
        if row is None:
            return None
        return Draft(*row[:11], options=json.loads(row[11] or "{}"), created_at=row[12])

    def finished_keys(self) -> set[Key]:
        """Keys of drafts not to redo (``ok`` and ``parse_failure``)."""
        rows = self._db.execute(
            "SELECT session_id, instrument, item_id, teacher, prompt_version "
            "FROM rationale_drafts WHERE status != 'backend_error'"
        ).fetchall()
        return {tuple(row) for row in rows}  # type: ignore[misc]

    # -- reviews ----------------------------------------------------------------------------

    def add_review(self, review: Review) -> Review:
        """Append one decision, committed at once (the time is now unless given)."""
        check_review(review)
        if self.draft(review.key) is None:
            raise ParameterError(
                f"no draft for session {review.session_id!r}, item {review.item_id!r}, "
                f"teacher {review.teacher!r}, prompt {review.prompt_version!r}",
                field="session_id",
                fix="review drafts that `care rationales draft` wrote to this store",
            )
        review.created_at = review.created_at or time.time()
        with self._db:
            self._db.execute(
                "INSERT INTO rationale_reviews (session_id, instrument, item_id, teacher, "
                "prompt_version, reviewer, decision, text, scores, note, created_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    *review.key,
                    review.reviewer.strip(),
                    review.decision,
                    review.text,
                    json.dumps(review.scores),
                    review.note,
                    review.created_at,
                ),
            )
        return review

    def reviews(self) -> list[Review]:
        """Every decision, oldest first."""
        rows = self._db.execute(
            "SELECT session_id, instrument, item_id, teacher, prompt_version, reviewer, "
            "decision, text, scores, note, created_at FROM rationale_reviews "
            "ORDER BY created_at, review_id"
        ).fetchall()
        return [
            Review(*row[:8], scores=json.loads(row[8] or "{}"), note=row[9], created_at=row[10])
            for row in rows
        ]

    def latest_reviews(self, *, per_reviewer: bool = False) -> dict[Any, Review]:
        """The latest decision per draft key (or per ``(key, reviewer)``)."""
        latest: dict[Any, Review] = {}
        for review in self.reviews():
            latest[(review.key, review.reviewer) if per_reviewer else review.key] = review
        return latest

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def __enter__(self) -> RationaleStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def final_text(draft: Draft, review: Review | None) -> str | None:
    """The rationale as it stands: the edited text, else the draft (None if rejected)."""
    if review is not None and review.decision == "reject":
        return None
    if review is not None and review.decision == "edit":
        return review.text
    return draft.rationale


def as_dict(obj: Draft | Review) -> dict[str, Any]:
    """A JSON-ready mapping."""
    return asdict(obj)
