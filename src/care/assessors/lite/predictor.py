"""Predictions of a :class:`LiteModel`, and the evidence behind them.

The model is linear in its features, so each dimension's score decomposes exactly into
an intercept, a session-level part (length and pace) and one share per turn (see
:meth:`TfidfVocabulary.token_effects`). The turns with the largest shares are the
evidence; within a turn, the sentence with the largest share is quoted verbatim.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from care.assessors.lite.features import TokenizedSession, feature_matrix
from care.assessors.lite.model import LiteModel
from care.assessors.lite.text import token_counts
from care.instruments import (
    Instrument,
    get_instrument,
    instrument_from_dict,
    register_instrument,
)
from care.results import Evidence

_SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？…]*[\"'”’）)]*")
MAX_QUOTE_CHARS = 160


@dataclass
class TurnShare:
    """One turn's share of one dimension's predicted score."""

    turn_index: int
    contribution: float


class LitePredictor:
    """Applies a :class:`LiteModel` to tokenised sessions."""

    def __init__(self, model: LiteModel) -> None:
        self.model = model
        definition = model.info.get("instrument_definition")
        if definition is not None:
            register_instrument(instrument_from_dict(definition))
        self.instrument: Instrument = get_instrument(model.config.instrument)
        ids = model.item_ids
        self._columns = {
            name: [ids.index(item_id) for item_id in item_ids]
            for name, item_ids in self.instrument.dimensions.items()
        }
        if not self._columns:
            self._columns = {
                "total": [ids.index(item_id) for item_id in self.instrument.scored_item_ids]
            }
        slope = model.calibration[0]
        self._dimension_weights = {
            name: (model.coef[:, columns] * slope[columns]).mean(axis=1)
            for name, columns in self._columns.items()
        }
        offsets = [0]
        for vocabulary in model.vocabularies:
            offsets.append(offsets[-1] + len(vocabulary))
        self._offsets = offsets
        low = [self.instrument.scale_for(item_id).min for item_id in ids]
        high = [self.instrument.scale_for(item_id).max for item_id in ids]
        self._low = np.array(low, dtype=float)
        self._high = np.array(high, dtype=float)

    @property
    def dimensions(self) -> list[str]:
        """The dimensions evidence is given for."""
        return list(self._columns)

    def features(self, tokenized: Sequence[TokenizedSession]) -> Any:
        """The model's feature matrix for the sessions."""
        model = self.model
        return feature_matrix(
            tokenized,
            model.config.blocks,
            model.vocabularies,
            model.dense_mean,
            model.dense_scale,
            model.config.dense_weight,
        )

    def predict(self, tokenized: Sequence[TokenizedSession]) -> tuple[np.ndarray, Any]:
        """Item predictions (sessions x items) on the items' scales, and the features."""
        matrix = self.features(tokenized)
        raw = matrix @ self.model.coef + self.model.intercept
        calibrated = raw * self.model.calibration[0] + self.model.calibration[1]
        return np.clip(calibrated, self._low, self._high), matrix

    def block_effects(
        self, item: TokenizedSession, row: Any, dimension: str
    ) -> list[tuple[set[int], dict[str, float]]]:
        """Per block: the turns it selects and the effect of each occurrence of each token
        on ``dimension`` (``row``: the session's feature row)."""
        weights = self._dimension_weights[dimension]
        result = []
        for position, (block, vocabulary) in enumerate(
            zip(self.model.config.blocks, self.model.vocabularies, strict=True)
        ):
            turn_indices = item.block_turns(block)
            if not turn_indices:
                continue
            start, end = self._offsets[position], self._offsets[position + 1]
            effects = vocabulary.token_effects(
                item.block_document(block), row[:, start:end], weights[start:end]
            )
            result.append((set(turn_indices), effects))
        return result

    def evidence(
        self, item: TokenizedSession, row: Any, dimension: str, per_direction: int = 2
    ) -> list[Evidence]:
        """The turns that raised and lowered ``dimension`` most, each quoted."""
        effects = self.block_effects(item, row, dimension)
        shares = [
            TurnShare(index, _effect_of(counts, index, effects))
            for index, counts in enumerate(item.turn_counts)
        ]
        ordered = sorted(shares, key=lambda share: share.contribution)
        lowering = [share for share in ordered[:per_direction] if share.contribution < 0]
        raising = [share for share in reversed(ordered[-per_direction:]) if share.contribution > 0]
        result = []
        for share in raising + lowering:
            text = item.session.turns[share.turn_index].text
            sign = 1.0 if share.contribution >= 0 else -1.0
            sentences = [match.group().strip() for match in _SENTENCE.finditer(text)]
            sentences = [sentence for sentence in sentences if sentence]
            quote = text.strip()
            if len(sentences) > 1:
                max_n = self.model.config.max_n
                quote = max(
                    sentences,
                    key=lambda sentence: (
                        sign
                        * _effect_of(
                            token_counts(sentence, item.language, max_n), share.turn_index, effects
                        )
                    ),
                )
            result.append(
                Evidence(
                    turn_index=share.turn_index,
                    quote=shorten(quote),
                    contribution=round(share.contribution, 4),
                    dimension=dimension,
                    verbatim=True,
                )
            )
        return result


def _effect_of(
    counts: Counter[str], turn_index: int, block_effects: list[tuple[set[int], dict[str, float]]]
) -> float:
    """The summed effect of the tokens ``counts`` spoken in turn ``turn_index``."""
    total = 0.0
    for turn_indices, effects in block_effects:
        if turn_index in turn_indices:
            total += sum(count * effects.get(token, 0.0) for token, count in counts.items())
    return total


def shorten(text: str, limit: int = MAX_QUOTE_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary where there is one,
    so that the result is still a substring of ``text``."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return cut[:space] if space > limit // 2 else cut
