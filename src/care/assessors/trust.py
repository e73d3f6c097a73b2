"""How far to trust a score: conformal intervals, reference percentiles, domain check.

A :class:`TrustModel` is fitted on rated sessions with out-of-sample predictions of one
assessor: the built-in models' client-grouped cross-validation (``care train lite``
stores it in the model file) or a rated calibration set of any assessor (``care
calibrate``, applied with ``care assess --calibration``). It adds three fields to each
result: ``intervals`` (split-conformal, per dimension, total and item, at a chosen level),
``percentiles`` (where the scores sit among the reference sessions' predicted scores) and
``domain`` (whether the session is like the reference sessions, and why not).

For LLM assessors the point that is conformalized is the probability-weighted expected
score of each item where the engine gave option probabilities (else the answer's value).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from care.data.session import Session
from care.errors import DataError, ParameterError
from care.features.profile import PROFILE_SIGNALS, SIGNALS, log_signals, profile_signals
from care.instruments import Instrument, get_instrument
from care.results import Assessments, SessionAssessment
from care.stats.conformal import ConformalIntervals, choose_intervals
from care.stats.domain import DomainReference, fit_domain
from care.stats.reference import ReferenceScores

TRUST_FORMAT = "care-calibration"
TRUST_FORMAT_VERSION = 1
DEFAULT_LEVEL = 0.9
DIGITS = 3
PROFILE_NAMES = [signal.name for signal in PROFILE_SIGNALS]


def score_table(
    instrument: Instrument, item_ids: Sequence[str], values: np.ndarray
) -> dict[str, np.ndarray]:
    """Every score of every session from an item matrix (sessions x ``item_ids``, NaN
    where missing): the items, then the instrument's dimensions and ``total``."""
    table = {item_id: values[:, column] for column, item_id in enumerate(item_ids)}
    rows = [
        {item_id: value for item_id, value in zip(item_ids, row, strict=True) if value == value}
        for row in values
    ]
    for name in instrument.dimensions:
        table[name] = np.array([instrument.dimension_scores(row)[name] for row in rows])
    table["total"] = np.array([instrument.total_score(row) for row in rows])
    return table


def point_values(assessment: SessionAssessment) -> dict[str, float]:
    """The item values an interval is centred on: an LLM item's expected score over its
    option probabilities where it has them, else its value (failed items left out)."""
    values = {}
    for item_id, rating in assessment.items.items():
        value = None
        if rating.probabilities:
            # imported here: the built-in model's start-up does not need the backends
            from care.backends.base import expected_score

            value = expected_score(rating.probabilities)
        if value is None:
            value = rating.value
        if value is not None:
            values[item_id] = float(value)
    return values


def scale_model_features(
    signals: np.ndarray, names: list[str], predicted: np.ndarray, low: float, high: float
) -> np.ndarray:
    """The residual-size model's inputs for one score: the session signals (counts on a log
    scale) and the prediction's position on the scale, linear and squared."""
    position = (np.asarray(predicted, dtype=float) - low) / max(high - low, 1e-9)
    return np.column_stack([log_signals(signals, names), position, position**2])


@dataclass
class TrustModel:
    """Intervals, reference percentiles and a domain reference for one assessor.

    Attributes:
        instrument: The instrument id.
        source: What it was fitted on, e.g. ``"care-lite cross-validation"``.
        signal_names: The session signals its residual-size and domain models use.
        intervals: Score name (item id, dimension, ``total``) to its intervals.
        reference: The reference sessions' predicted dimension and total scores.
        domain: The reference sessions' signals (None: no domain check).
        evaluation: Held-out figures (coverage and width of both kinds of interval per
            score, share flagged out of domain).
        model: The model it was fitted for (results of another model are refused).
    """

    instrument: str
    source: str
    signal_names: list[str]
    intervals: dict[str, ConformalIntervals]
    reference: ReferenceScores
    domain: DomainReference | None
    evaluation: dict[str, Any] = field(default_factory=dict)
    model: str | None = None

    @classmethod
    def fit(
        cls,
        instrument: Instrument,
        item_ids: Sequence[str],
        truth: np.ndarray,
        predicted: np.ndarray,
        signals: np.ndarray,
        signal_names: list[str],
        folds: np.ndarray,
        *,
        source: str,
        model: str | None = None,
        level: float = DEFAULT_LEVEL,
    ) -> TrustModel:
        """Fit on rated sessions: ``truth`` and out-of-sample ``predicted`` item matrices
        (sessions x ``item_ids``), the sessions' ``signals`` and ``folds`` of clients
        (for the held-out choice between adaptive and constant width, and the domain
        threshold). ``level`` is the level the choice is made at."""
        true_scores = score_table(instrument, item_ids, truth)
        predicted_scores = score_table(instrument, item_ids, predicted)
        intervals: dict[str, ConformalIntervals] = {}
        evaluation: dict[str, Any] = {"level": level, "scores": {}}
        for name, column in predicted_scores.items():
            scale = instrument.scale_for(name) if name in item_ids else instrument.scale
            low, high = float(scale.min), float(scale.max)
            if np.isnan(true_scores[name]).all() or np.isnan(column).all():
                continue
            features = scale_model_features(signals, signal_names, column, low, high)
            choice = choose_intervals(true_scores[name], column, folds, low, high, features, level)
            intervals[name] = choice.intervals
            evaluation["scores"][name] = choice.summary()
        reference = ReferenceScores.fit(
            {name: predicted_scores[name] for name in [*instrument.dimensions, "total"]}
        )
        logged = [SIGNALS[name].logged for name in signal_names]
        domain, flagged = fit_domain(signals, signal_names, logged, folds)
        evaluation["domain"] = flagged
        return cls(
            instrument=instrument.id,
            source=source,
            signal_names=list(signal_names),
            intervals=intervals,
            reference=reference,
            domain=domain,
            evaluation=evaluation,
            model=model,
        )

    # -- applying -----------------------------------------------------------------------

    def annotate(
        self, assessment: SessionAssessment, signals: np.ndarray, level: float = DEFAULT_LEVEL
    ) -> None:
        """Set the assessment's ``intervals``, ``percentiles`` and ``domain`` from its
        scores and the session's ``signals`` (in the order of :attr:`signal_names`)."""
        self.annotate_many([assessment], np.asarray(signals, dtype=float)[None, :], level)

    def annotate_many(
        self,
        assessments: Sequence[SessionAssessment],
        signals: np.ndarray,
        level: float = DEFAULT_LEVEL,
    ) -> None:
        """:meth:`annotate` for a batch (``signals``: one row per assessment), each score's
        intervals and the domain scores computed for the whole batch at once."""
        check_level(level)
        instrument = get_instrument(self.instrument)
        signals = np.atleast_2d(np.asarray(signals, dtype=float))
        all_scores: list[dict[str, float]] = []
        for assessment in assessments:
            items = point_values(assessment)
            scores: dict[str, float] = dict(items)
            scores.update(instrument.dimension_scores(items))
            scores["total"] = instrument.total_score(items)
            all_scores.append(scores)
        bounds: list[dict[str, list[float]]] = [{} for _ in assessments]
        for name in dict.fromkeys(name for scores in all_scores for name in scores):
            fitted = self.intervals.get(name)
            rows = [
                row
                for row, scores in enumerate(all_scores)
                if name in scores and scores[name] == scores[name]
            ]
            if fitted is None or not rows:
                continue
            values = np.array([all_scores[row][name] for row in rows])
            features = None
            if fitted.scale_model is not None:
                features = scale_model_features(
                    signals[rows], self.signal_names, values, fitted.low, fitted.high
                )
            low, high = fitted.interval(values, level, features)
            for row, lower, upper in zip(rows, low.tolist(), high.tolist(), strict=True):
                bounds[row][name] = [round(lower, DIGITS), round(upper, DIGITS)]
        distances = None if self.domain is None else self.domain.scores(signals)
        names = [*instrument.dimensions, "total"]
        for row, assessment in enumerate(assessments):
            found, scores = bounds[row], all_scores[row]
            record: dict[str, Any] = {"level": level}
            record.update((name, found[name]) for name in names if name in found)
            record["items"] = {key: found[key] for key in assessment.items if key in found}
            assessment.intervals = record
            assessment.percentiles = self.reference.percentiles(
                {name: scores[name] for name in names if name in scores}
            )
            distance = None if distances is None else float(distances[row])
            assessment.domain = self.domain_of(signals[row], distance)

    def domain_of(self, signals: np.ndarray, score: float | None = None) -> dict[str, Any]:
        """The ``domain`` field for a session's signals (``score``: their distance from
        the reference, if already computed)."""
        if self.domain is None:
            return no_domain("no reference sessions to compare with")
        if score is None:
            score = float(self.domain.scores(signals[None, :])[0])
        in_domain = bool(score <= self.domain.threshold)
        reasons: list[str] = []
        if not in_domain:
            for position, standard in self.domain.unusual(signals):
                signal = SIGNALS[self.signal_names[position]]
                side = "above" if standard > 0 else "below"
                reasons.append(
                    f"{signal.label}: {signal.format(signals[position])}, {side} the reference "
                    f"sessions' range ({signal.format(self.domain.low[position])} to "
                    f"{signal.format(self.domain.high[position])})"
                )
            if not reasons:
                reasons.append(
                    "an unusual combination of length, turn lengths and vocabulary for the "
                    "reference sessions, though each lies within its usual range"
                )
        return {
            "in_domain": in_domain,
            "score": round(score, 2),
            "threshold": round(self.domain.threshold, 2),
            "reasons": reasons,
        }

    def check_profile_only(self) -> None:
        """Refuse a calibration that needs the built-in model's own signals where only the
        transcript's are at hand (an LLM assessor).

        Raises:
            ParameterError: It uses signals other than the transcript profile's.
        """
        others = [name for name in self.signal_names if name not in PROFILE_NAMES]
        if others:
            raise ParameterError(
                f"this calibration ({self.source}) uses the built-in model's signals "
                f"({', '.join(others)}), which this assessor does not have",
                field="--calibration",
                fix="fit a calibration for this assessor with `care calibrate`",
            )

    def check_model(self, model: str) -> None:
        """Refuse to apply a calibration fitted on another model's results.

        Raises:
            ParameterError: It was fitted for a model other than ``model``.
        """
        if self.model is not None and self.model != model:
            raise ParameterError(
                f"the calibration was fitted on results of '{self.model}', not '{model}'",
                field="--calibration",
                fix=f"run `care calibrate` on results of {model}",
            )

    # -- storing ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what ``calibration.json`` and the model file hold)."""
        return {
            "format": TRUST_FORMAT,
            "format_version": TRUST_FORMAT_VERSION,
            "instrument": self.instrument,
            "source": self.source,
            "model": self.model,
            "signal_names": self.signal_names,
            "intervals": {name: fitted.to_dict(4) for name, fitted in self.intervals.items()},
            "reference": self.reference.to_dict(),
            "domain": None if self.domain is None else self.domain.to_dict(),
            "evaluation": self.evaluation,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], file: str | None = None) -> TrustModel:
        """Inverse of :meth:`to_dict`.

        Raises:
            DataError: Not a calibration, or of a version this care does not read.
        """
        if not isinstance(data, dict) or data.get("format") != TRUST_FORMAT:
            raise DataError(
                "not a care calibration file",
                file=file,
                fix="give a file written by `care calibrate`",
            )
        if data.get("format_version") != TRUST_FORMAT_VERSION:
            raise DataError(
                f"calibration format version {data.get('format_version')!r} is not "
                f"supported (this care reads version {TRUST_FORMAT_VERSION})",
                file=file,
                fix="re-run `care calibrate` with this version of care",
            )
        unknown = [name for name in data.get("signal_names", []) if name not in SIGNALS]
        if unknown:
            raise DataError(
                f"the calibration uses signals this care does not know: {unknown}",
                file=file,
                fix="upgrade care, or re-run `care calibrate` with this version",
            )
        domain = data.get("domain")
        try:
            return cls(
                instrument=data["instrument"],
                source=data["source"],
                signal_names=list(data["signal_names"]),
                intervals={
                    name: ConformalIntervals.from_dict(value)
                    for name, value in data["intervals"].items()
                },
                reference=ReferenceScores.from_dict(data["reference"]),
                domain=None if domain is None else DomainReference.from_dict(domain),
                evaluation=dict(data.get("evaluation", {})),
                model=data.get("model"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise DataError(
                f"the calibration is incomplete or damaged ({error.__class__.__name__}: {error})",
                file=file,
                fix="re-run `care calibrate` (or `care train lite`) with this version of care",
            ) from None

    def save(self, path: str | Path) -> Path:
        """Write as JSON, atomically."""
        from care.output import write_text_atomic

        target = Path(path)
        write_text_atomic(target, json.dumps(self.to_dict(), ensure_ascii=False))
        return target

    @classmethod
    def load(cls, path: str | Path) -> TrustModel:
        """Read a file written by :meth:`save` (``care calibrate``)."""
        source = Path(path)
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(
                "no such calibration file", file=str(source), fix="run `care calibrate` first"
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DataError(
                f"cannot read the calibration ({error.__class__.__name__})",
                file=str(source),
                fix="give a file written by `care calibrate`",
            ) from None
        return cls.from_dict(data, file=str(source))


def check_level(level: float) -> float:
    """``level`` if it is a usable interval level.

    Raises:
        ParameterError: Not strictly between 0 and 1.
    """
    if not isinstance(level, int | float) or math.isnan(level) or not 0 < level < 1:
        raise ParameterError(
            f"the interval level must lie between 0 and 1, not {level!r}",
            field="--level",
            fix="give e.g. 0.9 for 90% intervals",
        )
    return float(level)


def no_intervals(level: float, why: str) -> dict[str, Any]:
    """The ``intervals`` field of a result without calibration: no interval is better than
    a made-up one."""
    return {"level": level, "unavailable": why}


def no_domain(why: str) -> dict[str, Any]:
    """The ``domain`` field of a result that cannot be checked."""
    return {"in_domain": None, "score": None, "threshold": None, "reasons": [why]}


NO_CALIBRATION = (
    "no calibration for this model: rate a calibration set with it, fit intervals with "
    "`care calibrate --gold RATED --pred RESULTS --out calibration.json`, and pass "
    "--calibration calibration.json"
)


def annotate_results(
    results: Iterable[SessionAssessment],
    sessions: Mapping[str, Session],
    trust: TrustModel | None,
    level: float = DEFAULT_LEVEL,
) -> Iterator[SessionAssessment]:
    """Each result with intervals, percentiles and domain from ``trust`` (fitted by
    ``care calibrate`` on transcript signals), or saying that there is no calibration."""
    check_level(level)
    if trust is not None:
        trust.check_profile_only()
    positions = [PROFILE_NAMES.index(name) for name in trust.signal_names] if trust else []
    for assessment in results:
        if trust is None:
            assessment.intervals = no_intervals(level, NO_CALIBRATION)
            assessment.domain = no_domain(NO_CALIBRATION)
        else:
            signals = profile_signals(sessions[assessment.session_id])[positions]
            trust.annotate(assessment, signals, level)
        yield assessment


def domain_counts(assessments: Assessments, session_ids: Sequence[str]) -> dict[str, Any]:
    """How many of the sessions' results were checked for domain, and how many of them
    were flagged out of domain: ``{"checked", "flagged", "share"}``."""
    wanted = set(session_ids)
    checked = flagged = 0
    for assessment in assessments:
        if assessment.session_id not in wanted or not assessment.domain:
            continue
        verdict = assessment.domain.get("in_domain")
        if verdict is None:
            continue
        checked += 1
        flagged += verdict is False
    return {
        "checked": checked,
        "flagged": flagged,
        "share": flagged / checked if checked else None,
    }
