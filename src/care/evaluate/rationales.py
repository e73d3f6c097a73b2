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
    of the session they explain (see :func:`~care.evaluate.quotes.extract_quotes` and
    :func:`~care.evaluate.quotes.quote_found` for exactly what counts). It needs no
    reference rationale.

:func:`score_rationales` computes every metric the inputs allow. The metrics live in
:mod:`care.evaluate.overlap` (BLEU, ROUGE), :mod:`care.evaluate.bertscore` and
:mod:`care.evaluate.quotes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from care.evaluate.bertscore import BertScorer, bertscore
from care.evaluate.overlap import RationaleMetric, _language_of, bleu, rouge
from care.evaluate.quotes import Transcript, quote_faithfulness

__all__ = ["score_rationales"]


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
