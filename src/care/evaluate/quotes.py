"""Quote faithfulness: are the spans a rationale quotes found verbatim in the transcript?

What counts as a quote is :func:`extract_quotes`, what counts as found is
:func:`quote_found`; :func:`quote_faithfulness` gives the share found over many
rationales. It needs no reference rationale.
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from care.data.session import Session
from care.errors import ParameterError

__all__ = [
    "QUOTE_MARKS",
    "QuoteFaithfulness",
    "Transcript",
    "extract_quotes",
    "normalize_for_matching",
    "quote_faithfulness",
    "quote_found",
]

#: Opening and closing marks of the quoted spans that :func:`extract_quotes` finds.
QUOTE_MARKS: tuple[tuple[str, str], ...] = (
    ("\u201c", "\u201d"),  # “ ”
    ('"', '"'),
    ("\u300c", "\u300d"),  # 「 」
    ("\u300e", "\u300f"),  # 『 』
)
_QUOTE_PATTERN = re.compile(
    "|".join(
        f"{re.escape(opening)}([^{re.escape(closing)}]*){re.escape(closing)}"
        for opening, closing in QUOTE_MARKS
    )
)
# Punctuation that NFKC leaves alone, mapped to its ASCII counterpart before matching.
_PUNCTUATION_MAP = str.maketrans(
    {
        "\u3002": ".",  # 。
        "\u3001": ",",  # 、
        "\uff61": ".",  # ｡ half-width ideographic full stop
        "\uff64": ",",  # ､
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u300c": '"',
        "\u300d": '"',
        "\u300e": '"',
        "\u300f": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2026": "...",  # …
        "\u301c": "~",  # 〜
    }
)
_WHITESPACE = re.compile(r"\s+")
_ELLIPSIS = re.compile(r"\.{3,}")
# Characters stripped from both ends of a quote before matching.
_EDGE = string.punctuation + " "

Transcript = Session | str | Sequence[str]


def normalize_for_matching(text: str) -> str:
    """Text as compared by :func:`quote_found`.

    1. Unicode NFKC: full-width letters, digits and punctuation become their half-width
       forms (``，`` -> ``,``, ``！`` -> ``!``, ``Ａ`` -> ``A``, ideographic space -> space).
    2. Punctuation NFKC keeps is mapped to ASCII: ``。`` -> ``.``, ``、`` -> ``,``, curly
       and corner quotes (“ ” 「 」 『 』 « ») -> ``"``, curly single quotes -> ``'``,
       dashes (‐ ‑ ‒ – — ―) -> ``-``, ``…`` -> ``...``, ``〜`` -> ``~``.
    3. Every run of whitespace (newlines included) becomes one space; ends are stripped.

    Case is kept: a quote must match letter for letter.
    """
    text = unicodedata.normalize("NFKC", text).translate(_PUNCTUATION_MAP)
    return _WHITESPACE.sub(" ", text).strip()


def extract_quotes(text: str, min_chars: int = 2) -> list[str]:
    """The quoted spans of a rationale, in order.

    A quoted span is the text between “ and ”, between two straight double quotes ``"``,
    between 「 and 」, or between 『 and 』; spans are found left to right without
    overlap, so a quote inside another quote is part of the outer one. Single quotes are
    not quote marks (they double as apostrophes). Spans shorter than ``min_chars``
    characters after :func:`normalize_for_matching` and edge stripping are left out (a
    quoted letter is not a quote).

    Returns:
        The spans as written (not normalised).
    """
    quotes = []
    for match in _QUOTE_PATTERN.finditer(text):
        span = next(group for group in match.groups() if group is not None)
        if len(_clean(span)) >= min_chars:
            quotes.append(span)
    return quotes


def _clean(span: str) -> str:
    return normalize_for_matching(span).strip(_EDGE)


def _turn_texts(transcript: Transcript) -> list[str]:
    if isinstance(transcript, Session):
        return [turn.text for turn in transcript.turns]
    if isinstance(transcript, str):
        return [transcript]
    return [str(text) for text in transcript]


def quote_found(quote: str, transcript: Transcript) -> bool:
    """Whether a quote is found verbatim in a transcript.

    What counts: after :func:`normalize_for_matching` of both sides, and with
    punctuation and spaces stripped from both ends of the quote, the quote is a substring
    of one turn's text (a quote never spans two turns). An ellipsis inside the quote
    (``...`` or ``…``) marks left-out words: the parts between ellipses must then all be
    found, in order, in the same turn. A quote that is empty after stripping is not
    found. Case matters.

    Args:
        quote: The quoted span (as returned by :func:`extract_quotes`).
        transcript: A :class:`~care.data.Session`, a list of turn texts, or one text.
    """
    parts = [part.strip(_EDGE) for part in _ELLIPSIS.split(normalize_for_matching(quote))]
    parts = [part for part in parts if part]
    if not parts:
        return False
    for turn in _turn_texts(transcript):
        text = normalize_for_matching(turn)
        position = 0
        for part in parts:
            found = text.find(part, position)
            if found < 0:
                break
            position = found + len(part)
        else:
            return True
    return False


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
