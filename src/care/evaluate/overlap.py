"""Overlap of rationales with reference rationales: BLEU and ROUGE, and the
:class:`RationaleMetric` every rationale metric returns (their exact variants are
described in :mod:`care.evaluate.rationales`)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata

from care.data.language import detect_language
from care.errors import ParameterError

__all__ = ["RationaleMetric", "bleu", "bleu_tokenizer", "rouge", "rouge_tokens"]

_WORD = re.compile(r"\w+")
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_SPLIT = re.compile(f"[{_CJK}]|[^{_CJK}]+")


@dataclass(frozen=True)
class RationaleMetric:
    """One rationale metric's value.

    Attributes:
        name: ``"bleu"``, ``"rouge1"``, ``"rougeL"``, ``"bertscore_f1"``, ...
        value: The value (BLEU on 0-100, the others on 0-1); NaN when undefined.
        variant: Exactly which variant was computed (tokenizer, averaging, versions).
        n: How many (rationale, reference) pairs it was computed on.
    """

    name: str
    value: float
    variant: str
    n: int


# ----------------------------------------------------------------------- languages


def _language_of(language: str | None, texts: Iterable[str]) -> str:
    if language:
        return language.split("-")[0].split("_")[0].lower()
    return detect_language(" ".join(texts)[:20000]) or "en"


def _check_pairs(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise ParameterError(
            "hypotheses and references must be sequences of texts, got a single string",
            field="hypotheses",
            fix="pass lists, e.g. bleu([rationale], [reference])",
        )
    if len(hypotheses) != len(references):
        raise ParameterError(
            f"hypotheses and references must have the same length, got {len(hypotheses)} "
            f"and {len(references)}",
            field="references",
            fix="pass one reference rationale per rationale, in the same order",
        )
    for name, texts in (("hypotheses", hypotheses), ("references", references)):
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise ParameterError(
                    f"{name}[{position}] must be a string, got {type(text).__name__}",
                    field=f"{name}[{position}]",
                    fix="pass the rationale texts as strings",
                )


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:  # pragma: no cover - installed with care
        return "unknown"


# ---------------------------------------------------------------------------- BLEU


def bleu_tokenizer(language: str) -> str:
    """The sacrebleu tokenizer used for ``language``: ``zh``, ``char`` (ja) or ``13a``."""
    if language == "zh":
        return "zh"
    if language == "ja":
        return "char"
    return "13a"


def bleu(
    hypotheses: Sequence[str], references: Sequence[str], language: str | None = "en"
) -> RationaleMetric:
    """sacrebleu corpus BLEU (0-100) of rationales against one reference each.

    Args:
        hypotheses: The rationales to score.
        references: One reference rationale per rationale.
        language: ``"en"``, ``"zh"``, ``"ja"``, ...; it picks the tokenizer (see the
            module docstring). None detects it from the references.

    Returns:
        The score, with the sacrebleu signature in its variant; NaN for no pairs.
    """
    _check_pairs(hypotheses, references)
    from sacrebleu.metrics import BLEU

    language = _language_of(language, references)
    metric = BLEU(tokenize=bleu_tokenizer(language))
    if not hypotheses:
        metric.corpus_score([""], [[""]])  # sets the signature's reference count
        value = math.nan
    else:
        value = float(metric.corpus_score(list(hypotheses), [list(references)]).score)
    variant = f"sacrebleu corpus BLEU, 0-100, signature {metric.get_signature()}"
    return RationaleMetric("bleu", value, variant, len(hypotheses))


# --------------------------------------------------------------------------- ROUGE

_JIEBA_READY = False


def _jieba_words(text: str) -> list[str]:
    global _JIEBA_READY
    import jieba

    if not _JIEBA_READY:
        import logging

        jieba.setLogLevel(logging.WARNING)
        _JIEBA_READY = True
    return jieba.lcut(text)


def rouge_tokens(text: str, language: str = "en") -> list[str]:
    """The tokens ROUGE is computed on (see the module docstring).

    >>> rouge_tokens("The cat, the MAT!")
    ['the', 'cat', 'the', 'mat']
    """
    if language == "zh":
        raw = [token.strip().lower() for token in _jieba_words(text)]
        return [token for token in raw if token and _WORD.search(token)]
    if language == "ja":
        tokens: list[str] = []
        for word in _WORD.findall(text.lower()):
            tokens.extend(_CJK_SPLIT.findall(word))  # CJK runs as characters, Latin words whole
        return tokens
    return _WORD.findall(text.lower())


class _Tokenizer:
    """The tokenizer object rouge-score expects (a ``tokenize(text)`` method)."""

    def __init__(self, language: str) -> None:
        self.language = language

    def tokenize(self, text: str) -> list[str]:
        return rouge_tokens(text, self.language)


def _rouge_tokenizer_name(language: str) -> str:
    if language == "zh":
        return f"jieba {_version('jieba')} words, lower-cased, punctuation dropped"
    if language == "ja":
        return "single CJK characters and lower-cased \\w+ words, punctuation dropped"
    return "lower-cased \\w+ words, punctuation dropped"


def rouge(
    hypotheses: Sequence[str], references: Sequence[str], language: str | None = "en"
) -> dict[str, RationaleMetric]:
    """ROUGE-1 and ROUGE-L F1 (0-1) of rationales against references, averaged over pairs.

    Args:
        hypotheses: The rationales to score.
        references: One reference rationale per rationale.
        language: Picks the tokenizer (:func:`rouge_tokens`); None detects it from the
            references.

    Returns:
        ``{"rouge1": ..., "rougeL": ...}``; NaN for no pairs.
    """
    _check_pairs(hypotheses, references)
    from rouge_score import rouge_scorer

    language = _language_of(language, references)
    scorer = rouge_scorer.RougeScorer(
        ["rouge1", "rougeL"], use_stemmer=False, tokenizer=_Tokenizer(language)
    )
    sums = {"rouge1": 0.0, "rougeL": 0.0}
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        scores = scorer.score(reference, hypothesis)  # rouge-score takes (target, prediction)
        for key in sums:
            sums[key] += float(scores[key].fmeasure)
    n = len(hypotheses)
    out = {}
    for key, label in (("rouge1", "ROUGE-1"), ("rougeL", "ROUGE-L (sentence-level LCS)")):
        variant = (
            f"{label} F1, rouge-score {_version('rouge-score')}, no stemming, tokenizer: "
            f"{_rouge_tokenizer_name(language)}; mean over pairs"
        )
        out[key] = RationaleMetric(key, sums[key] / n if n else math.nan, variant, n)
    return out
