"""The result records of one session: item ratings with evidence, shared by every assessor.

Dimension and total scores are derived from item ratings through the instrument;
they are never stored separately from the items they come from. The collection of many
sessions' results, and reading them back, is :mod:`care.results`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from care.identity import ResultKey
from care.instruments import Instrument, get_instrument

RESULT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Evidence:
    """A piece of the transcript that a rating rests on.

    Attributes:
        turn_index: Index of the cited turn in its session.
        quote: The quoted span; for the built-in assessor an exact substring of the turn.
        contribution: Signed effect on the score (positive pushed it up), where the
            assessor computes one; None for quotes taken from an LLM rationale.
        dimension: The dimension (or item) the evidence is for, if any.
        verbatim: Whether the quote was found verbatim in the cited turn.
    """

    turn_index: int
    quote: str
    contribution: float | None = None
    dimension: str | None = None
    verbatim: bool = True


@dataclass
class ItemRating:
    """One item's rating for one session.

    Attributes:
        session_id: The session.
        item_id: The instrument item.
        value: The score on the item's scale; None when the assessor failed (see ``error``).
        probabilities: Option to probability, where the model gives them.
        rationale: A short explanation, if the assessor produces one.
        evidence: Quoted turns the rating rests on.
        raw_output: The model's raw answer (LLM assessors).
        error: Why no value could be produced; never replaced by a default score.
    """

    session_id: str
    item_id: str
    value: float | None
    probabilities: dict[str, float] | None = None
    rationale: str | None = None
    evidence: list[Evidence] = field(default_factory=list)
    raw_output: str | None = None
    error: str | None = None


@dataclass
class SessionAssessment:
    """All item ratings of one session on one instrument by one model.

    Attributes:
        session_id: The assessed session.
        instrument: Instrument id.
        model: Model name, e.g. ``"care-lite-en"`` or ``"transformers/gemma3-270m"``.
        model_version: Version of the model (weights, prompt template, ...).
        items: Item id to rating, in instrument order.
        rationales: Dimension (or ``"total"``) to a short rationale.
        evidence: Evidence per dimension (the item-level evidence stays on the items).
        language: Language the session was assessed in.
        meta: Anything else (notes such as "proxy dimensions", timings).
        intervals: Conformal prediction intervals (``{"level", <dimension>: [low, high],
            "total": [...], "items": {...}}``), or ``{"level", "unavailable": why}``; None
            when not computed (see :mod:`care.assessors.trust`).
        percentiles: Dimension (and ``total``) to the share (0-100) of the reference
            sessions that scored lower.
        domain: ``{"in_domain", "score", "threshold", "reasons"}``: whether the session is
            like the sessions the model was trained or calibrated on.
    """

    session_id: str
    instrument: str
    model: str
    model_version: str
    items: dict[str, ItemRating]
    rationales: dict[str, str] = field(default_factory=dict)
    evidence: dict[str, list[Evidence]] = field(default_factory=dict)
    language: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    intervals: dict[str, Any] | None = None
    percentiles: dict[str, float] | None = None
    domain: dict[str, Any] | None = None

    @property
    def key(self) -> ResultKey:
        """What identifies this result (instrument, model, version)."""
        return ResultKey(self.instrument, self.model, self.model_version)

    def item_values(self) -> dict[str, float]:
        """Item id to value, leaving out failed items."""
        return {key: rating.value for key, rating in self.items.items() if rating.value is not None}

    def dimension_scores(self, instrument: Instrument | None = None) -> dict[str, float]:
        """Dimension scores derived from the item values by the instrument's key."""
        instrument = instrument or get_instrument(self.instrument)
        return instrument.dimension_scores(self.item_values())

    def total_score(self, instrument: Instrument | None = None) -> float:
        """The instrument's total score derived from the item values."""
        instrument = instrument or get_instrument(self.instrument)
        return instrument.total_score(self.item_values())

    def failures(self) -> list[ItemRating]:
        """Items for which the assessor produced no value."""
        return [rating for rating in self.items.values() if rating.value is None]

    def to_record(self, instrument: Instrument | None = None) -> dict[str, Any]:
        """The JSON object written to results files (derived scores included for
        convenience; reading a record back recomputes nothing from them)."""
        instrument = instrument or get_instrument(self.instrument)
        return {
            "schema_version": RESULT_SCHEMA_VERSION,
            "session_id": self.session_id,
            "instrument": self.instrument,
            "model": self.model,
            "model_version": self.model_version,
            "language": self.language,
            "items": {key: _item_record(rating) for key, rating in self.items.items()},
            "dimensions": _finite(self.dimension_scores(instrument)),
            "total": _finite_value(self.total_score(instrument)),
            "rationales": self.rationales,
            "evidence": {
                key: [asdict(piece) for piece in pieces] for key, pieces in self.evidence.items()
            },
            "meta": self.meta,
            "intervals": self.intervals,
            "percentiles": self.percentiles,
            "domain": self.domain,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> SessionAssessment:
        """Rebuild an assessment from :meth:`to_record` output."""
        items = {
            key: ItemRating(
                session_id=record["session_id"],
                item_id=key,
                value=value.get("value"),
                probabilities=value.get("probabilities"),
                rationale=value.get("rationale"),
                evidence=[Evidence(**piece) for piece in value.get("evidence", [])],
                raw_output=value.get("raw_output"),
                error=value.get("error"),
            )
            for key, value in record["items"].items()
        }
        return cls(
            session_id=record["session_id"],
            instrument=record["instrument"],
            model=record["model"],
            model_version=record["model_version"],
            items=items,
            rationales=dict(record.get("rationales", {})),
            evidence={
                key: [Evidence(**piece) for piece in pieces]
                for key, pieces in record.get("evidence", {}).items()
            },
            language=record.get("language"),
            meta=dict(record.get("meta", {})),
            intervals=record.get("intervals"),
            percentiles=record.get("percentiles"),
            domain=record.get("domain"),
        )


def _item_record(rating: ItemRating) -> dict[str, Any]:
    record: dict[str, Any] = {"value": rating.value}
    if rating.probabilities is not None:
        record["probabilities"] = rating.probabilities
    if rating.rationale is not None:
        record["rationale"] = rating.rationale
    if rating.evidence:
        record["evidence"] = [asdict(piece) for piece in rating.evidence]
    if rating.raw_output is not None:
        record["raw_output"] = rating.raw_output
    if rating.error is not None:
        record["error"] = rating.error
    return record


def _finite_value(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    return {key: _finite_value(value) for key, value in values.items()}
