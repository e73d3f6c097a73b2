"""How good is an assessor, against whom, with what certainty: ``care evaluate``'s engine.

:func:`evaluate` compares one or more systems' predictions (results files written by
``care assess --out``; evaluation never re-queries a model) with the ratings the clients
gave, and puts reference rows beside them:

* ``baseline/mean-rating`` and ``baseline/length``: the two baselines of
  :mod:`care.assessors.baselines`, fitted and scored by K-fold cross-validation grouped by
  client on the evaluated gold sessions themselves (each fold's predictions come from a
  fit on the other folds), so they are honest out-of-sample rows. They use the systems'
  folds when those are known and cover every evaluated session, else their own
  client-grouped folds.
* ``human/counselor (...)`` and ``human/observer (...)``: where the gold sessions carry
  ratings by the counselor or an observer, their dimension scores and total are compared
  with the client's, matched by dimension name. Correlations are always reported; MSE and
  MAE only when both instruments use the same scale.

What is scored (the *targets*): every item of the instrument, every dimension score,
the total, and items with a scale of their own (KokoroChat's 0-100 ``overall``) beside
the dimensions. Dimension and total scores are derived from the item values by the
instrument's key (:meth:`~care.instruments.Instrument.dimension_scores`), for the
predictions and the client's ratings alike: a score is missing when one of its items is.

Metrics: Pearson r, Spearman rho, MSE and MAE for every target, and, per item, exact
accuracy, accuracy within 1 point and the MAE of predictions rounded half up and clipped to
the item's scale (:mod:`care.evaluate.metrics`). Each comes with a 95% percentile
bootstrap interval over resampled clients (or sessions). With folds (``--folds`` or
``meta["fold"]`` in the results), the per-fold values are summarised as mean ± SD.
:func:`~care.evaluate.metrics.paired_bootstrap` tests each system against every other
system and every baseline.

Every system is scored on the same sessions: those rated by their client on the
instrument and predicted by every system.

The process-only view (``cut_end=0.2``) scores predictions made on sessions cut before
their last 20% of turns (closing thanks carry much of the easy signal). The evaluator
cannot make such predictions itself: pass results produced on cut sessions (``care assess
--cut`` records ``meta["cut"] = 0.8``) as ``cut_predictions``. The baselines are refitted
on the cut gold sessions (:meth:`~care.data.Session.truncated` with ``1 - cut_end``).
Without cut predictions the view shows the baselines only, and says so.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from care.data.corpus import Corpus
from care.data.language import session_language
from care.data.session import Session
from care.errors import CareError, DataError, ParameterError
from care.evaluate.metrics import METRICS, fold_summary, paired_bootstrap, score_table
from care.evaluate.splits import fold_assignments
from care.instruments import Instrument, get_instrument
from care.results import Assessments, SessionAssessment

__all__ = [
    "HEADLINE_METRICS",
    "ITEM_METRICS",
    "METRIC_VARIANTS",
    "Evaluation",
    "EvaluationView",
    "SystemPredictions",
    "Target",
    "calibration_curve",
    "evaluate",
    "read_folds",
    "read_predictions",
    "read_rationale_references",
    "read_results",
    "read_run_store",
    "score_frame",
]

#: Metrics of every target.
HEADLINE_METRICS: tuple[str, ...] = ("pearson", "spearman", "mse", "mae")
#: Metrics of every item (the rounded ones use the item's scale).
ITEM_METRICS: tuple[str, ...] = (
    *HEADLINE_METRICS,
    "exact_accuracy",
    "within_one_accuracy",
    "rounded_mae",
)
#: Metrics where higher is better (for the verdict of paired tests).
HIGHER_IS_BETTER = frozenset({"pearson", "spearman", "exact_accuracy", "within_one_accuracy"})

#: The exact variant of every metric, as written into reports.
METRIC_VARIANTS: dict[str, str] = {
    "pearson": "Pearson product-moment correlation r between prediction and client rating",
    "spearman": "Spearman rank correlation rho: Pearson r of mid-ranks (ties averaged)",
    "mse": "mean squared error, on the target's own scale",
    "mae": "mean absolute error, on the target's own scale",
    "exact_accuracy": "share of sessions whose prediction, rounded half up (2.5 -> 3) and "
    "clipped to the item's scale, equals the client's rating",
    "within_one_accuracy": "share of sessions whose rounded, clipped prediction is at most 1 "
    "point from the client's rating",
    "rounded_mae": "mean absolute error of the rounded, clipped prediction",
}
METRIC_LABELS: dict[str, str] = {
    "pearson": "Pearson r",
    "spearman": "Spearman ρ",
    "mse": "MSE",
    "mae": "MAE",
    "exact_accuracy": "exact",
    "within_one_accuracy": "within ±1",
    "rounded_mae": "rounded MAE",
}

Kind = Literal["system", "baseline", "human"]
Unit = Literal["client", "session"]


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """One thing that is scored: an item, a dimension, or the total.

    Attributes:
        key: Column key in the score frames: ``"item:<id>"``, ``"dim:<name>"`` or
            ``"total"``.
        name: The item id, dimension name or ``"total"``.
        kind: ``"item"``, ``"dimension"`` or ``"total"``.
        scale: ``(min, max)`` of the target's scale.
        headline: Whether it is in the headline table (dimensions, the total, and items
            with a scale of their own such as KokoroChat's ``overall``).
    """

    key: str
    name: str
    kind: str
    scale: tuple[float, float]
    headline: bool


def instrument_targets(instrument: Instrument) -> list[Target]:
    """The targets of an instrument: headline targets first, then every item."""
    main = (float(instrument.scale.min), float(instrument.scale.max))
    targets = [
        Target(f"dim:{name}", name, "dimension", main, True) for name in instrument.dimensions
    ]
    targets.append(Target("total", "total", "total", main, True))
    scored = set(instrument.scored_item_ids)
    for item in instrument.items:
        scale = instrument.scale_for(item.id)
        targets.append(
            Target(
                f"item:{item.id}",
                item.id,
                "item",
                (float(scale.min), float(scale.max)),
                item.id not in scored,
            )
        )
    return targets


def score_frame(
    values: Mapping[str, Mapping[str, float | None]], instrument: Instrument
) -> pd.DataFrame:
    """Item values, dimension scores and total of every session, as target columns.

    Args:
        values: Session id to item id to value (missing, None or NaN for no value).
        instrument: Scores the dimensions and the total.

    Returns:
        A frame indexed by session id with the columns of :func:`instrument_targets`.
    """
    keys = [target.key for target in instrument_targets(instrument)]
    rows: dict[str, dict[str, float]] = {}
    for session_id, item_values in values.items():
        clean = {
            key: float(value)
            for key, value in item_values.items()
            if value is not None and not math.isnan(float(value)) and key in instrument
        }
        row = {f"item:{item_id}": clean.get(item_id, math.nan) for item_id in instrument.item_ids}
        for name, value in instrument.dimension_scores(clean).items():
            row[f"dim:{name}"] = value
        row["total"] = instrument.total_score(clean)
        rows[session_id] = row
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=keys, dtype=float)
    frame.index.name = "session_id"
    return frame


# ---------------------------------------------------------------------------- inputs


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


def _assessment_rationales(assessment: SessionAssessment) -> dict[str, str]:
    texts = {key: text for key, text in assessment.rationales.items() if text}
    for item_id, rating in assessment.items.items():
        if rating.rationale:
            texts[f"item:{item_id}"] = rating.rationale
    return texts


# --------------------------------------------------------------------------- systems


@dataclass
class SystemPredictions:
    """One row source of an evaluation: a system, a baseline, or a human rater.

    Attributes:
        name: Name shown in the tables, e.g. ``"care-lite-en"``, ``"baseline/length"``.
        kind: ``"system"`` (predictions read from a file), ``"baseline"`` (fitted by the
            evaluator) or ``"human"`` (another rater's ratings from the gold sessions).
        values: Scores per session: index session id, columns target keys.
        folds: The fold of each session, if known.
        source: Where the values come from (a file, "cross-validation on the gold
            sessions", ...).
        description: One line on what the row is.
        error_metrics: Whether MSE and MAE are meaningful (False for a human rater on
            another scale).
        assessments: The assessments read from the file (systems only).
    """

    name: str
    kind: Kind
    values: pd.DataFrame
    folds: pd.Series | None = None
    source: str = ""
    description: str = ""
    error_metrics: bool = True
    assessments: Assessments | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready description of the row."""
        return {
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "description": self.description,
            "n_sessions": len(self.values),
            "folds": None if self.folds is None else int(self.folds.nunique()),
            "error_metrics": self.error_metrics,
        }


def _system_from_assessments(
    name: str, assessments: Assessments, instrument: Instrument, source: str
) -> SystemPredictions:
    values = {a.session_id: a.item_values() for a in assessments}
    folds = [a.meta.get("fold") for a in assessments]
    fold_series = None
    if folds and all(isinstance(f, int) and not isinstance(f, bool) for f in folds):
        fold_series = pd.Series(folds, index=[a.session_id for a in assessments], dtype=int)
    models = sorted({a.model for a in assessments})
    return SystemPredictions(
        name=name,
        kind="system",
        values=score_frame(values, instrument),
        folds=fold_series,
        source=source,
        description=f"predictions of {', '.join(models)} read from {source}",
        assessments=assessments,
    )


def _groups_of(sessions: Sequence[Session]) -> list[str | None]:
    return [session.client_id for session in sessions]


def _baseline_folds(
    sessions: Sequence[Session],
    hint: pd.Series | None,
    n_splits: int,
    seed: int,
) -> tuple[np.ndarray | None, str]:
    """Folds for the baselines: the systems' folds if they cover every rated session,
    else client-grouped folds; None when there are fewer than 2 clients."""
    ids = [session.id for session in sessions]
    if hint is not None and set(ids) <= set(hint.index):
        values = hint.reindex(ids).to_numpy()
        codes = pd.factorize(values)[0]
        if codes.max() >= 1:
            return codes.astype(int), "the systems' folds"
    groups = [
        g if g is not None else f"session:{s.id}"
        for g, s in zip(_groups_of(sessions), sessions, strict=True)
    ]
    n_groups = len(set(groups))
    if n_groups < 2:
        return None, ""
    k = min(n_splits, n_groups)
    return (
        fold_assignments(groups, n_splits=k, seed=seed),
        f"{k}-fold cross-validation grouped by client",
    )


def cross_validated_baselines(
    sessions: Sequence[Session],
    instrument: Instrument,
    folds: np.ndarray,
    fold_source: str,
) -> list[SystemPredictions]:
    """Out-of-fold predictions of the mean-rating and length-only baselines.

    Args:
        sessions: Sessions rated by their client on ``instrument`` (cut already, for the
            process-only view).
        instrument: The instrument.
        folds: The test fold of every session.
        fold_source: How the folds were made (for the description).
    """
    from care.assessors.baselines import LengthAssessor, MeanRatingAssessor

    rows = []
    for cls, description in (
        (MeanRatingAssessor, "predicts every item's mean rating in the training folds"),
        (LengthAssessor, "ridge regression of every item on session-length features"),
    ):
        values: dict[str, dict[str, float]] = {}
        for fold in np.unique(folds):
            train = Corpus(s for s, f in zip(sessions, folds, strict=True) if f != fold)
            test = [s for s, f in zip(sessions, folds, strict=True) if f == fold]
            assessor = cls(instrument).fit(train, instrument, "client")
            for assessment in assessor.assess(test):
                values[assessment.session_id] = assessment.item_values()
        ordered = {s.id: values[s.id] for s in sessions}
        rows.append(
            SystemPredictions(
                name=cls.name,
                kind="baseline",
                values=score_frame(ordered, instrument),
                folds=pd.Series(folds, index=[s.id for s in sessions], dtype=int),
                source=f"out-of-fold predictions, {fold_source}, on the evaluated gold sessions",
                description=description,
            )
        )
    return rows


def human_raters(sessions: Sequence[Session], instrument: Instrument) -> list[SystemPredictions]:
    """Rows for the counselor's and observers' own ratings of the gold sessions.

    Their dimension scores and total (on their own instrument) are matched to the client's
    by dimension name. MSE/MAE are only meaningful when the scales are the same.
    """
    rows = []
    for rater in ("counselor", "observer"):
        by_instrument: dict[str, dict[str, dict[str, float]]] = {}
        for session in sessions:
            for rating_set in session.ratings:
                if rating_set.rater == rater:
                    by_instrument.setdefault(rating_set.instrument, {})[session.id] = dict(
                        rating_set.values
                    )
        for instrument_id, values in sorted(by_instrument.items()):
            try:
                theirs = get_instrument(instrument_id)
            except CareError:
                continue
            shared = [name for name in theirs.dimensions if name in instrument.dimensions]
            frame = score_frame(values, theirs)
            columns = {f"dim:{name}": frame[f"dim:{name}"] for name in shared}
            columns["total"] = frame["total"]
            same_scale = (theirs.scale.min, theirs.scale.max) == (
                instrument.scale.min,
                instrument.scale.max,
            )
            rows.append(
                SystemPredictions(
                    name=f"human/{rater} ({instrument_id})",
                    kind="human",
                    values=pd.DataFrame(columns, index=frame.index),
                    source="ratings in the gold sessions",
                    description=f"the {rater}'s own ratings on '{instrument_id}', "
                    f"dimensions matched by name ({', '.join(shared) or 'none'}) and total",
                    error_metrics=same_scale,
                )
            )
    return rows


# ------------------------------------------------------------------------ evaluation


@dataclass
class EvaluationView:
    """The scores of all rows on one set of sessions (the whole sessions, or cut ones).

    Attributes:
        name: ``"full"`` or ``"process"``.
        title: Heading for reports.
        description: What was scored and how.
        session_ids: The sessions scored.
        truth: The client's scores (target columns) on those sessions.
        groups: Client id of every scored session (None where unknown).
        systems: The rows (systems, then baselines, then human raters).
        scores: Long table: ``system, kind, target, target_kind, metric, value, ci_low,
            ci_high, n``.
        folds: ``{system: {target key: {"n_folds", metric: {"mean", "sd"}}}}``.
        paired: Paired bootstrap tests, one dict each.
        notes: Anything the reader must know.
        targets: The targets scored.
    """

    name: str
    title: str
    description: str
    session_ids: list[str]
    truth: pd.DataFrame
    groups: list[str | None]
    systems: list[SystemPredictions]
    scores: pd.DataFrame
    folds: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    paired: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    _index: dict[tuple[str, str, str], dict[str, Any]] | None = field(
        default=None, init=False, repr=False
    )
    _indexed_rows: int = field(default=-1, init=False, repr=False)

    @property
    def n_clients(self) -> int:
        """Distinct clients among the scored sessions (unknown clients count one each)."""
        return len(
            {
                g if g is not None else f"session:{s}"
                for g, s in zip(self.groups, self.session_ids, strict=True)
            }
        )

    def value(self, system: str, target: str, metric: str) -> dict[str, Any] | None:
        """One score row as a dict (``value``, ``ci_low``, ``ci_high``, ``n``, ...), or None
        if it was not computed. ``target`` is a target key such as ``"dim:goal"``."""
        if self._index is None or self._indexed_rows != len(self.scores):
            records = self.scores.to_dict("records") if not self.scores.empty else []
            self._index = {(r["system"], r["target_key"], r["metric"]): r for r in records}
            self._indexed_rows = len(self.scores)
        found = self._index.get((system, target, metric))
        return None if found is None else dict(found)

    def calibration(self) -> dict[str, dict[str, dict[str, list[float]]]]:
        """Calibration curves (:func:`calibration_curve`) of every system and baseline on
        the non-item targets and own-scale items: ``{system: {target key: {"mean_predicted",
        "mean_client", "n"}}}``."""
        out: dict[str, dict[str, dict[str, list[float]]]] = {}
        keys = [t.key for t in self.targets if t.headline]
        for system in self.systems:
            if system.kind == "human":
                continue
            pred = system.values.reindex(self.session_ids)
            entry = {}
            for key in keys:
                xs, ys, ns = calibration_curve(self.truth[key].to_numpy(), pred[key].to_numpy())
                entry[key] = {"mean_predicted": xs, "mean_client": ys, "n": ns}
            out[system.name] = entry
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready content (every figure)."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "n_sessions": len(self.session_ids),
            "n_clients": self.n_clients,
            "systems": [system.summary() for system in self.systems],
            "scores": [_clean_row(row) for row in self.scores.to_dict("records")],
            "folds": _json_ready(self.folds),
            "paired": _json_ready(self.paired),
            "calibration": _json_ready(self.calibration()),
            "notes": list(self.notes),
        }


def calibration_curve(
    truth: np.ndarray, predicted: np.ndarray, n_bins: int = 10, min_per_bin: int = 10
) -> tuple[list[float], list[float], list[int]]:
    """Mean prediction and mean client rating per quantile bin of the predictions.

    Pairs with a NaN are left out. The number of bins is at most ``n_bins`` and at most
    one per ``min_per_bin`` pairs (at least 1); equal bin edges are merged, so a constant
    prediction gives one point.

    Returns:
        ``(mean predicted, mean client rating, pairs)`` per bin, in order of prediction.
    """
    y = np.asarray(truth, dtype=float)
    p = np.asarray(predicted, dtype=float)
    keep = ~(np.isnan(y) | np.isnan(p))
    y, p = y[keep], p[keep]
    if not len(p):
        return [], [], []
    bins = max(1, min(n_bins, len(p) // max(min_per_bin, 1)))
    edges = np.unique(np.quantile(p, np.linspace(0, 1, bins + 1)))
    labels = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    xs, ys, ns = [], [], []
    for label in np.unique(labels):
        mask = labels == label
        xs.append(float(p[mask].mean()))
        ys.append(float(y[mask].mean()))
        ns.append(int(mask.sum()))
    return xs, ys, ns


def _clean_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _json_ready(value) for key, value in row.items()}


def _json_ready(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    return value


@dataclass
class Evaluation:
    """Everything :func:`evaluate` found; write it with :mod:`care.evaluate.html`,
    :meth:`to_markdown` or :meth:`to_dict`.

    Attributes:
        instrument: The instrument scored.
        targets: Its targets (headline first).
        views: ``"full"`` and, with ``cut_end``, ``"process"``.
        settings: Resampling, confidence, seed, bootstrap unit, folds, cut.
        gold: What the gold data were.
        rationales: Rationale metrics per system (None when no system has rationales).
        notes: Anything the reader must know.
    """

    instrument: Instrument
    targets: list[Target]
    views: dict[str, EvaluationView]
    settings: dict[str, Any]
    gold: dict[str, Any]
    rationales: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def headline_targets(self) -> list[Target]:
        """Dimensions, total and own-scale items."""
        return [target for target in self.targets if target.headline]

    @property
    def item_targets(self) -> list[Target]:
        """Every item."""
        return [target for target in self.targets if target.kind == "item"]

    def interval_text(self) -> str:
        """How the confidence intervals were computed, in words."""
        settings = self.settings
        if not settings["n_resamples"]:
            return "no confidence intervals (0 resamples)"
        unit = (
            "whole clients (cluster bootstrap; a session without a client id counts as its "
            "own client)"
            if settings["bootstrap_unit"] == "client"
            else "sessions"
        )
        return (
            f"{settings['confidence']:.0%} percentile bootstrap intervals over "
            f"{settings['n_resamples']} resamples of {unit}, seed {settings['seed']}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Every figure, as a JSON-ready mapping."""
        return {
            "schema": "care-evaluation/1",
            "instrument": {
                "id": self.instrument.id,
                "name": self.instrument.name,
                "scale": [self.instrument.scale.min, self.instrument.scale.max],
                "dimensions": list(self.instrument.dimensions),
            },
            "targets": [
                {
                    "key": t.key,
                    "name": t.name,
                    "kind": t.kind,
                    "scale": list(t.scale),
                    "headline": t.headline,
                }
                for t in self.targets
            ],
            "gold": _json_ready(self.gold),
            "settings": _json_ready(self.settings),
            "intervals": self.interval_text(),
            "metric_variants": METRIC_VARIANTS,
            "views": {name: view.to_dict() for name, view in self.views.items()},
            "rationales": _json_ready(self.rationales),
            "notes": list(self.notes),
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def headline_table(self, view: str = "full", metric: str = "pearson") -> pd.DataFrame:
        """One metric of every row on the headline targets: ``"value [low, high]"`` cells."""
        chosen = self.views[view]
        data: dict[str, dict[str, str]] = {}
        for system in chosen.systems:
            data[system.name] = {
                target.name: _cell(chosen.value(system.name, target.key, metric))
                for target in self.headline_targets
            }
        return pd.DataFrame.from_dict(data, orient="index")

    def to_markdown(self, full: bool = True) -> str:
        """The report as Markdown: headline tables, and with ``full`` every table."""
        return evaluation_markdown(self, full=full)


def _cell(row: Mapping[str, Any] | None, digits: int = 3) -> str:
    if row is None or row["value"] is None or _isnan(row["value"]):
        return "–"
    text = f"{row['value']:.{digits}f}"
    if not _isnan(row.get("ci_low")) and not _isnan(row.get("ci_high")):
        text += f" [{row['ci_low']:.{digits}f}, {row['ci_high']:.{digits}f}]"
    return text


def _isnan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _check_settings(
    n_resamples: Any, confidence: Any, cut_end: Any, n_splits: Any, unit: Any
) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 0:
        raise ParameterError(
            f"n_resamples must be a non-negative integer, got {n_resamples!r}",
            field="--resamples",
            fix="use 1000 (the usual), fewer for a quick look, or 0 for no intervals",
        )
    if not isinstance(confidence, int | float) or not 0 < confidence < 1:
        raise ParameterError(
            f"confidence must be between 0 and 1, got {confidence!r}",
            field="--confidence",
            fix="use e.g. 0.95",
        )
    if cut_end is not None and (not isinstance(cut_end, int | float) or not 0 < cut_end < 1):
        raise ParameterError(
            f"cut_end must be a fraction between 0 and 1, got {cut_end!r}",
            field="--cut-end",
            fix="use e.g. 0.2 to leave out the last 20% of every session's turns",
        )
    if isinstance(n_splits, bool) or not isinstance(n_splits, int) or n_splits < 2:
        raise ParameterError(
            f"the baselines' number of folds must be an integer of at least 2, got {n_splits!r}",
            field="--baseline-folds",
            fix="use 5 (the default) or 10",
        )
    if unit not in ("client", "session"):
        raise ParameterError(
            f"the bootstrap unit must be 'client' or 'session', got {unit!r}",
            field="--bootstrap-unit",
            fix="resample whole clients ('client', the default) unless sessions are independent",
        )


def evaluate(
    gold: Corpus | Sequence[Session],
    predictions: Mapping[str, Assessments],
    *,
    instrument: str | Instrument | None = None,
    cut_end: float | None = None,
    cut_predictions: Mapping[str, Assessments] | None = None,
    folds: Mapping[str, int] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    n_splits: int = 5,
    bootstrap_unit: Unit = "client",
    paired_metrics: Sequence[str] = ("pearson", "mse"),
    reference_rationales: Mapping[str, Mapping[str, str]] | None = None,
    bertscore_model: str | Path | None = None,
    sources: Mapping[str, str] | None = None,
    gold_source: str = "",
) -> Evaluation:
    """Compare systems' predictions with the clients' ratings, beside reference rows.

    Args:
        gold: Sessions with their client's ratings on the instrument (and, where there
            are any, the counselor's or an observer's).
        predictions: System name to its assessments (read with :func:`read_results`).
        instrument: The instrument to score; default: that of the predictions.
        cut_end: Also build the process-only view, with sessions cut before their last
            ``cut_end`` of turns (e.g. 0.2).
        cut_predictions: System name to assessments made on sessions cut that way.
        folds: Session id to fold, for every system (else each system's
            ``meta["fold"]``, where all its records have one).
        n_resamples: Bootstrap resamples per interval and paired test; 0 skips them.
        confidence: Coverage of the intervals.
        seed: Random seed of the resampling and of the baselines' folds.
        n_splits: Folds of the baselines' cross-validation when the systems' folds are
            unknown.
        bootstrap_unit: Resample whole ``"client"``s (the default) or ``"session"``s.
        paired_metrics: Metrics compared by the paired bootstrap tests.
        reference_rationales: Session id to rationale key to reference text, for BLEU,
            ROUGE and BERTScore of the systems' rationales.
        bertscore_model: Folder of a local model for BERTScore (optional).
        sources: System name to the file it was read from (for messages).
        gold_source: Where the gold sessions were read from (for messages).

    Returns:
        An :class:`Evaluation`.

    Raises:
        DataError: If the gold sessions carry no client ratings on the instrument, or a
            system shares no rated session with them.
        ParameterError: For invalid settings.
    """
    _check_settings(n_resamples, confidence, cut_end, n_splits, bootstrap_unit)
    for metric in paired_metrics:
        if metric not in METRICS:
            raise ParameterError(
                f"unknown metric {metric!r} for the paired tests",
                field="--paired-metric",
                fix=f"use one of {', '.join(METRICS)}",
            )
    sources = dict(sources or {})
    gold_sessions = list(gold)
    gold_file = gold_source or None
    resolved = _resolve_instrument(instrument, predictions, cut_predictions, sources)
    rated = [s for s in gold_sessions if s.rating(resolved.id, "client") is not None]
    if not rated:
        raters = sorted({(r.instrument, r.rater) for s in gold_sessions for r in s.ratings})
        found = ", ".join(f"{i} by the {r}" for i, r in raters) or "no ratings at all"
        raise DataError(
            f"no gold session carries client ratings on '{resolved.id}' (the instrument of the "
            f"predictions); the gold sessions have {found}",
            file=gold_file,
            field="ratings",
            fix="pass the rated sessions the predictions were made for as --gold, or results "
            "on the instrument the clients rated",
        )
    if not predictions and not cut_predictions:
        raise ParameterError(
            "no predictions to evaluate",
            field="--pred",
            fix="pass at least one results file with --pred (written by `care assess --out`)",
        )
    if cut_predictions and cut_end is None:
        cut_end = _cut_from_meta(cut_predictions, sources)
    notes: list[str] = []
    settings = {
        "n_resamples": n_resamples,
        "confidence": confidence,
        "seed": seed,
        "bootstrap_unit": bootstrap_unit,
        "baseline_folds": n_splits,
        "cut_end": cut_end,
        "paired_metrics": list(paired_metrics),
        "folds_from": "file" if folds is not None else "results meta['fold'] where present",
    }
    targets = instrument_targets(resolved)
    truth_all = score_frame({s.id: s.rating(resolved.id, "client").values for s in rated}, resolved)  # type: ignore[union-attr]

    systems = [
        _system_from_assessments(name, a, resolved, sources.get(name, name))
        for name, a in predictions.items()
    ]
    _apply_folds(systems, folds, notes)
    for system, assessments in zip(systems, predictions.values(), strict=True):
        cuts = {a.meta.get("cut") for a in assessments if "cut" in a.meta}
        cuts.discard(None)
        if cuts:
            notes.append(
                f"{system.name}: its predictions were made on sessions cut to their first "
                f"{', '.join(f'{c:.0%}' for c in sorted(cuts))} of turns, and are scored here "
                "against ratings of the whole session"
            )
    eval_ids = _evaluation_sessions(rated, systems, sources, gold_file)
    if not systems:
        notes.append(
            "no whole-session predictions were given (--pred): the whole-session view shows "
            "the reference rows only"
        )
    common = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    views: dict[str, EvaluationView] = {}

    hint = next((s.folds for s in systems if s.folds is not None), None)
    if folds is not None:
        hint = pd.Series(dict(folds), dtype=int)
    by_id = {s.id: s for s in rated}
    evaluated = [by_id[i] for i in eval_ids]
    baseline_folds, fold_source = _baseline_folds(evaluated, hint, n_splits, seed)
    full_rows = list(systems)
    if baseline_folds is not None:
        full_rows += cross_validated_baselines(evaluated, resolved, baseline_folds, fold_source)
    else:
        notes.append("no baselines: cross-validating them needs sessions of at least 2 clients")
    full_rows += human_raters(evaluated, resolved)
    if eval_ids:
        views["full"] = _score_view(
            "full",
            "Whole sessions",
            "predictions on whole sessions against the client's post-session ratings",
            eval_ids,
            truth_all,
            [by_id[i].client_id for i in eval_ids],
            full_rows,
            targets,
            bootstrap_unit,
            paired_metrics,
            **common,
        )

    if cut_end is not None:
        views["process"] = _process_view(
            rated,
            resolved,
            truth_all,
            targets,
            cut_end,
            cut_predictions or {},
            folds,
            hint,
            n_splits,
            bootstrap_unit,
            paired_metrics,
            sources,
            gold_file,
            common,
        )

    rationales = _rationale_report(
        systems, {s.id: s for s in gold_sessions}, eval_ids, reference_rationales, bertscore_model
    )
    gold_info = {
        "source": gold_source,
        "n_sessions": len(gold_sessions),
        "n_rated": len(rated),
        "n_clients": len({s.client_id or f"session:{s.id}" for s in rated}),
        "instrument": resolved.id,
    }
    return Evaluation(resolved, targets, views, settings, gold_info, rationales, notes)


def _resolve_instrument(
    instrument: str | Instrument | None,
    predictions: Mapping[str, Assessments],
    cut_predictions: Mapping[str, Assessments] | None,
    sources: Mapping[str, str],
) -> Instrument:
    if isinstance(instrument, Instrument):
        wanted = instrument
    elif instrument is not None:
        wanted = get_instrument(instrument)
    else:
        first = next(
            (
                a
                for group in (predictions, cut_predictions or {})
                for ass in group.values()
                for a in ass
            ),
            None,
        )
        if first is None:
            raise ParameterError(
                "no predictions to evaluate",
                field="--pred",
                fix="pass at least one results file with --pred (written by `care assess --out`)",
            )
        wanted = get_instrument(first.instrument)
    for group in (predictions, cut_predictions or {}):
        for name, assessments in group.items():
            for position, assessment in enumerate(assessments):
                if assessment.instrument != wanted.id:
                    raise DataError(
                        f"the prediction is on instrument '{assessment.instrument}', not "
                        f"'{wanted.id}'",
                        file=sources.get(name, name),
                        record=f"record {position + 1} (session {assessment.session_id!r})",
                        field="instrument",
                        fix=f"evaluate one instrument at a time: pass only results on "
                        f"'{wanted.id}' (or choose another with --instrument)",
                    )
    return wanted


def _cut_from_meta(cut_predictions: Mapping[str, Assessments], sources: Mapping[str, str]) -> float:
    kept = {a.meta.get("cut") for ass in cut_predictions.values() for a in ass}
    if len(kept) == 1:
        value = next(iter(kept))
        if isinstance(value, int | float) and 0 < value < 1:
            return round(1.0 - float(value), 6)
    name = next(iter(cut_predictions))
    raise ParameterError(
        "the cut predictions do not say how their sessions were cut (meta.cut)",
        file=sources.get(name, name),
        field="--cut-end",
        fix="pass --cut-end (e.g. 0.2 for predictions made on the first 80% of turns)",
    )


def _apply_folds(
    systems: Sequence[SystemPredictions], folds: Mapping[str, int] | None, notes: list[str]
) -> None:
    if folds is None:
        return
    series = pd.Series(dict(folds), dtype=int)
    for system in systems:
        missing = [i for i in system.values.index if i not in series.index]
        if missing:
            notes.append(
                f"{system.name}: the folds file has no fold for {len(missing)} of its sessions "
                f"(e.g. {missing[0]!r}); per-fold summaries use the sessions it has"
            )
        system.folds = series.reindex(system.values.index).dropna().astype(int)


def _evaluation_sessions(
    rated: Sequence[Session],
    systems: Sequence[SystemPredictions],
    sources: Mapping[str, str],
    gold_file: str | None,
) -> list[str]:
    """The rated sessions every system predicted, in gold order."""
    rated_ids = [s.id for s in rated]
    keep = set(rated_ids)
    for system in systems:
        predicted = set(system.values.index)
        overlap = keep & predicted
        if not predicted & set(rated_ids):
            example_pred = next(iter(system.values.index), "?")
            raise DataError(
                f"none of the {len(predicted)} sessions predicted by {system.name} is among "
                f"the {len(rated_ids)} rated gold sessions (e.g. predicted {example_pred!r}, "
                f"gold {rated_ids[0]!r})",
                file=sources.get(system.name, system.name),
                field="session_id",
                fix="pass as --gold the sessions the predictions were made for (the same ids)",
            )
        if not overlap:
            raise DataError(
                "the prediction files share no rated session: every system must be scored on "
                "the same sessions",
                file=sources.get(system.name, system.name),
                field="session_id",
                fix="evaluate predictions made for the same sessions together",
            )
        keep = overlap
    return [i for i in rated_ids if i in keep]


def _process_view(
    rated: Sequence[Session],
    instrument: Instrument,
    truth_all: pd.DataFrame,
    targets: Sequence[Target],
    cut_end: float,
    cut_predictions: Mapping[str, Assessments],
    folds: Mapping[str, int] | None,
    hint: pd.Series | None,
    n_splits: int,
    unit: Unit,
    paired_metrics: Sequence[str],
    sources: Mapping[str, str],
    gold_file: str | None,
    common: Mapping[str, Any],
) -> EvaluationView:
    keep_fraction = 1.0 - cut_end
    notes = []
    for name, assessments in cut_predictions.items():
        for position, assessment in enumerate(assessments):
            if "cut" not in assessment.meta:
                continue
            value = assessment.meta["cut"]
            if value is None or not math.isclose(float(value), keep_fraction, abs_tol=1e-6):
                made = (
                    "whole sessions" if value is None else f"the first {float(value):.0%} of turns"
                )
                raise DataError(
                    f"the prediction was made on {made}, but --cut-end {cut_end:g} asks for "
                    f"predictions made on the first {keep_fraction:.0%}",
                    file=sources.get(name, name),
                    record=f"record {position + 1} (session {assessment.session_id!r})",
                    field="meta.cut",
                    fix=f"pass results of sessions cut to their first {keep_fraction:.0%} "
                    "(care assess --cut) as --pred-cut, or the matching --cut-end",
                )
        if not any("cut" in a.meta for a in assessments):
            notes.append(
                f"{name}: its records do not say how the sessions were cut (meta.cut); "
                f"taken to be the first {keep_fraction:.0%} of turns as asked"
            )
    systems = [
        _system_from_assessments(name, a, instrument, sources.get(name, name))
        for name, a in cut_predictions.items()
    ]
    _apply_folds(systems, folds, notes)
    eval_ids = (
        _evaluation_sessions(rated, systems, sources, gold_file)
        if systems
        else [s.id for s in rated]
    )
    if not systems:
        notes.append(
            "no predictions made on cut sessions were given (--pred-cut), so this view shows "
            "the baselines only; the evaluator cannot re-query a model to make them"
        )
    if folds is None:
        hint = next((s.folds for s in systems if s.folds is not None), hint)
    by_id = {s.id: s for s in rated}
    cut_sessions = [by_id[i].truncated(keep_fraction) for i in eval_ids]
    baseline_folds, fold_source = _baseline_folds(cut_sessions, hint, n_splits, int(common["seed"]))
    rows = list(systems)
    if baseline_folds is not None:
        rows += cross_validated_baselines(cut_sessions, instrument, baseline_folds, fold_source)
    view = _score_view(
        "process",
        f"Process only: sessions cut before their last {cut_end:.0%} of turns",
        f"every session cut to its first {keep_fraction:.0%} of turns (closing turns left "
        "out) against the client's rating of the whole session; the baselines are refitted "
        "on the cut sessions, system predictions come from results made on cut sessions",
        eval_ids,
        truth_all,
        [by_id[i].client_id for i in eval_ids],
        rows,
        targets,
        unit,
        paired_metrics,
        **common,
    )
    view.notes[:0] = notes
    return view


def _score_view(
    name: str,
    title: str,
    description: str,
    session_ids: list[str],
    truth_all: pd.DataFrame,
    groups: list[str | None],
    rows: Sequence[SystemPredictions],
    targets: Sequence[Target],
    unit: Unit,
    paired_metrics: Sequence[str],
    *,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> EvaluationView:
    truth = truth_all.loc[session_ids]
    group_series = pd.Series(groups, index=session_ids, dtype=object) if unit == "client" else None
    item_scales = {t.key: t.scale for t in targets if t.kind == "item"}
    item_keys = [t.key for t in targets if t.kind == "item"]
    score_keys = [t.key for t in targets if t.kind != "item"]
    by_key = {t.key: t for t in targets}
    frames = []
    notes: list[str] = []
    for system in rows:
        pred = system.values.reindex(session_ids)
        if system.kind == "human":
            present = pred.dropna(how="all")
            if present.empty:
                continue
            metrics = HEADLINE_METRICS if system.error_metrics else ("pearson", "spearman")
            columns = [k for k in score_keys if k in pred.columns]
            table = score_table(
                truth.loc[present.index],
                present,
                columns=columns,
                groups=group_series,
                metrics=metrics,
                n_resamples=n_resamples,
                seed=seed,
                confidence=confidence,
            )
            if not system.error_metrics:
                notes.append(
                    f"{system.name}: rated on another scale than the client, so only "
                    "correlations are reported"
                )
            notes.append(
                f"{system.name}: scored on the {len(present)} of {len(session_ids)} sessions "
                "that carry these ratings"
            )
            parts = [table]
        else:
            parts = []
            for keys, metrics, scale in (
                (score_keys, HEADLINE_METRICS, None),
                (item_keys, ITEM_METRICS, item_scales),
            ):
                parts.append(
                    score_table(
                        truth,
                        pred,
                        columns=keys,
                        groups=group_series,
                        metrics=metrics,
                        n_resamples=n_resamples,
                        seed=seed,
                        confidence=confidence,
                        scale=scale,
                    )
                )
        table = pd.concat(parts, ignore_index=True)
        table = table.rename(columns={"target": "target_key"})
        table.insert(0, "kind", system.kind)
        table.insert(0, "system", system.name)
        table.insert(3, "target", [by_key[k].name for k in table["target_key"]])
        table.insert(4, "target_kind", [by_key[k].kind for k in table["target_key"]])
        frames.append(table)
    scores = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    view = EvaluationView(
        name=name,
        title=title,
        description=description,
        session_ids=list(session_ids),
        truth=truth,
        groups=list(groups),
        systems=[r for r in rows if r.kind != "human" or r.name in set(scores.get("system", []))],
        scores=scores,
        notes=notes,
        targets=list(targets),
    )
    view.folds = _fold_summaries(view, targets)
    view.paired = _paired_tests(
        view, targets, paired_metrics, group_series, n_resamples, confidence, seed
    )
    if any(r.name == "baseline/mean-rating" for r in view.systems):
        view.notes.append(
            "baseline/mean-rating predicts the same value for every session of a fold; its "
            "correlations only reflect differences between the folds' training means (and "
            "are usually negative), so read its errors, not its correlations"
        )
    return view


def _metric_value(
    metric: str, y: np.ndarray, p: np.ndarray, scale: tuple[float, float] | None
) -> float:
    function = METRICS[metric]
    if metric in ("exact_accuracy", "within_one_accuracy", "rounded_mae"):
        return float(function(y, p, scale=scale))
    return float(function(y, p))


def _fold_summaries(view: EvaluationView, targets: Sequence[Target]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for system in view.systems:
        if system.folds is None or system.kind == "human":
            continue
        folds = system.folds.reindex(view.session_ids)
        labels = sorted(int(f) for f in folds.dropna().unique())
        if len(labels) < 2:
            continue
        pred = system.values.reindex(view.session_ids)
        entry: dict[str, Any] = {}
        for target in targets:
            metrics = ITEM_METRICS if target.kind == "item" else HEADLINE_METRICS
            per_fold = []
            for label in labels:
                mask = (folds == label).to_numpy()
                y = view.truth[target.key].to_numpy()[mask]
                p = pred[target.key].to_numpy()[mask]
                per_fold.append({m: _metric_value(m, y, p, target.scale) for m in metrics})
            summary = fold_summary(per_fold)
            entry[target.key] = {
                "n_folds": len(labels),
                **{m: {"mean": mean, "sd": sd} for m, (mean, sd) in summary.items()},
            }
        out[system.name] = entry
    return out


def _paired_tests(
    view: EvaluationView,
    targets: Sequence[Target],
    metrics: Sequence[str],
    groups: pd.Series | None,
    n_resamples: int,
    confidence: float,
    seed: int,
) -> list[dict[str, Any]]:
    if not n_resamples:
        return []
    systems = [s for s in view.systems if s.kind == "system"]
    baselines = [s for s in view.systems if s.kind == "baseline"]
    pairs = list(itertools.combinations(systems, 2)) + list(itertools.product(systems, baselines))
    results = []
    group_values = None if groups is None else groups.reindex(view.session_ids).to_numpy()
    for a, b in pairs:
        pa_frame = a.values.reindex(view.session_ids)
        pb_frame = b.values.reindex(view.session_ids)
        for target in targets:
            if not target.headline:
                continue
            y = view.truth[target.key].to_numpy()
            for metric in metrics:
                scale = target.scale if target.kind == "item" else None
                result = paired_bootstrap(
                    y,
                    pa_frame[target.key].to_numpy(),
                    pb_frame[target.key].to_numpy(),
                    metric,
                    groups=group_values,
                    n_resamples=n_resamples,
                    confidence=confidence,
                    seed=seed,
                    scale=scale,
                )
                results.append(
                    {
                        "a": a.name,
                        "b": b.name,
                        "target": target.name,
                        "target_key": target.key,
                        "metric": metric,
                        "delta": result.delta,
                        "ci_low": result.ci_low,
                        "ci_high": result.ci_high,
                        "p_value": result.p_value,
                        "verdict": _verdict(
                            a.name, b.name, metric, result.delta, result.p_value, confidence
                        ),
                    }
                )
    return results


def _verdict(a: str, b: str, metric: str, delta: float, p_value: float, confidence: float) -> str:
    if _isnan(delta) or _isnan(p_value):
        return "undefined"
    if p_value >= 1.0 - confidence:
        return "no significant difference"
    a_better = delta > 0 if metric in HIGHER_IS_BETTER else delta < 0
    return f"{a if a_better else b} better"


def _rationale_report(
    systems: Sequence[SystemPredictions],
    gold: Mapping[str, Session],
    eval_ids: Sequence[str],
    references: Mapping[str, Mapping[str, str]] | None,
    bertscore_model: str | Path | None,
) -> dict[str, Any] | None:
    from care.evaluate.rationales import BertScorer, score_rationales

    scorer = None
    report: dict[str, Any] = {}
    scored = set(eval_ids)
    for system in systems:
        if system.assessments is None:
            continue
        texts: list[str] = []
        transcripts: list[Session] = []
        pairs: dict[str, tuple[list[str], list[str]]] = {}
        for assessment in system.assessments:
            if assessment.session_id not in scored or assessment.session_id not in gold:
                continue
            session = gold[assessment.session_id]
            for key, text in _assessment_rationales(assessment).items():
                texts.append(text)
                transcripts.append(session)
                reference = (references or {}).get(assessment.session_id, {}).get(key)
                if reference:
                    language = session.language or session_language(session) or "en"
                    hyps, refs = pairs.setdefault(language, ([], []))
                    hyps.append(text)
                    refs.append(reference)
        if not texts:
            continue
        entry: dict[str, Any] = {"n_rationales": len(texts)}
        entry["quote_faithfulness"] = score_rationales(texts, transcripts=transcripts)[
            "quote_faithfulness"
        ]
        if references is not None:
            if bertscore_model is not None and scorer is None and pairs:
                scorer = BertScorer(bertscore_model)
            entry["against_references"] = {
                language: score_rationales(hyps, refs, language=language, bertscore_model=scorer)
                for language, (hyps, refs) in sorted(pairs.items())
            }
            if not pairs:
                entry["against_references"] = {}
                entry["note"] = "no reference rationale for any of this system's rationales"
        report[system.name] = entry
    return report or None


# -------------------------------------------------------------------------- markdown


def _fmt(value: Any, digits: int = 3) -> str:
    return "–" if _isnan(value) else f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    escaped = [[str(cell).replace("|", "\\|") for cell in row] for row in rows]
    return [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
        *("| " + " | ".join(row) + " |" for row in escaped),
    ]


def _system_label(system: SystemPredictions) -> str:
    return f"{system.name} †" if system.name == "baseline/mean-rating" else system.name


def headline_markdown(
    evaluation: Evaluation, view: str = "full", metric: str = "pearson"
) -> list[str]:
    """A Markdown table of one metric with its interval for every row and headline target."""
    chosen = evaluation.views[view]
    header = ["system", *(t.name for t in evaluation.headline_targets)]
    rows = [
        [
            _system_label(system),
            *(_cell(chosen.value(system.name, t.key, metric)) for t in evaluation.headline_targets),
        ]
        for system in chosen.systems
    ]
    return _table(header, rows)


def item_means(
    view: EvaluationView, targets: Sequence[Target], main_scale: tuple[float, float]
) -> dict[str, dict[str, float]]:
    """Per row, the mean over the items on the main scale of each item metric."""
    keys = [t.key for t in targets if t.kind == "item" and t.scale == main_scale]
    out: dict[str, dict[str, float]] = {}
    if view.scores.empty:
        return out
    for system in view.systems:
        if system.kind == "human":
            continue
        rows = view.scores[
            (view.scores["system"] == system.name) & view.scores["target_key"].isin(keys)
        ]
        out[system.name] = {
            metric: float(np.nanmean(group["value"].to_numpy(dtype=float)))
            if group["value"].notna().any()
            else math.nan
            for metric, group in rows.groupby("metric", sort=False)
        }
    return out


def evaluation_markdown(evaluation: Evaluation, full: bool = True) -> str:
    """The evaluation as Markdown.

    Args:
        evaluation: What :func:`evaluate` returned.
        full: Every table (per-target metrics, items, folds, paired tests, rationales,
            metric definitions); otherwise the headline tables and the notes only.
    """
    instrument = evaluation.instrument
    gold = evaluation.gold
    main = (float(instrument.scale.min), float(instrument.scale.max))
    lines = [
        f"# Evaluation on {instrument.name} (`{instrument.id}`)",
        "",
        f"Gold: {gold['n_rated']} sessions of {gold['n_clients']} clients rated by their client"
        + (f" ({gold['source']})" if gold.get("source") else "")
        + f". Intervals: {evaluation.interval_text()}.",
    ]
    for view in evaluation.views.values():
        lines += [
            "",
            f"## {view.title}",
            "",
            f"{view.description[:1].upper()}{view.description[1:]}: {len(view.session_ids)} "
            f"sessions of {view.n_clients} clients, the same for every system.",
            "",
            f"### Pearson r [{evaluation.settings['confidence']:.0%} CI] with the client's ratings",
            "",
            *headline_markdown(evaluation, view.name, "pearson"),
            "",
            "### MAE [CI] (on each score's own scale)",
            "",
            *headline_markdown(evaluation, view.name, "mae"),
        ]
        means = item_means(view, evaluation.targets, main)
        if means:
            n_items = sum(1 for t in evaluation.item_targets if t.scale == main)
            lines += [
                "",
                f"### Items: mean over the {n_items} items on the {main[0]:g}-{main[1]:g} scale "
                "(predictions rounded half up and clipped for exact, within ±1, rounded MAE)",
                "",
                *_table(
                    ["system", "exact", "within ±1", "rounded MAE", "MAE", "Pearson r"],
                    [
                        [
                            _system_label(next(s for s in view.systems if s.name == name)),
                            *(
                                _fmt(values.get(m))
                                for m in (
                                    "exact_accuracy",
                                    "within_one_accuracy",
                                    "rounded_mae",
                                    "mae",
                                    "pearson",
                                )
                            ),
                        ]
                        for name, values in means.items()
                    ],
                ),
            ]
        if full:
            lines += _full_view_markdown(evaluation, view)
        if view.notes:
            lines += ["", "Notes:", ""] + [f"- {note}" for note in view.notes]
    if full and evaluation.rationales:
        lines += _rationale_markdown(evaluation.rationales)
    if full:
        lines += ["", "## Metric definitions", ""]
        lines += [f"- **{METRIC_LABELS[k]}** (`{k}`): {v}." for k, v in METRIC_VARIANTS.items()]
        lines += [f"- **Intervals**: {evaluation.interval_text()}."]
    lines += (
        ["", "† see the note on the mean-rating baseline's correlations."]
        if any(
            s.name == "baseline/mean-rating" for v in evaluation.views.values() for s in v.systems
        )
        else []
    )
    if evaluation.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in evaluation.notes]
    return "\n".join(lines) + "\n"


def _full_view_markdown(evaluation: Evaluation, view: EvaluationView) -> list[str]:
    lines: list[str] = []
    for target in evaluation.headline_targets:
        lines += [
            "",
            f"### {target.name} ({target.kind}, scale {target.scale[0]:g}-{target.scale[1]:g})",
            "",
        ]
        header = ["system", *(METRIC_LABELS[m] for m in HEADLINE_METRICS)]
        has_folds = any(target.key in view.folds.get(s.name, {}) for s in view.systems)
        if has_folds:
            header += ["r over folds (mean ± SD)", "MSE over folds"]
        rows = []
        for system in view.systems:
            row = [_system_label(system)]
            row += [_cell(view.value(system.name, target.key, m)) for m in HEADLINE_METRICS]
            if has_folds:
                entry = view.folds.get(system.name, {}).get(target.key)
                row += [_mean_sd(entry, "pearson"), _mean_sd(entry, "mse")]
            rows.append(row)
        lines += _table(header, rows)
    shown = [s for s in view.systems if s.kind != "human"]
    if shown:
        lines += [
            "",
            "### Every item: exact / within ±1 / rounded MAE / Pearson r",
            "",
        ]
        rows = []
        for target in evaluation.item_targets:
            row = [target.name, f"{target.scale[0]:g}-{target.scale[1]:g}"]
            for system in shown:
                values = [
                    view.value(system.name, target.key, m)
                    for m in ("exact_accuracy", "within_one_accuracy", "rounded_mae", "pearson")
                ]
                row.append(" / ".join(_fmt(None if v is None else v["value"], 2) for v in values))
            rows.append(row)
        lines += _table(["item", "scale", *(s.name for s in shown)], rows)
    if view.paired:
        lines += ["", "### Paired bootstrap tests (A − B on the same resamples)", ""]
        rows = [
            [
                p["a"],
                p["b"],
                p["target"],
                METRIC_LABELS.get(p["metric"], p["metric"]),
                f"{_fmt(p['delta'])} [{_fmt(p['ci_low'])}, {_fmt(p['ci_high'])}]",
                _fmt(p["p_value"], 4),
                p["verdict"],
            ]
            for p in view.paired
        ]
        lines += _table(["A", "B", "score", "metric", "A − B [CI]", "p", "verdict"], rows)
    return lines


def _mean_sd(entry: Mapping[str, Any] | None, metric: str) -> str:
    if not entry or metric not in entry:
        return "–"
    values = entry[metric]
    return f"{_fmt(values['mean'])} ± {_fmt(values['sd'])} ({entry['n_folds']})"


def _rationale_markdown(rationales: Mapping[str, Any]) -> list[str]:
    lines = ["", "## Rationales", ""]
    rows = []
    variants: dict[str, str] = {}
    for system, entry in rationales.items():
        faith = entry.get("quote_faithfulness", {})
        variants["quote faithfulness"] = faith.get("variant", "")
        row = [
            system,
            str(entry.get("n_rationales", 0)),
            f"{_fmt(faith.get('share'))} ({faith.get('n_found', 0)}/{faith.get('n_quotes', 0)})",
        ]
        references = entry.get("against_references") or {}
        cells = []
        for language, scored in references.items():
            metrics = scored.get("metrics", {})
            for name, metric in metrics.items():
                variants[f"{name} ({language})"] = metric["variant"]
            cells.append(
                f"{language}: "
                + ", ".join(f"{name} {_fmt(m['value'])}" for name, m in metrics.items())
                + f" (n={scored.get('n')})"
            )
        row.append("; ".join(cells) or "no references")
        rows.append(row)
    lines += _table(["system", "rationales", "quotes found verbatim", "against references"], rows)
    lines += ["", "Variants:", ""] + [f"- {name}: {text}" for name, text in variants.items()]
    return lines
