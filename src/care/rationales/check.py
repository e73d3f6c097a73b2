"""``care rationales check``: is a set of rationales fit to train on?

Checks, per rationale and over the set:

Quotes
    Each quoted span (“…”, "…", 「…」, 『…』) is looked up with
    :func:`care.evaluate.quotes.quote_found`, turn by turn, so the report gives the turn
    it comes from. What counts as a match: after Unicode NFKC (full-width -> half-width),
    Chinese/curly punctuation mapped to ASCII (。 -> ., ， -> ,, “ ” -> ", … -> ...) and every
    whitespace run made one space, with punctuation and spaces stripped from the quote's
    ends, the quote is a substring of one turn; ``...`` inside a quote stands for left-out
    words (the parts must appear in order in that turn). Case matters, and changed words or
    changed punctuation *inside* the quote (other than these mappings) do not match.
Length
    Chinese and Japanese: characters other than whitespace; other languages: words. Mean,
    median, min, max, and the share within ``tolerance`` (default 0.5, i.e. 50 %) of the
    target.
Rating consistency
    A small cue lexicon (English and Chinese, with negation) scores the rationale's tone; a
    rationale for a rating in the lowest third of the scale that reads as positive, or one in
    the highest third that reads as negative, is flagged for a human to look at.
Duplicates
    Rationales whose normalised text (as for quotes) is identical, across different items.
Inter-reviewer agreement
    Where two or more reviewers scored the same drafts on the 1-5 scales (faithfulness,
    relevance, informativeness): per scale, the number of drafts, exact agreement, agreement
    within one point, mean absolute difference, and quadratic-weighted Cohen's kappa over all
    pairs of reviewers.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from care.data.session import Session
from care.evaluate.quotes import extract_quotes, normalize_for_matching, quote_found
from care.rationales.store import REVIEW_SCALES, Review

_POSITIVE_EN = (
    "understood",
    "understands",
    "supported",
    "supportive",
    "helpful",
    "helped",
    "trust",
    "agree",
    "agreed",
    "clear",
    "comfortable",
    "respected",
    "cared",
    "appreciate",
    "confident",
    "good",
    "useful",
    "warm",
)
_NEGATIVE_EN = (
    "not understood",
    "misunderstood",
    "ignored",
    "dismissed",
    "unclear",
    "confused",
    "disagree",
    "frustrated",
    "unhelpful",
    "distrust",
    "doubt",
    "uncomfortable",
    "pushed",
    "rushed",
    "criticized",
    "judged",
)
_POSITIVE_ZH = (
    "理解",
    "支持",
    "帮助",
    "信任",
    "认同",
    "同意",
    "清楚",
    "明确",
    "舒服",
    "尊重",
    "关心",
    "温暖",
    "有用",
    "有信心",
    "被接纳",
)
_NEGATIVE_ZH = (
    "误解",
    "忽视",
    "敷衍",
    "困惑",
    "不认同",
    "不同意",
    "失望",
    "怀疑",
    "不舒服",
    "被评判",
    "不清楚",
    "没有帮助",
    "无助",
)
_NEGATORS_EN = re.compile(r"\b(?:not|never|no|n't|hardly|barely)\W+(?:\w+\W+)?$", re.I)
_NEGATORS_ZH = ("不", "没", "未", "无", "并非")
_WORD = re.compile(r"\w+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")


@dataclass
class QuoteCheck:
    """One quoted span: where it was found (``turn`` None: not found)."""

    quote: str
    found: bool
    turn: int | None


@dataclass
class RationaleCheck:
    """The checks of one rationale."""

    key: dict[str, Any]
    rating: float
    length: int
    quotes: list[QuoteCheck] = field(default_factory=list)
    tone: int = 0
    inconsistent: bool = False
    duplicate_of: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def locate_quote(quote: str, session: Session) -> int | None:
    """The index of the first turn of ``session`` in which ``quote`` is found (see the module
    docstring for what counts), or None."""
    for turn in session.turns:
        if quote_found(quote, [turn.text]):
            return turn.index
    return None


def text_length(text: str, language: str | None = None) -> int:
    """Characters (Chinese, Japanese) or words (other languages) of ``text``."""
    lang = (language or "").split("-")[0].lower()
    if lang in ("zh", "ja") or (not lang and _CJK.search(text or "")):
        return sum(1 for ch in text or "" if not ch.isspace())
    return len(_WORD.findall(text or ""))


def tone(text: str) -> int:
    """Positive minus negative cues in ``text`` (quoted spans are left out: the client's words
    are evidence, not the rationale's judgement). A cue after a negation counts the other
    way."""
    for quote in extract_quotes(text):
        text = text.replace(quote, " ")
    lowered = text.lower()
    score = 0
    for cue in _NEGATIVE_EN:
        score -= len(re.findall(rf"\b{re.escape(cue)}\b", lowered))
    for cue in _POSITIVE_EN:
        for match in re.finditer(rf"\b{re.escape(cue)}\b", lowered):
            negated = _NEGATORS_EN.search(lowered[max(0, match.start() - 20) : match.start()])
            score += -1 if negated else 1
    for cue in _NEGATIVE_ZH:
        score -= lowered.count(cue)
    for cue in _POSITIVE_ZH:
        start = 0
        while (found := lowered.find(cue, start)) >= 0:
            before = lowered[max(0, found - 2) : found]
            part_of_negative = any(
                neg.endswith(cue) and lowered[max(0, found - len(neg) + len(cue)) :].startswith(neg)
                for neg in _NEGATIVE_ZH
            )
            if not part_of_negative:
                score += -1 if any(neg in before for neg in _NEGATORS_ZH) else 1
            start = found + len(cue)
    return score


def rating_inconsistent(text: str, rating: float, low: float, high: float) -> bool:
    """Whether a rationale's tone contradicts its rating (lowest third read as positive, or
    highest third read as negative)."""
    span = (high - low) or 1.0
    position = (rating - low) / span
    score = tone(text)
    return (position <= 1 / 3 and score > 0) or (position >= 2 / 3 and score < 0)


def _kappa(pairs: Sequence[tuple[int, int]], low: int = 1, high: int = 5) -> float:
    """Quadratic-weighted Cohen's kappa of rating pairs (NaN when undefined)."""
    if not pairs:
        return math.nan
    n = len(pairs)
    values = range(low, high + 1)
    a = {v: sum(1 for x, _ in pairs if x == v) / n for v in values}
    b = {v: sum(1 for _, y in pairs if y == v) / n for v in values}
    observed = sum((x - y) ** 2 for x, y in pairs) / n
    expected = sum(a[i] * b[j] * (i - j) ** 2 for i in values for j in values)
    return math.nan if expected == 0 else 1 - observed / expected


def agreement(reviews: Sequence[Review]) -> dict[str, Any]:
    """Inter-reviewer agreement on the 1-5 scales (see the module docstring); each
    reviewer's latest scores per draft count."""
    latest: dict[tuple[Any, str], Review] = {}
    for review in sorted(reviews, key=lambda r: r.created_at):
        if review.scores:
            latest[(review.key, review.reviewer)] = review
    by_key: dict[Any, dict[str, Review]] = {}
    for (key, reviewer), review in latest.items():
        by_key.setdefault(key, {})[reviewer] = review
    out: dict[str, Any] = {"reviewers": sorted({r for _, r in latest}), "scales": {}}
    for scale in REVIEW_SCALES:
        pairs: list[tuple[int, int]] = []
        items = 0
        for by_reviewer in by_key.values():
            scored = [r.scores[scale] for _, r in sorted(by_reviewer.items()) if scale in r.scores]
            if len(scored) >= 2:
                items += 1
                pairs.extend(itertools.combinations(scored, 2))
        if not pairs:
            continue
        out["scales"][scale] = {
            "n_items": items,
            "n_pairs": len(pairs),
            "exact": sum(x == y for x, y in pairs) / len(pairs),
            "within_1": sum(abs(x - y) <= 1 for x, y in pairs) / len(pairs),
            "mean_abs_diff": sum(abs(x - y) for x, y in pairs) / len(pairs),
            "weighted_kappa": _kappa(pairs),
        }
    return out


def check_rationales(
    records: Sequence[dict[str, Any]],
    sessions: dict[str, Session],
    *,
    scale: tuple[float, float] = (1, 5),
    target_length: int | None = None,
    tolerance: float = 0.5,
    reviews: Sequence[Review] = (),
) -> dict[str, Any]:
    """Check rationales (see the module docstring).

    Args:
        records: Mappings with ``session_id``, ``item_id``, ``rating``, ``rationale`` and
            optionally ``language`` (other fields are kept as the record's key).
        sessions: Transcripts by session id.
        scale: The rating scale's (lowest, highest) value.
        target_length: Target length (characters for Chinese, words otherwise); default
            150 for Chinese and 100 for other languages.
        tolerance: Share of the target a length may be off and still be "within target".
        reviews: Review decisions, for inter-reviewer agreement.

    Returns:
        A JSON-ready report: ``summary`` and per-rationale ``rationales``.
    """
    checks: list[RationaleCheck] = []
    seen: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        text = record.get("rationale") or ""
        key = {
            k: record[k] for k in ("session_id", "instrument", "item_id", "teacher") if k in record
        }
        language = record.get("language")
        check = RationaleCheck(key=key, rating=float(record["rating"]), length=0)
        check.length = text_length(text, language)
        session = sessions.get(record["session_id"])
        quotes = extract_quotes(text)
        if session is None:
            check.problems.append("no transcript for this session")
        else:
            for quote in quotes:
                turn = locate_quote(quote, session)
                check.quotes.append(QuoteCheck(quote, turn is not None, turn))
                if turn is None:
                    check.problems.append(f"quote not found: {quote[:40]!r}")
        if not quotes:
            check.problems.append("no quotes")
        check.tone = tone(text)
        check.inconsistent = rating_inconsistent(text, check.rating, *scale)
        if check.inconsistent:
            check.problems.append("its tone contradicts the rating")
        normal = normalize_for_matching(text).lower()
        if normal:
            for other in seen.get(normal, []):
                check.duplicate_of.append(other)
            if check.duplicate_of:
                check.problems.append("duplicate of another rationale")
            seen.setdefault(normal, []).append(key)
        checks.append(check)
    return _report(checks, records, target_length, tolerance, reviews)


def _report(checks, records, target_length, tolerance, reviews) -> dict[str, Any]:
    n_quotes = sum(len(c.quotes) for c in checks)
    n_found = sum(q.found for c in checks for q in c.quotes)
    lengths = [c.length for c in checks]
    languages = {str(r.get("language") or "") for r in records}
    default = 150 if languages & {"zh", "ja"} and len(languages) == 1 else 100
    target = target_length or default
    within = [abs(n - target) <= tolerance * target for n in lengths]
    summary = {
        "n_rationales": len(checks),
        "quotes": {
            "n_quotes": n_quotes,
            "n_found": n_found,
            "share_found": n_found / n_quotes if n_quotes else math.nan,
            "n_without_quotes": sum(1 for c in checks if not c.quotes),
        },
        "length": {
            "unit": "characters (zh/ja), words (others)",
            "target": target,
            "tolerance": tolerance,
            "mean": statistics.fmean(lengths) if lengths else math.nan,
            "median": statistics.median(lengths) if lengths else math.nan,
            "min": min(lengths, default=0),
            "max": max(lengths, default=0),
            "share_within_target": sum(within) / len(within) if within else math.nan,
        },
        "n_rating_inconsistent": sum(c.inconsistent for c in checks),
        "n_duplicates": sum(bool(c.duplicate_of) for c in checks),
        "agreement": agreement(reviews),
    }
    rows = [
        {
            **c.key,
            "rating": c.rating,
            "length": c.length,
            "quotes": [q.__dict__ for q in c.quotes],
            "tone": c.tone,
            "rating_inconsistent": c.inconsistent,
            "duplicate_of": c.duplicate_of,
            "problems": c.problems,
        }
        for c in checks
    ]
    return {"summary": summary, "rationales": rows}
