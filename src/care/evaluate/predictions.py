"""Reading what ``care evaluate`` compares: systems from results files and run stores
(through :meth:`~care.results.Assessments.read`), fold files and reference rationales."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from care.errors import DataError
from care.instruments import Instrument
from care.results import Assessments, SessionAssessment
from care.results_io import existing_file, is_run_store, open_text


def read_predictions(
    path: str | Path, instrument: str | Instrument | None = None, *, option: str = "--pred"
) -> list[tuple[str, Assessments]]:
    """Read a results file or a run store (:meth:`~care.results.Assessments.read`):
    ``[(system name, assessments), ...]``.

    A results file gives one system, named by the model recorded in it (the file name when
    it holds several models); a run store gives one system per (model, prompt version) in
    it: named by the model, with the prompt version added where a model has several.
    """
    assessments = Assessments.read(path, instrument=instrument, option=option)
    if not is_run_store(path):
        models = Counter(a.model for a in assessments)
        name = next(iter(models)) if len(models) == 1 else Path(path).name
        return [(name, assessments)]
    groups: dict[tuple[str, str], list[SessionAssessment]] = {}
    for assessment in assessments:
        groups.setdefault((assessment.model, assessment.model_version), []).append(assessment)
    versions = Counter(model for model, _ in groups)
    return [
        (model if versions[model] == 1 else f"{model} ({version})", Assessments(items))
        for (model, version), items in groups.items()
    ]


def read_folds(path: str | Path) -> dict[str, int]:
    """Read a session-to-fold assignment.

    Formats: CSV with a header naming ``session_id`` and ``fold`` columns; JSON, either an
    object ``{"session id": fold, ...}`` or a list of ``{"session_id": ..., "fold": ...}``.
    Folds are integers.

    Raises:
        DataError: Naming the file and row of a problem.
    """
    path = existing_file(path, "folds file", "--folds")
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
    path = existing_file(path, "reference rationales file", "--reference-rationales")
    file = str(path)
    references: dict[str, dict[str, str]] = {}
    with open_text(path) as handle:
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
