"""Predictions of a :class:`LiteModel`, and the evidence behind them.

The model is linear in its features, so each dimension's score decomposes exactly into
an intercept, a session-level part (length and pace) and one share per turn. A block's
feature ``x`` for a token is split equally over the token's ``d`` occurrences in the
block's document: each occurrence moves the dimension scores by ``x / d * w`` (``w``:
the token's per-dimension weights). A turn's share is therefore its row of token counts
times those effects, summed over the blocks that select it: for a whole batch, one
sparse element-wise product and one sparse-dense product per block. The turns with the
largest shares are the evidence; within a turn, the sentence with the largest share
(computed the same way) is quoted verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from scipy import sparse

from care.assessors.lite.model import LiteModel
from care.assessors.lite.token_index import TokenIndex
from care.assessors.lite.turns import TurnMatrix
from care.data.session import Session
from care.features.length import length_matrix, standardize
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
class Prediction:
    """A batch's predictions and their decomposition.

    Attributes:
        values: Item predictions on the items' scales (sessions x items).
        shares: Each turn's share of each dimension's score (turns x dimensions, rows as
            in :attr:`TurnMatrix.counts`).
        session_parts: The part of each dimension's score that no turn carries, the
            intercept and the length features (sessions x dimensions). A session's
            shares plus its part sum to its (unclipped) dimension scores.
        pairs: Every (session, token) pair of the batch, as ``session *
            len(TokenIndex) + token id``, sorted.
        effects: What one occurrence of each pair's token does to every dimension's
            score through each block (pairs + 1 rows: a last row of zeros for tokens
            absent from their session; blocks x dimensions columns, block by block).
        starts: Row of each session's first turn, plus the number of rows.
        features: Each block's weighted TF-IDF rows of the sessions (sessions x the
            block's vocabulary), as in the model's input.
    """

    values: np.ndarray
    shares: np.ndarray
    session_parts: np.ndarray
    pairs: np.ndarray
    effects: np.ndarray
    starts: np.ndarray
    features: list[sparse.csr_matrix]

    def session_shares(self, position: int) -> np.ndarray:
        """The turn shares (turns x dimensions) of the session at ``position``."""
        return self.shares[self.starts[position] : self.starts[position + 1]]

    def codes(self, keys: np.ndarray) -> np.ndarray:
        """The row of :attr:`effects` of each of ``keys`` (the zero row if absent)."""
        at = np.searchsorted(self.pairs, keys)
        at[at == len(self.pairs)] = 0
        found = self.pairs[at] == keys if len(self.pairs) else np.zeros(len(keys), bool)
        return np.where(found, at, len(self.pairs))


class LitePredictor:
    """Applies a :class:`LiteModel` to batches of sessions."""

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
        slope, offset = model.calibration
        weights = np.column_stack(
            [
                (model.coef[:, columns] * slope[columns]).mean(axis=1)
                for columns in self._columns.values()
            ]
        )
        offsets = [0]
        for vocabulary in model.vocabularies:
            offsets.append(offsets[-1] + len(vocabulary))
        spans = list(pairwise(offsets))
        self._block_coef = [np.ascontiguousarray(model.coef[a:b]) for a, b in spans]
        self._block_weights = [np.ascontiguousarray(weights[a:b]) for a, b in spans]
        self._dense_coef = np.ascontiguousarray(model.coef[offsets[-1] :])
        self._dense_weights = np.ascontiguousarray(weights[offsets[-1] :])
        self._constant = np.array(
            [
                np.mean(model.intercept[columns] * slope[columns] + offset[columns])
                for columns in self._columns.values()
            ]
        )
        self.index = TokenIndex(model.vocabularies, model.config.max_n, model.config.tokenizer)
        low = [self.instrument.scale_for(item_id).min for item_id in ids]
        high = [self.instrument.scale_for(item_id).max for item_id in ids]
        self._low = np.array(low, dtype=float)
        self._high = np.array(high, dtype=float)

    @property
    def dimensions(self) -> list[str]:
        """The dimensions evidence is given for."""
        return list(self._columns)

    def turn_matrix(self, sessions: Sequence[Session], language: str) -> TurnMatrix:
        """``sessions`` (all in ``language``) tokenised once into a turn x token matrix."""
        return TurnMatrix.build(sessions, language, self.index, self.model.config.blocks)

    def predict(self, batch: TurnMatrix) -> Prediction:
        """Item predictions of the batch's sessions, with each turn's share of each
        dimension's score."""
        model = self.model
        n_sessions = len(batch.sessions)
        dense = standardize(length_matrix(batch.sessions), model.dense_mean, model.dense_scale)
        dense = dense * model.config.dense_weight
        raw = dense @ self._dense_coef + model.intercept
        # every (session, token) pair of the batch, and each turn entry's pair
        counts = batch.counts
        row_of = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
        keys = batch.session_of[row_of] * len(self.index) + counts.indices
        pairs, pair_of = np.unique(keys, return_inverse=True)
        pair_session = pairs // len(self.index)
        pair_token = pairs % len(self.index)
        incidence = sparse.csr_matrix(
            (counts.data, pair_of, counts.indptr), shape=(counts.shape[0], len(pairs) + 1)
        )
        selected = np.column_stack(batch.in_block).astype(float)
        # each block's document counts, pair by pair
        totals = np.asarray(incidence.T @ selected)
        block_effects = []
        block_features = []
        for position, (block, vocabulary) in enumerate(
            zip(model.config.blocks, model.vocabularies, strict=True)
        ):
            columns = self.index.block_columns[position][pair_token]
            entries = np.flatnonzero((totals[:-1, position] > 0) & (columns >= 0))
            indptr = np.searchsorted(pair_session[entries], np.arange(n_sessions + 1))
            documents = sparse.csr_matrix(
                (totals[entries, position], columns[entries], indptr),
                shape=(n_sessions, len(vocabulary)),
            )
            features = vocabulary.weigh(documents)
            features.data *= block.weight
            block_features.append(features)
            raw += features @ self._block_coef[position]
            weights = np.take(self._block_weights[position], columns[entries], axis=0)
            block_effect = np.zeros((len(pairs) + 1, len(self._columns)))
            block_effect[entries] = (features.data / documents.data)[:, None] * weights
            block_effects.append(block_effect)
        effects = np.hstack(block_effects)
        shares = self._row_shares(incidence, effects, selected)
        slope, offset = model.calibration
        values = np.clip(raw * slope + offset, self._low, self._high)
        parts = self._constant + dense @ self._dense_weights
        return Prediction(values, shares, parts, pairs, effects, batch.starts, block_features)

    def _row_shares(
        self, incidence: sparse.csr_matrix, effects: np.ndarray, selected: np.ndarray
    ) -> np.ndarray:
        """Per row of ``incidence`` (token counts by pair), the sum over its tokens of
        count times effect, over the blocks that select the row (``selected``: rows x
        blocks)."""
        through = incidence @ effects
        n_dimensions = len(self._columns)
        shares = np.zeros((incidence.shape[0], n_dimensions))
        for position in range(selected.shape[1]):
            span = slice(position * n_dimensions, (position + 1) * n_dimensions)
            shares += through[:, span] * selected[:, position, None]
        return shares

    def evidence(
        self, batch: TurnMatrix, prediction: Prediction, per_direction: int = 2
    ) -> list[dict[str, list[Evidence]]]:
        """Per session and dimension, the turns that raised and lowered it most, each
        quoted."""
        chosen: list[list[list[tuple[int, float]]]] = []
        wanted: dict[int, None] = {}
        for position in range(len(batch.sessions)):
            shares = prediction.session_shares(position)
            order = np.argsort(shares, axis=0, kind="stable")
            start = int(batch.starts[position])
            per_dimension = []
            for column in range(len(self._columns)):
                ranked = order[:, column]
                values = shares[:, column]
                lowering = [i for i in ranked[:per_direction] if values[i] < 0]
                raising = [i for i in ranked[::-1][:per_direction] if values[i] > 0]
                picks = [(int(i), float(values[i])) for i in raising + lowering]
                per_dimension.append(picks)
                wanted.update((start + turn, None) for turn, _ in picks)
            chosen.append(per_dimension)
        sentences = self._sentence_shares(batch, prediction, list(wanted))
        results = []
        for position, per_dimension in enumerate(chosen):
            start = int(batch.starts[position])
            result: dict[str, list[Evidence]] = {}
            for column, (dimension, picks) in enumerate(
                zip(self._columns, per_dimension, strict=True)
            ):
                result[dimension] = [
                    Evidence(
                        turn_index=turn,
                        quote=_quote(*sentences[start + turn], column, contribution),
                        contribution=round(contribution, 4),
                        dimension=dimension,
                        verbatim=True,
                    )
                    for turn, contribution in picks
                ]
            results.append(result)
        return results

    def _sentence_shares(
        self, batch: TurnMatrix, prediction: Prediction, rows: list[int]
    ) -> dict[int, tuple[str, list[str], np.ndarray | None]]:
        """For each batch row in ``rows``: the turn's text, its sentences and each
        sentence's share of each dimension's score (None for a turn of one sentence)."""
        found: dict[int, tuple[str, list[str], np.ndarray | None]] = {}
        split: list[tuple[int, list[str], int]] = []
        texts: list[str] = []
        opens: list[bool] = []
        owners: list[int] = []
        for row in rows:
            text = batch.turn(row).text
            sentences = [match.group().strip() for match in _SENTENCE.finditer(text)]
            sentences = [sentence for sentence in sentences if sentence]
            if len(sentences) <= 1:
                found[row] = (text, sentences, None)
                continue
            split.append((row, sentences, len(texts)))
            texts.extend(sentences)
            opens.extend(at == 0 for at in range(len(sentences)))
            owners.extend([row] * len(sentences))
        if split:
            closes = [*opens[1:], True]
            counts = self.index.count(texts, batch.language, opens, closes)
            turns = np.asarray(owners)
            row_of = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
            keys = batch.session_of[turns[row_of]] * len(self.index) + counts.indices
            incidence = sparse.csr_matrix(
                (counts.data, prediction.codes(keys), counts.indptr),
                shape=(counts.shape[0], len(prediction.effects)),
            )
            selected = np.column_stack([rows[turns] for rows in batch.in_block]).astype(float)
            shares = self._row_shares(incidence, prediction.effects, selected)
            for row, sentences, first in split:
                found[row] = (
                    batch.turn(row).text,
                    sentences,
                    shares[first : first + len(sentences)],
                )
        return found


def _quote(
    text: str,
    sentences: list[str],
    shares: np.ndarray | None,
    column: int,
    contribution: float,
) -> str:
    """The sentence that carries most of its turn's share (same sign), shortened to an
    exact substring of the turn; the whole turn where it is one sentence."""
    if shares is None:
        return shorten(text.strip())
    sign = 1.0 if contribution >= 0 else -1.0
    return shorten(sentences[int(np.argmax(sign * shares[:, column]))])


def shorten(text: str, limit: int = MAX_QUOTE_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary where there is one,
    so that the result is still a substring of ``text``."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return cut[:space] if space > limit // 2 else cut
