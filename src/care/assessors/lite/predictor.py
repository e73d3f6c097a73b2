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
        self._weights = np.column_stack(
            [
                (model.coef[:, columns] * slope[columns]).mean(axis=1)
                for columns in self._columns.values()
            ]
        )
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
        self, item: TokenizedSession, row: Any
    ) -> list[tuple[set[int], dict[str, np.ndarray]]]:
        """Per block: the turns it selects and, for each token, the effect of one
        occurrence on every dimension (``row``: the session's feature row)."""
        result = []
        for position, (block, vocabulary) in enumerate(
            zip(self.model.config.blocks, self.model.vocabularies, strict=True)
        ):
            turn_indices = item.block_turns(block)
            if not turn_indices:
                continue
            start, end = self._offsets[position], self._offsets[position + 1]
            effects = vocabulary.token_effects(
                item.block_document(block), row[:, start:end], self._weights[start:end]
            )
            result.append((set(turn_indices), effects))
        return result

    def turn_shares(
        self, item: TokenizedSession, row: Any, effects: list | None = None
    ) -> np.ndarray:
        """Each turn's share of each dimension's score (turns x dimensions)."""
        effects = self.block_effects(item, row) if effects is None else effects
        zero = np.zeros(len(self.dimensions))
        return np.array(
            [
                _effect_of(counts, index, effects, zero)
                for index, counts in enumerate(item.turn_counts)
            ]
        ).reshape(len(item.turn_counts), len(self.dimensions))

    def session_part(self, row: Any) -> np.ndarray:
        """The part of each dimension's score that no turn carries: the intercept and
        the length features. With :meth:`turn_shares` it sums to the (unclipped) score."""
        dense_start = self._offsets[-1]
        dense = np.asarray(row[:, dense_start:].todense()).ravel()
        slope, offset = self.model.calibration
        constant = [
            float(np.mean(self.model.intercept[columns] * slope[columns] + offset[columns]))
            for columns in self._columns.values()
        ]
        return np.asarray(constant) + dense @ self._weights[dense_start:]

    def evidence(
        self, item: TokenizedSession, row: Any, per_direction: int = 2
    ) -> dict[str, list[Evidence]]:
        """Per dimension, the turns that raised and lowered it most, each quoted."""
        effects = self.block_effects(item, row)
        zero = np.zeros(len(self.dimensions))
        shares = self.turn_shares(item, row, effects)
        result: dict[str, list[Evidence]] = {}
        for column, dimension in enumerate(self.dimensions):
            order = np.argsort(shares[:, column], kind="stable")
            lowering = [i for i in order[:per_direction] if shares[i, column] < 0]
            raising = [i for i in order[::-1][:per_direction] if shares[i, column] > 0]
            pieces = []
            for index in raising + lowering:
                contribution = float(shares[index, column])
                quote = self._quote(item, int(index), column, contribution, effects, zero)
                pieces.append(
                    Evidence(
                        turn_index=int(index),
                        quote=quote,
                        contribution=round(contribution, 4),
                        dimension=dimension,
                        verbatim=True,
                    )
                )
            result[dimension] = pieces
        return result

    def _quote(
        self,
        item: TokenizedSession,
        index: int,
        column: int,
        contribution: float,
        effects: list[tuple[set[int], dict[str, np.ndarray]]],
        zero: np.ndarray,
    ) -> str:
        """The sentence of turn ``index`` that carries most of its share (same sign),
        shortened to an exact substring of the turn."""
        text = item.session.turns[index].text
        sentences = [match.group().strip() for match in _SENTENCE.finditer(text)]
        sentences = [sentence for sentence in sentences if sentence]
        if len(sentences) <= 1:
            return shorten(text.strip())
        sign = 1.0 if contribution >= 0 else -1.0
        max_n = self.model.config.max_n
        last = len(sentences) - 1

        def weight(position: int) -> float:
            counts = token_counts(
                sentences[position],
                item.language,
                max_n,
                item.tokenizer,
                starts_turn=position == 0,
                ends_turn=position == last,
            )
            return sign * float(_effect_of(counts, index, effects, zero)[column])

        return shorten(sentences[max(range(len(sentences)), key=weight)])


def _effect_of(
    counts: Counter[str],
    turn_index: int,
    block_effects: list[tuple[set[int], dict[str, np.ndarray]]],
    zero: np.ndarray,
) -> np.ndarray:
    """The summed effect on every dimension of the tokens ``counts`` spoken in turn
    ``turn_index``."""
    total = zero
    for turn_indices, effects in block_effects:
        if turn_index in turn_indices:
            for token, count in counts.items():
                effect = effects.get(token)
                if effect is not None:
                    total = total + count * effect
    return total


def shorten(text: str, limit: int = MAX_QUOTE_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary where there is one,
    so that the result is still a substring of ``text``."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return cut[:space] if space > limit // 2 else cut
