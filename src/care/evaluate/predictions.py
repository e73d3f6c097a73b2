"""Reading what ``care evaluate`` compares: results files, run stores, fold files and
reference rationales."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from care.errors import CareError, DataError, ParameterError
from care.instruments import Instrument, get_instrument
from care.results import Assessments, SessionAssessment


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")  # type: ignore[return-value]
    return open(path, encoding="utf-8")  # type: ignore[return-value]


def _check_file(path: str | Path, what: str, option: str) -> Path:
    path = Path(path)
    if path.is_dir():
        raise ParameterError(
            f"{what} {str(path)!r} is a folder, not a file",
            file=str(path),
            field=option,
            fix="pass the results file written by `care assess --out FILE`",
        )
    if not path.exists():
        raise ParameterError(
            f"{what} {str(path)!r} does not exist",
            file=str(path),
            field=option,
            fix="check the path",
        )
    return path


def read_results(
    path: str | Path, instrument: str | Instrument | None = None, *, option: str = "--pred"
) -> tuple[Assessments, dict[str, int]]:
    """Read and check a results file (JSON Lines, as written by ``care assess --out``).

    Every record needs ``session_id``, ``instrument`` and ``items`` (item id to an object
    whose ``value`` is a number on the item's scale or null); ``model`` and
    ``model_version`` default to the file name and ``""``. The file may be gzipped.

    Args:
        path: The results file.
        instrument: The instrument every record must be on; None takes the first
            record's.
        option: The command-line option the file came from (for messages).

    Returns:
        The assessments and, for messages, the line number of every session id.

    Raises:
        DataError: Naming the file, line and field of the first problem: a line that is
            not JSON, a missing field, an unknown instrument or item, a value off its
            scale, a session listed twice, records on another instrument, an empty file.
    """
    path = _check_file(path, "the results file", option)
    file = str(path)
    expected = None
    if instrument is not None:
        expected = instrument if isinstance(instrument, Instrument) else get_instrument(instrument)
    assessments: list[SessionAssessment] = []
    lines: dict[str, int] = {}
    try:
        handle = _open_text(path)
        with handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                assessment = _parse_result(line, file, f"line {number}", expected)
                if expected is None:
                    expected = get_instrument(assessment.instrument)
                if assessment.session_id in lines:
                    raise DataError(
                        f"session {assessment.session_id!r} is listed a second time (first on "
                        f"line {lines[assessment.session_id]})",
                        file=file,
                        record=f"line {number}",
                        field="session_id",
                        fix="keep one record per session: results of different runs belong "
                        "in different files",
                    )
                lines[assessment.session_id] = number
                assessments.append(assessment)
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
    if not assessments:
        raise DataError(
            "the results file holds no records",
            file=file,
            fix="pass a results file written by `care assess --out` with at least one session",
        )
    return Assessments(assessments), lines


SQLITE_MAGIC = b"SQLite format 3\x00"


def is_run_store(path: str | Path) -> bool:
    """Whether ``path`` is a SQLite file (a run store) rather than a results file."""
    try:
        with open(path, "rb") as handle:
            return handle.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def read_run_store(
    path: str | Path, instrument: str | Instrument | None = None, *, option: str = "--pred"
) -> list[tuple[str, Assessments]]:
    """Read every finished run in a run store (:mod:`care.store`), checked like a results
    file.

    Returns:
        One ``(name, assessments)`` per (model, prompt version) in the store: named by the
        model, with the prompt version added where a model has several.

    Raises:
        DataError: If the file is not a run store, holds no finished session, or a record
            is invalid or on another instrument.
    """
    import sqlite3

    path = _check_file(path, "the run store", option)
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

    expected = None
    if instrument is not None:
        expected = instrument if isinstance(instrument, Instrument) else get_instrument(instrument)
    with RunStore(path) as store:
        stored = list(store.assessments())
    if not stored:
        raise DataError(
            "the run store holds no finished session",
            file=file,
            fix="finish the run first (re-running `care assess` with the same store resumes it)",
        )
    groups: dict[tuple[str, str], list[SessionAssessment]] = {}
    for position, assessment in enumerate(stored):
        checked = _parse_result(
            _store_record(assessment), file, f"stored session {position + 1}", expected
        )
        expected = expected or get_instrument(checked.instrument)
        groups.setdefault((checked.model, checked.model_version), []).append(checked)
    versions = Counter(model for model, _ in groups)
    return [
        (model if versions[model] == 1 else f"{model} ({version})", Assessments(items))
        for (model, version), items in groups.items()
    ]


def _store_record(assessment: SessionAssessment) -> dict[str, Any]:
    record = {
        "session_id": assessment.session_id,
        "instrument": assessment.instrument,
        "model": assessment.model,
        "model_version": assessment.model_version,
        "language": assessment.language,
        "items": {
            key: {
                "value": rating.value,
                **({"rationale": rating.rationale} if rating.rationale else {}),
            }
            for key, rating in assessment.items.items()
        },
        "rationales": assessment.rationales,
        "meta": assessment.meta,
    }
    return record


def read_predictions(
    path: str | Path, instrument: str | Instrument | None = None, *, option: str = "--pred"
) -> list[tuple[str, Assessments]]:
    """Read a results file or a run store: ``[(system name, assessments), ...]``.

    A results file gives one system, named by the model recorded in it (the file name when
    it holds several models); a run store gives one system per run in it.
    """
    if is_run_store(path):
        return read_run_store(path, instrument, option=option)
    assessments, _ = read_results(path, instrument, option=option)
    models = Counter(a.model for a in assessments)
    name = next(iter(models)) if len(models) == 1 else Path(path).name
    return [(name, assessments)]


def _parse_result(
    line: str | dict[str, Any], file: str, label: str, expected: Instrument | None
) -> SessionAssessment:
    where = {"file": file, "record": label}
    if isinstance(line, dict):
        record: Any = line
    else:
        try:
            record = json.loads(line)
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
    try:
        instrument = get_instrument(record["instrument"])
    except CareError:
        raise DataError(
            f"unknown instrument {record['instrument']!r}",
            **session,
            field="instrument",
            fix="use a built-in instrument id (see `care instruments`)",
        ) from None
    if expected is not None and instrument.id != expected.id:
        raise DataError(
            f"the prediction is on instrument '{instrument.id}', not '{expected.id}'",
            **session,
            field="instrument",
            fix=f"evaluate one instrument at a time: pass only results on '{expected.id}' "
            "(or choose another with --instrument)",
        )
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
        value = item["value"]
        if value is None:
            continue
        problem = instrument.check_value(item_id, value)
        if problem is not None:
            scale = instrument.scale_for(item_id) if item_id in instrument else instrument.scale
            raise DataError(
                problem,
                **session,
                field=f"items.{item_id}.value",
                fix=f"values must be numbers from {scale.min} to {scale.max} on item ids of "
                f"'{instrument.id}' ({', '.join(instrument.item_ids[:3])}, ...)",
            )
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


def read_folds(path: str | Path) -> dict[str, int]:
    """Read a session-to-fold assignment.

    Formats: CSV with a header naming ``session_id`` and ``fold`` columns; JSON, either an
    object ``{"session id": fold, ...}`` or a list of ``{"session_id": ..., "fold": ...}``.
    Folds are integers.

    Raises:
        DataError: Naming the file and row of a problem.
    """
    path = _check_file(path, "the folds file", "--folds")
    file = str(path)
    text = path.read_text(encoding="utf-8-sig")
    pairs: list[tuple[str, Any, str]] = []
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(
                f"not valid JSON ({error.msg}, line {error.lineno})",
                file=file,
                fix='write {"session id": fold, ...} or a CSV with session_id,fold columns',
            ) from None
        if isinstance(data, dict):
            pairs = [(str(k), v, f"key {k!r}") for k, v in data.items()]
        elif isinstance(data, list):
            for position, entry in enumerate(data):
                if not isinstance(entry, dict) or "session_id" not in entry or "fold" not in entry:
                    raise DataError(
                        "an entry must be an object with 'session_id' and 'fold'",
                        file=file,
                        record=f"entry {position}",
                        fix='write [{"session_id": "s1", "fold": 0}, ...]',
                    )
                pairs.append((str(entry["session_id"]), entry["fold"], f"entry {position}"))
        else:
            raise DataError(
                "the JSON must be an object or a list",
                file=file,
                fix='write {"session id": fold, ...}',
            )
    else:
        reader = csv.DictReader(io.StringIO(text))
        columns = [c.strip() for c in reader.fieldnames or []]
        if "session_id" not in columns or "fold" not in columns:
            raise DataError(
                f"the CSV header must name 'session_id' and 'fold' columns, got {columns}",
                file=file,
                record="line 1",
                fix="add a header line: session_id,fold",
            )
        for number, row in enumerate(reader, start=2):
            row = {k.strip(): v for k, v in row.items() if k is not None}
            pairs.append((str(row["session_id"]).strip(), row["fold"], f"line {number}"))
    folds: dict[str, int] = {}
    for session_id, value, where in pairs:
        try:
            fold = int(str(value).strip())
            if str(value).strip() != str(fold) and float(value) != fold:
                raise ValueError
        except (TypeError, ValueError):
            raise DataError(
                f"the fold of session {session_id!r} must be an integer, got {value!r}",
                file=file,
                record=where,
                field="fold",
                fix="number the folds 0, 1, 2, ...",
            ) from None
        folds[session_id] = fold
    if not folds:
        raise DataError(
            "the folds file assigns no session", file=file, fix="add session_id,fold rows"
        )
    return folds


def read_rationale_references(path: str | Path) -> dict[str, dict[str, str]]:
    """Read reference rationales: JSON Lines, one session a line.

    Each record has ``session_id`` and ``rationales`` (dimension or ``"total"`` to text),
    and may have per-item rationales as ``items.<id>.rationale``, so any results file
    serves as references too.

    Returns:
        Session id to rationale key (``"goal"``, ``"item:item4"``, ...) to text.
    """
    path = _check_file(path, "the reference rationales file", "--reference-rationales")
    file = str(path)
    references: dict[str, dict[str, str]] = {}
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(
                    f"not valid JSON ({error.msg})",
                    file=file,
                    record=f"line {number}",
                    fix='each line must be {"session_id": ..., "rationales": {"goal": "..."}}',
                ) from None
            if not isinstance(record, dict) or not isinstance(record.get("session_id"), str):
                raise DataError(
                    "a record must be an object with a string 'session_id'",
                    file=file,
                    record=f"line {number}",
                    field="session_id",
                    fix='each line must be {"session_id": ..., "rationales": {"goal": "..."}}',
                )
            texts = _rationale_texts(record)
            if texts:
                references[record["session_id"]] = texts
    return references


def _rationale_texts(record: Mapping[str, Any]) -> dict[str, str]:
    texts: dict[str, str] = {}
    rationales = record.get("rationales")
    if isinstance(rationales, Mapping):
        texts.update({str(k): v for k, v in rationales.items() if isinstance(v, str) and v})
    items = record.get("items")
    if isinstance(items, Mapping):
        for item_id, item in items.items():
            if isinstance(item, Mapping) and isinstance(item.get("rationale"), str):
                texts[f"item:{item_id}"] = item["rationale"]
    return texts


def assessment_rationales(assessment: SessionAssessment) -> dict[str, str]:
    texts = {key: text for key, text in assessment.rationales.items() if text}
    for item_id, rating in assessment.items.items():
        if rating.rationale:
            texts[f"item:{item_id}"] = rating.rationale
    return texts
