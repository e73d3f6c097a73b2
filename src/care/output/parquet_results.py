"""Results as Parquet: ``care assess --out results.parquet`` (or ``--format parquet``).

**Layout.** ``results.parquet`` is a *folder* of part files, ``part-000000.parquet``,
``part-000001.parquet``, ... Parquet cannot be appended to, and a Parquet file is readable
only once its footer is written, so one growing file would be lost whole by a kill. Each part
is instead written complete to a hidden temporary file in the folder, fsynced and renamed into
place: a kill at any moment leaves every part either whole or absent, and resume re-assesses
only the sessions of the part that was being gathered. Every tool reads the folder as one
table: ``pandas.read_parquet("results.parquet")``, ``pyarrow.parquet.read_table(...)``,
``polars.read_parquet("results.parquet/*.parquet")``, DuckDB's
``SELECT * FROM 'results.parquet/*.parquet'``, Spark and Ray.

A part is written every ``rows_per_part`` results, or when the oldest result waiting has
waited ``seconds_per_part`` seconds (so a slow language-model run loses at most that much
work to a kill), and when the run ends.

**Schema** (:func:`results_schema`, one row per session; ``schema_version`` 1)::

    schema_version  int32
    session_id      string
    instrument      string
    model           string
    model_version   string
    language        string
    items           list<struct<item_id: string, value: double, probabilities:
                         map<string, double>, rationale: string, evidence: list<EVIDENCE>,
                         raw_output: string, error: string>>
    dimensions      map<string, double>     (null where no item of it could be rated)
    total           double
    rationales      map<string, string>
    evidence        list<struct<key: string, turn_index: int32, quote: string,
                         contribution: double, dimension: string, verbatim: bool>>
    meta            string (JSON)
    extra           string (JSON): every other field of the record (e.g. intervals,
                    percentiles, domain), so nothing of a record is lost

    EVIDENCE = struct<turn_index: int32, quote: string, contribution: double,
                      dimension: string, verbatim: bool>

``key`` is the dimension (or ``total``) the evidence was chosen for. A row converts back to
exactly the JSON record ``care assess --out results.jsonl`` writes
(:func:`record_from_row`), so ``care evaluate`` and ``care analyze`` read either.

The same rules as the JSON Lines file (:mod:`care.output.results_file`) hold: resume by
result identity, one run at a time (a lock file in the folder), ``overwrite`` starts afresh
atomically (the new parts are gathered in a hidden folder beside it and swapped in when the
run ends), and a folder holding anything but parts is refused and left untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from care.errors import DataError, MissingDependencyError, OutputError, os_error
from care.identity import ResultKey
from care.output.atomic import fsync_folder
from care.output.finished import FinishedResults
from care.output.lock import take_output_lock
from care.output.paths import make_folder

ROWS_PER_PART = 1_000
SECONDS_PER_PART = 60.0
PART_NAME = re.compile(r"^part-(\d{6,})\.parquet$")
LOCK_NAME = ".care.lock"
_KNOWN = {
    "schema_version",
    "session_id",
    "instrument",
    "model",
    "model_version",
    "language",
    "items",
    "dimensions",
    "total",
    "rationales",
    "evidence",
    "meta",
}
_EVIDENCE_FIELDS = ("turn_index", "quote", "contribution", "dimension", "verbatim")


def _arrow() -> tuple[Any, Any]:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as error:
        raise MissingDependencyError("pyarrow", "parquet", "Parquet results") from error
    return pyarrow, pyarrow.parquet


def results_schema() -> Any:
    """The Arrow schema of Parquet results (see the module docstring)."""
    pa, _ = _arrow()
    evidence_fields = [
        ("turn_index", pa.int32()),
        ("quote", pa.string()),
        ("contribution", pa.float64()),
        ("dimension", pa.string()),
        ("verbatim", pa.bool_()),
    ]
    item = pa.struct(
        [
            ("item_id", pa.string()),
            ("value", pa.float64()),
            ("probabilities", pa.map_(pa.string(), pa.float64())),
            ("rationale", pa.string()),
            ("evidence", pa.list_(pa.struct(evidence_fields))),
            ("raw_output", pa.string()),
            ("error", pa.string()),
        ]
    )
    return pa.schema(
        [
            ("schema_version", pa.int32()),
            ("session_id", pa.string()),
            ("instrument", pa.string()),
            ("model", pa.string()),
            ("model_version", pa.string()),
            ("language", pa.string()),
            ("items", pa.list_(item)),
            ("dimensions", pa.map_(pa.string(), pa.float64())),
            ("total", pa.float64()),
            ("rationales", pa.map_(pa.string(), pa.string())),
            ("evidence", pa.list_(pa.struct([("key", pa.string()), *evidence_fields]))),
            ("meta", pa.string()),
            ("extra", pa.string()),
        ]
    )


def _pairs(value: Any) -> list[tuple[str, Any]] | None:
    return None if value is None else list(value.items())


def _as_dict(value: Any) -> dict[str, Any]:
    """A map column's value (pairs or a dict) as a dict."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    return {key: item for key, item in value}


def _evidence(piece: dict[str, Any]) -> dict[str, Any]:
    return {name: piece.get(name) for name in _EVIDENCE_FIELDS}


def row_from_record(record: dict[str, Any]) -> dict[str, Any]:
    """The Parquet row of a result record (:meth:`SessionAssessment.to_record` output)."""
    extra = {key: value for key, value in record.items() if key not in _KNOWN}
    return {
        "schema_version": record.get("schema_version", 1),
        "session_id": str(record["session_id"]),
        "instrument": record["instrument"],
        "model": record["model"],
        "model_version": record["model_version"],
        "language": record.get("language"),
        "items": [
            {
                "item_id": item_id,
                "value": item.get("value"),
                "probabilities": _pairs(item.get("probabilities")),
                "rationale": item.get("rationale"),
                "evidence": [_evidence(piece) for piece in item.get("evidence", [])] or None,
                "raw_output": item.get("raw_output"),
                "error": item.get("error"),
            }
            for item_id, item in record.get("items", {}).items()
        ],
        "dimensions": _pairs(record.get("dimensions")),
        "total": record.get("total"),
        "rationales": _pairs(record.get("rationales")),
        "evidence": [
            {"key": key, **_evidence(piece)}
            for key, pieces in record.get("evidence", {}).items()
            for piece in pieces
        ],
        "meta": json.dumps(record.get("meta", {}), ensure_ascii=False),
        "extra": json.dumps(extra, ensure_ascii=False) if extra else None,
    }


def record_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """The result record of a Parquet row: exactly what the JSON Lines file holds."""
    items: dict[str, Any] = {}
    for item in row.get("items") or []:
        entry: dict[str, Any] = {"value": item.get("value")}
        if item.get("probabilities") is not None:
            entry["probabilities"] = _as_dict(item["probabilities"])
        if item.get("rationale") is not None:
            entry["rationale"] = item["rationale"]
        if item.get("evidence"):
            entry["evidence"] = [_evidence(piece) for piece in item["evidence"]]
        if item.get("raw_output") is not None:
            entry["raw_output"] = item["raw_output"]
        if item.get("error") is not None:
            entry["error"] = item["error"]
        items[item["item_id"]] = entry
    evidence: dict[str, list[dict[str, Any]]] = {}
    for piece in row.get("evidence") or []:
        evidence.setdefault(piece["key"], []).append(_evidence(piece))
    record: dict[str, Any] = {
        "schema_version": row.get("schema_version") or 1,
        "session_id": row["session_id"],
        "instrument": row["instrument"],
        "model": row["model"],
        "model_version": row["model_version"],
        "language": row.get("language"),
        "items": items,
        "dimensions": _as_dict(row.get("dimensions")),
        "total": row.get("total"),
        "rationales": _as_dict(row.get("rationales")),
        "evidence": evidence,
        "meta": json.loads(row["meta"]) if row.get("meta") else {},
    }
    if row.get("extra"):
        record.update(json.loads(row["extra"]))
    return record


# ------------------------------------------------------------------------------- reading
def parquet_files(path: str | Path) -> list[Path]:
    """The part files of a Parquet results folder (in order), or ``[path]`` for one file."""
    target = Path(path)
    if target.is_dir():
        return sorted(p for p in target.iterdir() if PART_NAME.match(p.name))
    return [target]


def is_parquet_results(path: str | Path) -> bool:
    """Whether ``path`` is Parquet results: a Parquet file, or a folder of part files."""
    target = Path(path)
    if target.is_dir():
        return bool(parquet_files(target))
    try:
        with open(target, "rb") as handle:
            return handle.read(4) == b"PAR1"
    except OSError:
        return False


def iter_result_rows(
    path: str | Path, columns: list[str] | None = None
) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """``(file, row number, row)`` for every row of Parquet results, a row group at a time."""
    _, pq = _arrow()
    for part in parquet_files(path):
        try:
            parquet = pq.ParquetFile(str(part))
        except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ...
            raise DataError(
                f"not a readable Parquet file ({type(error).__name__})",
                file=str(part),
                fix="give results written by `care assess --out results.parquet`",
            ) from None
        number = 0
        for batch in parquet.iter_batches(columns=columns):
            for row in batch.to_pylist():
                number += 1
                yield str(part), number, row


def iter_parquet_results(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every result record of Parquet results (a folder of parts or one file)."""
    for file, number, row in iter_result_rows(path):
        missing = [key for key in ("session_id", "instrument", "model", "items") if key not in row]
        if missing:
            raise DataError(
                f"no column {missing[0]!r}: this Parquet file holds no care results",
                file=file,
                record=f"row {number}",
                fix="give results written by `care assess --out results.parquet`",
            )
        yield record_from_row(row)


# ------------------------------------------------------------------------------- writing
class ParquetResults:
    """A Parquet results folder opened for one run (the same interface as
    :class:`~care.output.ResultsFile`: :meth:`is_finished`, :meth:`write`, :meth:`close`).

    Args:
        path: The folder (made if missing), e.g. ``results.parquet``.
        overwrite: Start afresh (the old folder is replaced when the run ends).
        inputs: The run's inputs: the output may not be one of them.
        field: The option that named the output, for messages.
        rows_per_part: Results per part file.
        seconds_per_part: Most seconds a result waits before its part is written.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        overwrite: bool = False,
        inputs: Iterable[str | Path] = (),
        field: str = "--out",
        rows_per_part: int = ROWS_PER_PART,
        seconds_per_part: float = SECONDS_PER_PART,
    ) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.inputs = list(inputs)
        self.field = field
        self.rows_per_part = rows_per_part
        self.seconds_per_part = seconds_per_part
        self._finished = FinishedResults(self.path, field, "these results", "output")
        self._rows: list[dict[str, Any]] = []
        self._oldest: float | None = None
        self._next_part = 0
        self._folder = self.path  # where parts go (a hidden folder when overwriting)
        self._lock: Any = None
        self.written = 0

    def __enter__(self) -> ParquetResults:
        self.open()
        return self

    def __exit__(self, kind: object, error: object, traceback: object) -> None:
        self.close(failed=kind is not None)

    # -- opening ----------------------------------------------------------------------------

    def open(self) -> ParquetResults:
        """Check the target, take the lock and read which results are finished."""
        _arrow()
        self._check_target()
        make_folder(self.path, field=self.field)
        self._take_lock()
        try:
            self._clean_temporaries()
            if self.overwrite:
                self._folder = Path(
                    tempfile.mkdtemp(dir=self.path.parent, prefix=f".{self.path.name}.new.")
                )
            else:
                self._read_existing()
        except BaseException:
            self._release_lock()
            raise
        return self

    def _check_target(self) -> None:
        for given in self.inputs:
            with contextlib.suppress(OSError):
                if self.path.exists() and self.path.samefile(given):
                    raise OutputError(
                        "the output is one of the inputs; writing to it would destroy them",
                        file=str(self.path),
                        field=self.field,
                        fix="give another name for the output",
                    )
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(
                "Parquet results are written as a folder of part files, and this is a file",
                file=str(self.path),
                field=self.field,
                fix="give a name that does not exist yet (e.g. results.parquet), or remove "
                "the file",
            )
        if self.path.is_dir():
            strangers = [
                entry.name
                for entry in self.path.iterdir()
                if not PART_NAME.match(entry.name)
                and entry.name != LOCK_NAME
                and not entry.name.startswith(".part-")
            ]
            if strangers:
                raise OutputError(
                    f"the folder holds other files than care result parts (e.g. "
                    f"{strangers[0]!r}), so it was left untouched",
                    file=str(self.path),
                    field=self.field,
                    fix="give --out a new name (or a results folder of care assess)",
                )

    def _take_lock(self) -> None:
        self._lock = take_output_lock(
            self.path / LOCK_NAME, self.path, self.field, "the results folder", "folder"
        )

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def _clean_temporaries(self) -> None:
        """Remove parts a killed run left half-written (never renamed into place)."""
        for entry in self.path.iterdir():
            if entry.name.startswith(".part-") and entry.name.endswith(".tmp"):
                entry.unlink(missing_ok=True)

    def _read_existing(self) -> None:
        columns = ["session_id", "instrument", "model", "model_version"]
        for part in parquet_files(self.path):
            self._next_part = max(self._next_part, int(PART_NAME.match(part.name)[1]) + 1)  # type: ignore[index]
        for _, _, row in iter_result_rows(self.path, columns=columns):
            self._finished.add(str(row["session_id"]), ResultKey.of_record(row))

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
        """Add one result record; its part is written when full or old enough."""
        self._rows.append(row_from_record(record))
        self._finished.add(str(record["session_id"]), ResultKey.of_record(record))
        if self._oldest is None:
            self._oldest = time.monotonic()
        if (
            len(self._rows) >= self.rows_per_part
            or time.monotonic() - self._oldest >= self.seconds_per_part
        ):
            self.flush()

    def flush(self) -> None:
        """Write the results gathered so far as one part (temporary file, fsync, rename)."""
        if not self._rows:
            return
        pa, pq = _arrow()
        table = pa.Table.from_pylist(self._rows, schema=results_schema())
        name = f"part-{self._next_part:06d}.parquet"
        temporary = self._folder / f".{name}.tmp"
        try:
            with open(temporary, "wb") as handle:
                pq.write_table(table, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self._folder / name)
            fsync_folder(self._folder)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            if error.filename is None:
                error.filename = str(self._folder / name)
            raise os_error(error, field=self.field) from None
        self.written += len(self._rows)
        self._next_part += 1
        self._rows = []
        self._oldest = None

    def close(self, failed: bool = False) -> None:
        """Write what is gathered (results are kept even when the run failed); with
        ``overwrite``, swap the new parts in; release the lock."""
        try:
            self.flush()
            if self._folder != self.path:
                if failed and not self.written:
                    shutil.rmtree(self._folder, ignore_errors=True)
                else:
                    self._swap_in()
                self._folder = self.path
        finally:
            self._release_lock()

    def _swap_in(self) -> None:
        """Replace the old parts by the new ones (the old parts are removed only once the
        new ones are in the folder)."""
        old = parquet_files(self.path)
        try:
            for part in old:
                os.replace(part, self.path / f".part-old-{part.name}")
            for part in parquet_files(self._folder):
                os.replace(part, self.path / part.name)
            fsync_folder(self.path)
            for part in old:
                (self.path / f".part-old-{part.name}").unlink(missing_ok=True)
        except OSError as error:
            raise os_error(error, field=self.field) from None
        shutil.rmtree(self._folder, ignore_errors=True)
