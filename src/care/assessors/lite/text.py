"""Tokens for the built-in model: word n-grams for English, character n-grams for Chinese.

Character n-grams need no dictionary, so Chinese costs no start-up time (jieba's
dictionary takes about a second to load) and no segmentation errors.
"""

from __future__ import annotations

import re
from collections import Counter

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_HAN_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_KANA = re.compile(r"[\u3040-\u30ff]")


def word_ngrams(text: str, max_n: int = 2) -> list[str]:
    """Lower-cased word uni- to ``max_n``-grams (English and other Latin-script text)."""
    words = _WORD.findall(text.lower())
    grams = list(words)
    for n in range(2, max_n + 1):
        grams.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    return grams


def char_ngrams(text: str, max_n: int = 2) -> list[str]:
    """Han-character uni- to ``max_n``-grams within runs of Han characters, plus the
    Latin words of the text (Chinese and Japanese text)."""
    grams: list[str] = []
    for run in _HAN_RUN.findall(text):
        for n in range(1, max_n + 1):
            grams.extend(run[i : i + n] for i in range(len(run) - n + 1))
    grams.extend(_WORD.findall(text.lower()))
    return grams


def tokenize(text: str, language: str | None, max_n: int = 2) -> list[str]:
    """The n-gram tokens of ``text`` for ``language`` (``"zh"``/``"ja"`` use characters)."""
    if language in ("zh", "ja"):
        return char_ngrams(text, max_n)
    return word_ngrams(text, max_n)


def token_counts(text: str, language: str | None, max_n: int = 2) -> Counter[str]:
    """Counts of the n-gram tokens of ``text``."""
    return Counter(tokenize(text, language, max_n))
