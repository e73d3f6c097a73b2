"""Rationale quality: overlap with reference rationales, and faithfulness of quotes.

Every metric states its exact variant (the ``variant`` of a :class:`RationaleMetric`), so
that a reader can reproduce the number. The variants:

BLEU
    sacrebleu's corpus BLEU (``sacrebleu.metrics.BLEU``) over all (rationale, reference)
    pairs of one language, one reference per rationale, on a 0-100 scale, with sacrebleu's
    defaults otherwise (mixed case, exponential smoothing, 4-grams). Tokenization:
    ``zh`` (every CJK character a token, other text by 13a) for Chinese, ``char`` for
    Japanese, ``13a`` for every other language. The sacrebleu signature is part of the
    variant, e.g. ``nrefs:1|case:mixed|eff:no|tok:zh|smooth:exp|version:2.6.0``.

ROUGE-1 and ROUGE-L
    rouge-score's ``RougeScorer(["rouge1", "rougeL"])`` F1 (the F-measure with beta = 1),
    averaged over pairs, without stemming, with care's tokenizer (:func:`rouge_tokens`):
    jieba words for Chinese, single CJK characters (plus Latin words) for Japanese, and
    lower-cased ``\\w+`` words for other languages; tokens without a letter or digit
    (punctuation, spaces) are dropped. rouge-score's own tokenizer keeps only ``a-z0-9``
    and so scores every Chinese text 0, which is why it is not used.

BERTScore
    Computed by care (no ``bert-score`` package) from a model on the local disk only
    (``--bertscore-model PATH``; nothing is ever downloaded): contextual embeddings of the
    tokens of both texts from one hidden layer (the last by default) of a Hugging Face
    encoder, special tokens left out, each token matched greedily to its most similar
    (cosine) token of the other text; precision averages over the rationale's tokens,
    recall over the reference's, F1 = 2PR/(P+R); no idf weighting and no baseline
    rescaling (as ``bert_score.score(..., idf=False, rescale_with_baseline=False)``).
    Values are averaged over pairs. Needs the ``bertscore`` extra (torch, transformers).

Quote faithfulness
    The share of quoted spans in the rationales that are found verbatim in the transcript
    of the session they explain (see :func:`extract_quotes` and :func:`quote_found` for
    exactly what counts). It needs no reference rationale.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from care.data.language import detect_language
from care.errors import MissingDependencyError, ParameterError
from care.evidence import (
    Transcript,
    extract_quotes,
    normalize_for_matching,
    quote_found,
)

__all__ = [
    "QuoteFaithfulness",
    "RationaleMetric",
    "bertscore",
    "bleu",
    "extract_quotes",
    "normalize_for_matching",
    "quote_faithfulness",
    "quote_found",
    "rouge",
    "rouge_tokens",
    "score_rationales",
]

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


# ----------------------------------------------------------------------- BERTScore


class BertScorer:
    """BERTScore from a Hugging Face encoder saved on the local disk (never downloaded).

    Args:
        model_path: Folder of a model saved with ``save_pretrained`` (config, weights and
            tokenizer files), e.g. a multilingual BERT for English and Chinese.
        layer: Hidden layer whose outputs are the token embeddings: an index into the
            model's hidden states (0 = embeddings, -1 = last layer, the default).
        batch_size: Texts embedded at once.
        max_length: Longest input in tokens; longer texts are truncated.

    Raises:
        ParameterError: If the folder does not exist or does not hold a model.
        MissingDependencyError: If torch or transformers is not installed.
    """

    def __init__(
        self,
        model_path: str | Path,
        layer: int = -1,
        batch_size: int = 16,
        max_length: int = 512,
    ) -> None:
        self.model_path = Path(model_path)
        self.layer = layer
        self.batch_size = batch_size
        self.max_length = max_length
        if not self.model_path.is_dir():
            raise ParameterError(
                f"the BERTScore model folder {str(self.model_path)!r} does not exist",
                field="--bertscore-model",
                fix="give the folder of a model saved locally with save_pretrained (config.json, "
                "weights, tokenizer files); care never downloads a model",
            )
        try:
            import torch
        except ImportError:
            raise MissingDependencyError("torch", "bertscore", "BERTScore") from None
        try:
            import transformers
        except ImportError:
            raise MissingDependencyError("transformers", "bertscore", "BERTScore") from None
        self._torch = torch
        try:
            self.tokenizer_ = transformers.AutoTokenizer.from_pretrained(
                str(self.model_path), local_files_only=True
            )
            self.model_ = transformers.AutoModel.from_pretrained(
                str(self.model_path), local_files_only=True
            )
        except (OSError, ValueError) as error:
            raise ParameterError(
                f"no usable model in {str(self.model_path)!r}: {str(error).splitlines()[0]}",
                field="--bertscore-model",
                fix="give a folder written by save_pretrained with both the model and its "
                "tokenizer",
            ) from None
        self.model_.eval()

    @property
    def variant(self) -> str:
        """The exact variant computed, for reports."""
        layer = "last layer" if self.layer == -1 else f"hidden layer {self.layer}"
        return (
            f"BERTScore computed by care with local model {self.model_path.name!r} ({layer}), "
            "greedy cosine matching of token embeddings, special tokens excluded, no idf "
            "weighting, no baseline rescaling; mean over pairs"
        )

    def _embed(self, texts: Sequence[str]) -> list[Any]:
        torch = self._torch
        out: list[Any] = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            encoded = self.tokenizer_(
                batch,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
                return_special_tokens_mask=True,
            )
            special = encoded.pop("special_tokens_mask")
            with torch.no_grad():
                hidden = self.model_(**encoded, output_hidden_states=True).hidden_states
            states = hidden[self.layer]
            keep = encoded["attention_mask"].bool() & ~special.bool()
            for row in range(len(batch)):
                vectors = states[row][keep[row]]
                out.append(torch.nn.functional.normalize(vectors.float(), dim=-1))
        return out

    def score(
        self, hypotheses: Sequence[str], references: Sequence[str]
    ) -> list[tuple[float, float, float]]:
        """(precision, recall, F1) of every pair; an empty text scores 0."""
        _check_pairs(hypotheses, references)
        hyp = self._embed(hypotheses)
        ref = self._embed(references)
        results = []
        for h, r in zip(hyp, ref, strict=True):
            if not len(h) or not len(r):
                results.append((0.0, 0.0, 0.0))
                continue
            sim = h @ r.T
            precision = float(sim.max(dim=1).values.mean())
            recall = float(sim.max(dim=0).values.mean())
            total = precision + recall
            f1 = 2 * precision * recall / total if total > 0 else 0.0
            results.append((precision, recall, f1))
        return results


def bertscore(
    hypotheses: Sequence[str],
    references: Sequence[str],
    model_path: str | Path | BertScorer,
    *,
    layer: int = -1,
) -> dict[str, RationaleMetric]:
    """BERTScore precision, recall and F1 (means over pairs) from a local model.

    Args:
        hypotheses: The rationales to score.
        references: One reference per rationale.
        model_path: Folder of a locally saved Hugging Face encoder, or a
            :class:`BertScorer` to reuse.
        layer: Hidden layer of the token embeddings (-1: the last).

    Returns:
        ``{"bertscore_precision": ..., "bertscore_recall": ..., "bertscore_f1": ...}``.

    Raises:
        MissingDependencyError: Without torch and transformers (``care-alliance[bertscore]``).
        ParameterError: If the folder holds no model.
    """
    _check_pairs(hypotheses, references)
    scorer = model_path if isinstance(model_path, BertScorer) else BertScorer(model_path, layer)
    scores = scorer.score(hypotheses, references) if hypotheses else []
    n = len(scores)
    out = {}
    for position, name in enumerate(("precision", "recall", "f1")):
        value = sum(s[position] for s in scores) / n if n else math.nan
        out[f"bertscore_{name}"] = RationaleMetric(
            f"bertscore_{name}", value, f"{name}: {scorer.variant}", n
        )
    return out


# ------------------------------------------------------------------------- quotes


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


# -------------------------------------------------------------------- all at once


def score_rationales(
    hypotheses: Sequence[str],
    references: Sequence[str] | None = None,
    transcripts: Sequence[Transcript] | None = None,
    *,
    language: str | None = None,
    bertscore_model: str | Path | BertScorer | None = None,
) -> dict[str, Any]:
    """Every rationale metric that the inputs allow, as a JSON-ready mapping.

    Args:
        hypotheses: The rationales to score.
        references: Reference rationales (one per rationale) for BLEU, ROUGE and
            BERTScore; None skips these.
        transcripts: Transcripts for quote faithfulness; None skips it.
        language: Language of the texts (picks tokenizers); None detects it from the
            references (or the rationales).
        bertscore_model: Local model folder for BERTScore; None skips it.

    Returns:
        ``{"language": ..., "n": ..., "metrics": {name: {"value", "variant", "n"}},
        "quote_faithfulness": {...}}``.
    """
    language = _language_of(language, references if references else hypotheses)
    result: dict[str, Any] = {"language": language, "n": len(hypotheses), "metrics": {}}
    metrics: dict[str, RationaleMetric] = {}
    if references is not None:
        metrics["bleu"] = bleu(hypotheses, references, language)
        metrics.update(rouge(hypotheses, references, language))
        if bertscore_model is not None:
            metrics.update(bertscore(hypotheses, references, bertscore_model))
    result["metrics"] = {
        name: {"value": m.value, "variant": m.variant, "n": m.n} for name, m in metrics.items()
    }
    if transcripts is not None:
        faith = quote_faithfulness(hypotheses, transcripts)
        result["quote_faithfulness"] = {
            "share": faith.share,
            "n_quotes": faith.n_quotes,
            "n_found": faith.n_found,
            "n_rationales": faith.n_rationales,
            "n_with_quotes": faith.n_with_quotes,
            "unmatched": faith.unmatched,
            "variant": faith.variant,
        }
    return result
