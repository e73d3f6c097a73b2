"""What a quote is, and when it is verbatim: one rule for assessment, evaluation, checks
and review.

The LLM assessor marks each quote of a rationale ``verbatim`` with :func:`verify_quotes`;
``care evaluate`` counts verbatim quotes with :func:`quote_found`; ``care rationales check``
and the review page use the same functions, so a quote marked verbatim in a result is found
by every one of them.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Sequence
from difflib import SequenceMatcher

from care.data.session import Session
from care.records import Evidence

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


def find_quote(quote: str, session: Session) -> int | None:
    """The index of the first turn in which ``quote`` is found verbatim (by
    :func:`quote_found`), or None."""
    for turn in session.turns:
        if quote_found(quote, [turn.text]):
            return turn.index
    return None


def verify_quotes(rationale: str | None, session: Session) -> list[Evidence]:
    """Evidence for every quote in ``rationale``: the turn it comes from and whether it was
    found verbatim (:func:`quote_found`). A quote found nowhere is cited at the most similar
    turn with ``verbatim=False``."""
    evidence: list[Evidence] = []
    if not rationale:
        return evidence
    seen: set[str] = set()
    for quote in extract_quotes(rationale):
        quote = quote.strip()
        if quote in seen:
            continue
        seen.add(quote)
        hit = find_quote(quote, session)
        if hit is not None:
            evidence.append(Evidence(turn_index=hit, quote=quote, verbatim=True))
            continue
        needle = _clean(quote).lower()
        best, best_ratio = (session.turns[0].index if session.turns else 0), -1.0
        for turn in session.turns:
            text = normalize_for_matching(turn.text).lower()
            ratio = SequenceMatcher(None, needle, text).find_longest_match().size / max(
                1, len(needle)
            )
            if ratio > best_ratio:
                best, best_ratio = turn.index, ratio
        evidence.append(Evidence(turn_index=best, quote=quote, verbatim=False))
    return evidence
