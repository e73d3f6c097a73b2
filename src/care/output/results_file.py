"""The JSON Lines results file of ``care assess --out``: one result record per line.

The rules that keep a user's results safe:

* **Only care results are resumed.** An existing file must hold nothing but care result
  records (a last line cut off by a kill is the one exception: it is dropped by truncating
  the file back to the end of the last whole record, so the file is never rewritten). A file
  that holds anything else is refused and left untouched.
* **Resume is keyed by result identity**, not by session id alone: a session counts as done
  only when the file holds its result under the same :class:`~care.identity.ResultKey`
  (instrument, model, version). A session already in the file under another key is refused
  (one file, one result per session), naming both keys.
* **One run at a time.** The file is locked (``FILE.lock`` beside it) for the whole run; a
  second run on the same file is refused with a message that says it is in use.
* **Appends are whole records.** Each record is written and flushed as one line; if the disk
  fills up mid-line, the file is truncated back to the last whole record and the run stops
  with a one-line error, so every result written so far stays readable.
* **Starting afresh is atomic.** ``overwrite=True`` writes to a temporary file beside the
  target and renames it over the target when the run ends (a kill leaves the old file).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from care.errors import OutputError, os_error
from care.identity import ResultKey
from care.output.atomic import fsync_folder, write_text_atomic
from care.output.finished import FinishedResults
from care.output.lock import take_output_lock
from care.output.paths import check_output_file

#: The fields every care result record has.
RECORD_FIELDS = ("session_id", "instrument", "model", "model_version", "items")


def is_result_record(value: Any) -> bool:
    """Whether a parsed JSON value is a care result record."""
    return isinstance(value, dict) and all(name in value for name in RECORD_FIELDS)


class ResultsFile:
    """A results file opened for one run.

    Args:
        path: The file (``.jsonl``); made if missing.
        overwrite: Start afresh instead of resuming (the old file is replaced atomically
            at the end of the run).
        inputs: The run's input files: the output may not be one of them.
        field: The option that named the file, for error messages.

    Use it as a context manager; :meth:`finished` tells what is done, :meth:`write` appends.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        overwrite: bool = False,
        inputs: Iterable[str | Path] = (),
        field: str = "--out",
    ) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.inputs = list(inputs)
        self.field = field
        self._finished = FinishedResults(self.path, field, "this file", "file")
        self._descriptor: int | None = None
        self._temporary: Path | None = None
        self._lock: Any = None
        self._needs_newline = False
        self.written = 0

    # -- opening ----------------------------------------------------------------------------

    def __enter__(self) -> ResultsFile:
        self.open()
        return self

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        self.close(failed=kind is not None)

    def open(self) -> ResultsFile:
        """Check the target, take the lock and read what is finished."""
        check_output_file(self.path, inputs=self.inputs, field=self.field)
        self._take_lock()
        try:
            if not self.overwrite and self.path.exists():
                self._read_existing()
        except BaseException:
            self._release_lock()
            raise
        return self

    def _take_lock(self) -> None:
        self._lock = take_output_lock(
            self.path.with_name(self.path.name + ".lock"), self.path, self.field, "the file", "file"
        )

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _read_existing(self) -> None:
        good_end = 0
        last_complete = True
        try:
            with open(self.path, "rb") as handle:
                for number, line in enumerate(handle, start=1):
                    last_complete = line.endswith(b"\n")
                    record = _parse(line)
                    if record is None:
                        if not line.strip():
                            good_end += len(line)
                            continue
                        if not last_complete:
                            break  # a record cut off by a kill: dropped below
                        raise OutputError(
                            f"line {number} is not a care result record, so this file is not a "
                            "care results file (it was left untouched)",
                            file=str(self.path),
                            field=self.field,
                            fix="give --out a new file name (or a results file of care assess)",
                        )
                    self._finished.add(str(record["session_id"]), ResultKey.of_record(record))
                    good_end += len(line)
        except OSError as error:
            raise os_error(error, field=self.field) from None
        size = self.path.stat().st_size
        if good_end < size:
            # Drop the cut-off last record: truncating is one step, so a kill leaves the
            # file either as it was or without the partial line.
            try:
                with open(self.path, "r+b") as handle:
                    handle.truncate(good_end)
                    os.fsync(handle.fileno())
            except OSError as error:
                raise os_error(error, field=self.field) from None
        elif not last_complete and size:
            self._needs_newline = True

    # -- what is done -----------------------------------------------------------------------

    def finished(self) -> dict[str, ResultKey]:
        """Session id to the key of its result in the output."""
        return self._finished.as_dict()

    def is_finished(self, session_id: str, key: ResultKey) -> bool:
        """Whether the output holds this session's result under ``key``.

        Raises:
            OutputError: It holds the session's result under another key.
        """
        return self._finished.is_finished(session_id, key)

    # -- writing ----------------------------------------------------------------------------

    def write(self, record: dict[str, Any]) -> None:
        """Append one result record as a whole line, written straight to the file (no
        buffer that could later spill a fragment)."""
        descriptor = self._writer()
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        if self._needs_newline:
            data = b"\n" + data
        try:
            position = os.lseek(descriptor, 0, os.SEEK_END)
            view = memoryview(data)
            while view:
                done = os.write(descriptor, view)
                view = view[done:]
        except OSError as error:
            with contextlib.suppress(OSError):
                os.ftruncate(descriptor, position)
            if error.filename is None:
                error.filename = str(self.path)
            raise os_error(error, field=self.field) from None
        self._needs_newline = False
        self._finished.add(str(record["session_id"]), ResultKey.of_record(record))
        self.written += 1

    def _writer(self) -> int:
        if self._descriptor is not None:
            return self._descriptor
        try:
            if self.overwrite:
                descriptor, name = tempfile.mkstemp(
                    dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
                )
                self._temporary = Path(name)
            else:
                descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as error:
            if error.filename is None:
                error.filename = str(self.path)
            raise os_error(error, field=self.field) from None
        self._descriptor = descriptor
        return descriptor

    def close(self, failed: bool = False) -> None:
        """Fsync; with ``overwrite``, put the new file in place (unless the run failed before
        writing anything, which keeps the old file); release the lock."""
        try:
            if self._descriptor is not None:
                with contextlib.suppress(OSError):
                    os.fsync(self._descriptor)
                os.close(self._descriptor)
                self._descriptor = None
            if self._temporary is not None:
                if failed and not self.written:
                    self._temporary.unlink(missing_ok=True)
                else:
                    try:
                        os.replace(self._temporary, self.path)
                    except OSError as error:
                        raise os_error(error, field=self.field) from None
                    fsync_folder(self.path.parent)
                self._temporary = None
            elif self.overwrite and not failed:
                write_text_atomic(self.path, "")  # a fresh run with nothing to write
        finally:
            self._release_lock()


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return value if is_result_record(value) else None
