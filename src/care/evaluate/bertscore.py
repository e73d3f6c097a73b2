"""BERTScore of rationales against references, from a model on the local disk only
(variant: :mod:`care.evaluate.rationales`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from care.errors import MissingDependencyError, ParameterError
from care.evaluate.overlap import RationaleMetric, _check_pairs

__all__ = ["BertScorer", "bertscore"]


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
