"""The server's own tables beside the run store, and the background job runner.

Results go to the run store (:class:`care.store.RunStore`) like the CLI's, keyed by the
assessment id as session id. Two more tables in the same SQLite file hold what the server
needs on top: ``serve_assessments`` (the transcript each result quotes, for the web page and
the history) and ``serve_jobs`` (batch jobs and their inputs, so that a restarted server
resumes the jobs that were queued or running).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from care.store import StoreError

log = logging.getLogger("care.serve")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS serve_assessments (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    instrument TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_version TEXT NOT NULL,
    job_id TEXT,
    turns TEXT NOT NULL,
    summary TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS serve_jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    request TEXT,
    total INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    assessment_ids TEXT NOT NULL DEFAULT '[]',
    errors TEXT NOT NULL DEFAULT '[]',
    resumed INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
"""


def new_id() -> str:
    """A random id (hex), unguessable so ids do not reveal how many sessions were assessed."""
    return uuid.uuid4().hex


class ServeDB:
    """The server's tables; a fresh connection per call, so any thread may use it."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            db = self._connect()
            try:
                with db:
                    db.executescript(_SCHEMA)
            finally:
                db.close()
        except sqlite3.Error as error:
            raise StoreError(
                f"cannot use the run store ({error})",
                file=self.path,
                fix="give --store a new file name or an existing care run store",
            ) from None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30.0)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def _run(self, query: str, params: tuple = ()) -> list[tuple]:
        db = self._connect()
        try:
            with db:
                return db.execute(query, params).fetchall()
        finally:
            db.close()

    # -- assessments ------------------------------------------------------------------------

    def add_assessment(
        self,
        assessment_id: str,
        session_id: str,
        record: dict[str, Any],
        turns: list[dict[str, Any]],
        job_id: str | None = None,
    ) -> float:
        created = time.time()
        summary = {
            "language": record.get("language"),
            "total": record.get("total"),
            "dimensions": record.get("dimensions", {}),
        }
        self._run(
            "INSERT OR REPLACE INTO serve_assessments VALUES (?,?,?,?,?,?,?,?,?)",
            (
                assessment_id,
                session_id,
                record["instrument"],
                record["model"],
                record["model_version"],
                job_id,
                json.dumps(turns, ensure_ascii=False),
                json.dumps(summary, ensure_ascii=False),
                created,
            ),
        )
        return created

    def assessment(self, assessment_id: str) -> dict[str, Any] | None:
        rows = self._run(
            "SELECT id, session_id, instrument, model, prompt_version, job_id, turns, summary, "
            "created_at FROM serve_assessments WHERE id=?",
            (assessment_id,),
        )
        return _assessment_row(rows[0]) if rows else None

    def history(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        rows = self._run(
            "SELECT id, session_id, instrument, model, prompt_version, job_id, turns, summary, "
            "created_at FROM serve_assessments ORDER BY created_at DESC, rowid DESC "
            "LIMIT ? OFFSET ?",
            (limit, offset),
        )
        total = self._run("SELECT COUNT(*) FROM serve_assessments")[0][0]
        return [_assessment_row(row) for row in rows], int(total)

    # -- jobs -------------------------------------------------------------------------------

    def add_job(self, job_id: str, request: dict[str, Any], total: int) -> None:
        now = time.time()
        self._run(
            "INSERT INTO serve_jobs (id, status, request, total, created_at, updated_at) "
            "VALUES (?, 'queued', ?, ?, ?, ?)",
            (job_id, json.dumps(request, ensure_ascii=False), total, now, now),
        )

    def job(self, job_id: str) -> dict[str, Any] | None:
        rows = self._run(
            "SELECT id, status, total, done, failed, assessment_ids, errors, created_at, "
            "updated_at, resumed FROM serve_jobs WHERE id=?",
            (job_id,),
        )
        if not rows:
            return None
        row = rows[0]
        return {
            "id": row[0],
            "status": row[1],
            "total": row[2],
            "done": row[3],
            "failed": row[4],
            "assessment_ids": json.loads(row[5]),
            "errors": json.loads(row[6]),
            "created_at": row[7],
            "updated_at": row[8],
            "resumed": row[9],
        }

    def job_request(self, job_id: str) -> dict[str, Any] | None:
        rows = self._run("SELECT request FROM serve_jobs WHERE id=?", (job_id,))
        return json.loads(rows[0][0]) if rows and rows[0][0] else None

    def update_job(self, job_id: str, **fields: Any) -> None:
        sets, params = [], []
        for name, value in fields.items():
            if name not in {"status", "done", "failed", "assessment_ids", "errors", "request"}:
                raise ValueError(f"unknown job field {name!r}")
            sets.append(f"{name}=?")
            params.append(json.dumps(value) if isinstance(value, list) else value)
        sets.append("updated_at=?")
        params.append(time.time())
        self._run(f"UPDATE serve_jobs SET {', '.join(sets)} WHERE id=?", (*params, job_id))

    def unfinished_jobs(self) -> list[str]:
        rows = self._run(
            "SELECT id FROM serve_jobs WHERE status IN ('queued', 'running') ORDER BY created_at"
        )
        return [row[0] for row in rows]

    def mark_resumed(self, job_id: str) -> None:
        self._run(
            "UPDATE serve_jobs SET status='queued', resumed=resumed+1, updated_at=? WHERE id=?",
            (time.time(), job_id),
        )


def _assessment_row(row: tuple) -> dict[str, Any]:
    return {
        "id": row[0],
        "session_id": row[1],
        "instrument": row[2],
        "model": row[3],
        "prompt_version": row[4],
        "job_id": row[5],
        "turns": json.loads(row[6]),
        "summary": json.loads(row[7]),
        "created_at": row[8],
    }


# A job step: (job id, request, the ids done so far) -> yields (assessment id | None, error).
JobWork = Callable[[str, dict[str, Any], int], Any]


class JobRunner:
    """Runs jobs one after another on a daemon thread.

    Job state lives in :class:`ServeDB`; :meth:`start` first re-queues the jobs a previous
    server left queued or running (``resume=True``) or marks them ``interrupted``.

    Args:
        db: The server's tables.
        work: ``work(job_id, request, start)`` yields ``(assessment_id, error)`` per session,
            skipping the first ``start`` sessions (finished before a restart).
        resume: Resume unfinished jobs of a previous server instead of marking them
            interrupted.
    """

    def __init__(self, db: ServeDB, work: JobWork, resume: bool = True) -> None:
        self.db = db
        self.work = work
        self.resume = resume
        self._queue: list[str] = []
        self._wake = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        for job_id in self.db.unfinished_jobs():
            if self.resume:
                self.db.mark_resumed(job_id)
                self._queue.append(job_id)
            else:
                self.db.update_job(job_id, status="interrupted", request=None)
        self._thread = threading.Thread(target=self._loop, name="care-serve-jobs", daemon=True)
        self._thread.start()

    def submit(self, job_id: str) -> None:
        with self._wake:
            self._queue.append(job_id)
            self._wake.notify()

    def stop(self, timeout: float = 5.0) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._stop:
                    self._wake.wait()
                if self._stop:
                    return
                job_id = self._queue.pop(0)
            self._run(job_id)

    def _run(self, job_id: str) -> None:
        job = self.db.job(job_id)
        request = self.db.job_request(job_id)
        if job is None or request is None:
            return
        ids, errors = list(job["assessment_ids"]), list(job["errors"])
        done, failed = job["done"], job["failed"]
        self.db.update_job(job_id, status="running")
        try:
            for assessment_id, error in self.work(job_id, request, done + failed):
                if self._stop:
                    return  # left 'running': the next server resumes it
                if assessment_id is not None:
                    ids.append(assessment_id)
                    done += 1
                else:
                    errors.append(str(error))
                    failed += 1
                self.db.update_job(
                    job_id, done=done, failed=failed, assessment_ids=ids, errors=errors
                )
        except Exception as error:  # a job's failure is reported on the job
            log.error("job %s failed: %s", job_id, type(error).__name__)
            errors.append(_public_error(error))
            self.db.update_job(job_id, status="failed", errors=errors, request=None)
            return
        self.db.update_job(job_id, status="done", request=None)


def _public_error(error: Exception) -> str:
    from care.errors import CareError

    if isinstance(error, CareError):
        return str(error)
    return f"internal error ({type(error).__name__})"
