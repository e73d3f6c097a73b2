"""Tokens for the built-in model: word n-grams for English, character n-grams for Chinese.

Character n-grams need no dictionary, so Chinese costs no start-up time (jieba's
dictionary takes about a second to load) and no segmentation errors.

Two tokenizers exist, and a model records which one it was trained with:

- ``1``: words only (English), Han-character runs only (Chinese); punctuation is dropped.
- ``2`` (the default): punctuation marks are tokens too ("!", "?", "，"),
  n-grams run across them, and a turn's first and last units form the bigrams
  ``"<s> x"`` and ``"x </s>"`` (how a turn opens and ends: "thank", "?"). On KokoroChat
  this raised cross-validated r by about .01 in both languages.
"""

from __future__ import annotations

import re
from collections import Counter

TOKENIZERS = (1, 2)
DEFAULT_TOKENIZER = 2
START, END = "<s>", "</s>"

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_HAN_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_WORD_OR_MARK = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
_LATIN_OR_CHAR = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")
# A unit is Latin (a word or number, not a mark or a Chinese character) when it starts
# with one of these.
LATIN_START = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def word_ngrams(text: str, max_n: int = 2) -> list[str]:
    """Lower-cased word uni- to ``max_n``-grams (tokenizer 1; Latin-script text)."""
    words = _WORD.findall(text.lower())
    grams = list(words)
    for n in range(2, max_n + 1):
        grams.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    return grams


def char_ngrams(text: str, max_n: int = 2) -> list[str]:
    """Han-character uni- to ``max_n``-grams within runs of Han characters, plus the
    Latin words of the text (tokenizer 1; Chinese and Japanese text)."""
    grams: list[str] = []
    for run in _HAN_RUN.findall(text):
        for n in range(1, max_n + 1):
            grams.extend(run[i : i + n] for i in range(len(run) - n + 1))
    grams.extend(_WORD.findall(text.lower()))
    return grams


def units(text: str, language: str | None) -> list[str]:
    """The units of tokenizer 2: lower-cased words and single punctuation marks
    (English), or single characters, Latin words and marks (Chinese/Japanese)."""
    lowered = text.lower().replace("\u2019", "'")
    if language in ("zh", "ja"):
        return _LATIN_OR_CHAR.findall(lowered)
    return _WORD_OR_MARK.findall(lowered)


def unit_ngrams(
    text: str,
    language: str | None,
    max_n: int = 2,
    *,
    starts_turn: bool = True,
    ends_turn: bool = True,
) -> list[str]:
    """Tokenizer 2: uni- to ``max_n``-grams of :func:`units`, plus the turn-boundary
    bigrams ``"<s> first"`` (if ``starts_turn``) and ``"last </s>"`` (if ``ends_turn``)."""
    found = units(text, language)
    grams = list(found)
    # Chinese/Japanese characters join directly ("谢谢"); a Latin word or digit, and any
    # English unit, joins with a space, so that an n-gram is never mistaken for a word.
    # (A unit is Latin when it starts with a Latin letter or digit: see :func:`units`.)
    east_asian = language in ("zh", "ja")
    spaced = [unit[0] in LATIN_START for unit in found] if east_asian else None
    if max_n >= 2 and len(found) > 1:
        following = found[1:]
        if spaced is None:
            grams.extend(
                [f"{first} {second}" for first, second in zip(found, following, strict=False)]
            )
        elif not any(spaced):
            grams.extend([first + second for first, second in zip(found, following, strict=False)])
        else:
            grams.extend(
                [
                    f"{first} {second}" if space or next_space else first + second
                    for first, second, space, next_space in zip(
                        found, following, spaced, spaced[1:], strict=False
                    )
                ]
            )
    for n in range(3, max_n + 1):
        grams.extend(
            (" " if spaced is None or any(spaced[i : i + n]) else "").join(found[i : i + n])
            for i in range(len(found) - n + 1)
        )
    if found and max_n >= 2:
        if starts_turn:
            grams.append(f"{START} {found[0]}")
        if ends_turn:
            grams.append(f"{found[-1]} {END}")
    return grams


def tokenize(
    text: str,
    language: str | None,
    max_n: int = 2,
    tokenizer: int = DEFAULT_TOKENIZER,
    *,
    starts_turn: bool = True,
    ends_turn: bool = True,
) -> list[str]:
    """The n-gram tokens of ``text`` (a whole turn unless ``starts_turn``/``ends_turn``
    say otherwise) for ``language`` with tokenizer ``tokenizer``."""
    if tokenizer == 1:
        if language in ("zh", "ja"):
            return char_ngrams(text, max_n)
        return word_ngrams(text, max_n)
    if tokenizer == 2:
        return unit_ngrams(text, language, max_n, starts_turn=starts_turn, ends_turn=ends_turn)
    raise ValueError(f"unknown tokenizer {tokenizer!r}; known: {TOKENIZERS}")


def token_counts(
    text: str,
    language: str | None,
    max_n: int = 2,
    tokenizer: int = DEFAULT_TOKENIZER,
    **boundaries: bool,
) -> Counter[str]:
    """Counts of the n-gram tokens of ``text``; ``boundaries`` are :func:`tokenize`'s
    ``starts_turn``/``ends_turn``."""
    return Counter(tokenize(text, language, max_n, tokenizer, **boundaries))
