"""care: assess the client-perceived working alliance of counseling sessions.

Reads session transcripts, predicts the client's ratings on an alliance questionnaire,
and explains each rating with evidence quoted from the dialogue::

    import care

    corpus = care.load_corpus("examples/sessions.jsonl")
    for result in care.LiteAssessor().assess(corpus):
        print(result.session_id, result.dimension_scores(), result.rationales["goal"])

The names below are imported on first use, so ``import care`` stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Session": "care.data.session",
    "Turn": "care.data.session",
    "RatingSet": "care.data.session",
    "Corpus": "care.data.corpus",
    "load_corpus": "care.data.io",
    "save_corpus": "care.data.io",
    "read_sessions": "care.data.io",
    "Instrument": "care.instruments",
    "get_instrument": "care.instruments",
    "list_instruments": "care.instruments",
    "load_instrument": "care.instruments",
    "Assessor": "care.assessors.base",
    "LiteAssessor": "care.assessors.lite",
    "MeanRatingAssessor": "care.assessors.baselines",
    "LengthAssessor": "care.assessors.baselines",
    "Assessments": "care.results",
    "SessionAssessment": "care.results",
    "ItemRating": "care.results",
    "Evidence": "care.results",
    "CareError": "care.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    """Import the public names lazily (PEP 562)."""
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'care' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
