"""Reading assessment results back: one reader for results files and run stores.

:meth:`care.results.Assessments.read` delegates here. A source is a results file (JSON
Lines as written by ``care assess --out``, gzipped or not), Parquet results (the folder of
parts of ``care assess --out results.parquet``, or one Parquet file of that schema, see
:mod:`care.output.parquet_results`), a run store (the SQLite file of ``care assess
--store``), or an open :class:`~care.store.RunStore`. Every record is
checked the same way whatever its source (a known instrument, one instrument throughout,
item values on their scales), and comes back whole: values, probabilities, rationales,
evidence, raw outputs, errors and meta, as they were written.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from care.errors import CareError, DataError, ParameterError
from care.instruments import Instrument, get_instrument
from care.records import SessionAssessment

__all__ = ["SQLITE_MAGIC", "existing_file", "is_run_store", "open_text", "read_assessments"]

SQLITE_MAGIC = b"SQLite format 3\x00"


def is_run_store(path: str | Path) -> bool:
    """Whether ``path`` is a SQLite file (a run store) rather than a results file."""
    try:
        with open(path, "rb") as handle:
            return handle.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def open_text(path: Path) -> io.TextIOBase:
    """A UTF-8 text file, gunzipped on the fly when it is gzipped."""
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")  # type: ignore[return-value]
    return open(path, encoding="utf-8")  # type: ignore[return-value]


def existing_file(path: str | Path, what: str, option: str | None) -> Path:
    """``path`` as a Path, after checking that it is an existing file.

    Raises:
        ParameterError: Naming ``what`` (e.g. "results file") and the option it came from.
    """
    path = Path(path)
    if path.is_dir():
        raise ParameterError(
            f"the {what} {str(path)!r} is a folder, not a file",
            file=str(path),
            field=option,
            fix="pass the results file written by `care assess --out FILE`",
        )
    if not path.exists():
        raise ParameterError(
            f"no such {what}: {str(path)!r} does not exist",
            file=str(path),
            field=option,
            fix="check the path",
        )
    return path


def read_assessments(
    source: str | Path | Any,
    *,
    instrument: str | Instrument | None = None,
    model: str | None = None,
    option: str | None = None,
) -> list[SessionAssessment]:
    """Read and check the assessments of a results file or a run store.

    Args:
        source: A results file (JSON Lines, may be gzipped), Parquet results (a folder of
            parts or one file), a run store file, or an open :class:`~care.store.RunStore`.
        instrument: The instrument every record must be on; None takes the first
            record's.
        model: Only the records of this model (a run store may hold several).
        option: The command-line option the source came from (for messages).

    Returns:
        The assessments, in file order (a run store: oldest first), evidence included.

    Raises:
        ParameterError: If the path does not exist or is a folder.
        DataError: Naming the file, record and field of the first problem: a line that is
            not JSON, a missing field, an unknown instrument or item, a value off its
            scale, a session listed twice in a results file, records on another
            instrument, a source with no records (of ``model``), a SQLite file that is
            not a run store.
    """
    expected = None
    if instrument is not None:
        expected = instrument if isinstance(instrument, Instrument) else get_instrument(instrument)
    if not isinstance(source, str | Path):
        return _read_store(source, str(getattr(source, "path", "run store")), expected, model)
    from care.output.parquet_results import is_parquet_results

    if is_parquet_results(source):
        return _read_parquet(Path(source), expected, model)
    path = existing_file(source, "results file", option)
    if is_run_store(path):
        return _read_store_file(path, expected, model)
    return _read_jsonl(path, expected, model)


# -------------------------------------------------------------------- results files


def _lines(handle: Iterable[str]) -> Iterator[tuple[str, str]]:
    for number, line in enumerate(handle, start=1):
        if line.strip():
            yield f"line {number}", line


def _parquet_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    from care.output.parquet_results import iter_parquet_results

    for number, record in enumerate(iter_parquet_results(path), start=1):
        yield f"row {number}", record


def _read_parquet(
    path: Path, expected: Instrument | None, model: str | None
) -> list[SessionAssessment]:
    return _read_records(_parquet_rows(path), str(path), expected, model)


def _read_jsonl(
    path: Path, expected: Instrument | None, model: str | None
) -> list[SessionAssessment]:
    file = str(path)
    try:
        with open_text(path) as handle:
            return _read_records(_lines(handle), file, expected, model)
    except UnicodeDecodeError:
        raise DataError(
            "the file is not UTF-8 text",
            file=file,
            fix="pass a results file written by `care assess --out` (JSON Lines, UTF-8)",
        ) from None
    except (OSError, EOFError) as error:
        raise DataError(
            f"cannot read the file: {error}",
            file=file,
            fix="check that it is a complete, readable results file",
        ) from None


def _read_records(
    records: Iterable[tuple[str, str | dict[str, Any]]],
    file: str,
    expected: Instrument | None,
    model: str | None,
) -> list[SessionAssessment]:
    """The checked assessments of ``(label, line or record)`` pairs, one per session."""
    assessments: list[SessionAssessment] = []
    places: dict[str, str] = {}
    for label, record in records:
        assessment = _parse_record(record, file, label, expected)
        if expected is None:
            expected = get_instrument(assessment.instrument)
        if assessment.session_id in places:
            raise DataError(
                f"session {assessment.session_id!r} is listed a second time (first on "
                f"{places[assessment.session_id]})",
                file=file,
                record=label,
                field="session_id",
                fix="keep one record per session: results of different runs belong "
                "in different files",
            )
        places[assessment.session_id] = label
        assessments.append(assessment)
    if not assessments:
        raise DataError(
            "the results file holds no records",
            file=file,
            fix="pass a results file written by `care assess --out` with at least one session",
        )
    if model is not None:
        assessments = [a for a in assessments if a.model == model]
        if not assessments:
            raise DataError(
                f"the results file holds no record of model {model!r}",
                file=file,
                field="model",
                fix="check the model name, or leave it out",
            )
    return assessments


def _parse_record(
    line: str | dict[str, Any], file: str, label: str, expected: Instrument | None
) -> SessionAssessment:
    where = {"file": file, "record": label}
    try:
        record: Any = line if isinstance(line, dict) else json.loads(line)
    except json.JSONDecodeError as error:
        raise DataError(
            f"not valid JSON ({error.msg} at column {error.colno})",
            **where,
            fix="each line must be one JSON object, as written by `care assess --out`",
        ) from None
    if not isinstance(record, dict):
        raise DataError(
            f"a record must be a JSON object, got {type(record).__name__}",
            **where,
            fix="each line must be one JSON object, as written by `care assess --out`",
        )
    for key in ("session_id", "instrument"):
        if not isinstance(record.get(key), str) or not record[key]:
            raise DataError(
                f"missing or not a string: {record.get(key)!r}",
                **where,
                field=key,
                fix="write results with `care assess --out`, which records it",
            )
    session = {"record": f"{label} (session {record['session_id']!r})", "file": file}
    instrument = _instrument_of(record["instrument"], expected, session)
    items = record.get("items")
    if not isinstance(items, dict):
        raise DataError(
            f"'items' must map item ids to {{'value': ...}} objects, got {items!r}"[:200],
            **session,
            field="items",
            fix="write results with `care assess --out`",
        )
    for item_id, item in items.items():
        if not isinstance(item, dict) or "value" not in item:
            raise DataError(
                f"an item must be an object with a 'value', got {item!r}"[:200],
                **session,
                field=f"items.{item_id}",
                fix="write {'value': number} (or {'value': null, 'error': '...'})",
            )
        _check_value(instrument, item_id, item["value"], session)
    complete = {"model": Path(file).name, "model_version": "", **record}
    if not isinstance(complete.get("meta", {}), dict):
        raise DataError(
            "'meta' must be an object",
            **session,
            field="meta",
            fix="write results with `care assess --out`",
        )
    try:
        return SessionAssessment.from_record(complete)
    except (TypeError, KeyError, AttributeError) as error:
        raise DataError(
            f"malformed record ({type(error).__name__}: {error})",
            **session,
            fix="write results with `care assess --out`",
        ) from None


# ----------------------------------------------------------------------- run stores


def _read_store_file(
    path: Path, expected: Instrument | None, model: str | None
) -> list[SessionAssessment]:
    import sqlite3

    file = str(path)
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as probe:
            tables = {row[0] for row in probe.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as error:
        raise DataError(
            f"cannot read the SQLite file: {error}",
            file=file,
            fix="pass a care run store (--store of `care assess`) or a results file",
        ) from None
    if not {"sessions", "items"} <= tables:
        raise DataError(
            "the SQLite file is not a care run store (it has no sessions and items tables)",
            file=file,
            fix="pass a care run store (--store of `care assess`) or a results file",
        )
    from care.store import RunStore

    with RunStore(path) as store:
        return _read_store(store, file, expected, model)


def _read_store(
    store: Any, file: str, expected: Instrument | None, model: str | None
) -> list[SessionAssessment]:
    stored = list(store.assessments(model=model))
    if not stored:
        raise DataError(
            "the run store holds no finished session" + (f" of model {model!r}" if model else ""),
            file=file,
            fix="finish the run first (re-running `care assess` with the same store resumes "
            "it)" + (", or check the model name" if model else ""),
        )
    for position, assessment in enumerate(stored):
        session = {
            "file": file,
            "record": f"stored session {position + 1} (session {assessment.session_id!r})",
        }
        instrument = _instrument_of(assessment.instrument, expected, session)
        expected = expected or instrument
        for item_id, rating in assessment.items.items():
            _check_value(instrument, item_id, rating.value, session)
    return stored


# ------------------------------------------------------------------------- checks


def _instrument_of(name: str, expected: Instrument | None, where: Mapping[str, str]) -> Instrument:
    """The record's instrument: a known one, and ``expected`` where that is given."""
    try:
        instrument = get_instrument(name)
    except CareError:
        raise DataError(
            f"unknown instrument {name!r}",
            **where,
            field="instrument",
            fix="use a built-in instrument id (see `care instruments`)",
        ) from None
    if expected is not None and instrument.id != expected.id:
        raise DataError(
            f"the prediction is on instrument '{instrument.id}', not '{expected.id}'",
            **where,
            field="instrument",
            fix=f"evaluate one instrument at a time: pass only results on '{expected.id}' "
            "(or choose another with --instrument)",
        )
    return instrument


def _check_value(
    instrument: Instrument, item_id: str, value: object, where: Mapping[str, str]
) -> None:
    """A value is None (not rated) or a number on the item's scale, for an item of the
    instrument."""
    if value is None:
        return
    problem = instrument.check_value(item_id, value)
    if problem is not None:
        scale = instrument.scale_for(item_id) if item_id in instrument else instrument.scale
        raise DataError(
            problem,
            **where,
            field=f"items.{item_id}.value",
            fix=f"values must be numbers from {scale.min} to {scale.max} on item ids of "
            f"'{instrument.id}' ({', '.join(instrument.item_ids[:3])}, ...)",
        )
