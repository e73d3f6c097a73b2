"""Quote faithfulness: are the spans a rationale quotes found verbatim in the transcript?

What counts as a quote and as found is the one rule of :mod:`care.evidence`
(:func:`extract_quotes`, :func:`quote_found`); :func:`quote_faithfulness` gives the share
found over many rationales. It needs no reference rationale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from care.errors import ParameterError
from care.evidence import (
    QUOTE_MARKS,
    Transcript,
    extract_quotes,
    normalize_for_matching,
    quote_found,
)

__all__ = [
    "QUOTE_MARKS",
    "QuoteFaithfulness",
    "Transcript",
    "extract_quotes",
    "normalize_for_matching",
    "quote_faithfulness",
    "quote_found",
]


@dataclass(frozen=True)
class QuoteFaithfulness:
    """How many quoted spans of rationales are found verbatim in their transcripts.

    Attributes:
        share: ``n_found / n_quotes``; NaN when the rationales quote nothing.
        n_quotes: Quoted spans found in the rationales.
        n_found: Of these, found verbatim in the transcript (:func:`quote_found`).
        n_rationales: Rationales checked.
        n_with_quotes: Rationales with at least one quoted span.
        unmatched: The spans not found (up to 20, for inspection).
        variant: What counts as a quote and as a match.
    """

    share: float
    n_quotes: int
    n_found: int
    n_rationales: int
    n_with_quotes: int
    unmatched: list[str] = field(default_factory=list)
    variant: str = (
        'share of quoted spans (“…”, "…", 「…」, 『…』; at least 2 characters) found '
        "verbatim in one turn of the session's transcript after NFKC, ASCII punctuation and "
        "whitespace normalisation, edge punctuation stripped, case kept; '...' inside a "
        "quote matches left-out words"
    )


def quote_faithfulness(
    rationales: Sequence[str], transcripts: Sequence[Transcript], min_chars: int = 2
) -> QuoteFaithfulness:
    """The share of quoted spans in ``rationales`` found verbatim in their transcripts.

    Args:
        rationales: Rationale texts.
        transcripts: The transcript each rationale is about (a Session, a list of turn
            texts, or one text), in the same order.
        min_chars: Shortest span counted as a quote (see :func:`extract_quotes`).
    """
    if isinstance(rationales, str):
        raise ParameterError(
            "rationales must be a sequence of texts, got a single string",
            field="rationales",
            fix="pass a list, e.g. quote_faithfulness([rationale], [transcript])",
        )
    if len(rationales) != len(transcripts):
        raise ParameterError(
            f"rationales and transcripts must have the same length, got {len(rationales)} "
            f"and {len(transcripts)}",
            field="transcripts",
            fix="pass the transcript of every rationale, in the same order",
        )
    n_quotes = n_found = n_with = 0
    unmatched: list[str] = []
    for rationale, transcript in zip(rationales, transcripts, strict=True):
        quotes = extract_quotes(rationale, min_chars)
        n_with += bool(quotes)
        for quote in quotes:
            n_quotes += 1
            if quote_found(quote, transcript):
                n_found += 1
            elif len(unmatched) < 20:
                unmatched.append(quote)
    share = n_found / n_quotes if n_quotes else math.nan
    return QuoteFaithfulness(share, n_quotes, n_found, len(rationales), n_with, unmatched)
