"""The built-in model's signals of a session: its transcript profile plus how much of it
the model knows and how much evidence it finds (:data:`care.features.profile.MODEL_SIGNALS`).

They feed the residual-size model of the adaptive intervals and the out-of-domain score.
Computed the same way for held-out folds in cross-validation (with the fold's model, from
its :class:`TokenizedSession` list: :func:`lite_signals`) and for new sessions (with the
shipped model, from the batch the prediction already tokenised: :func:`batch_signals`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import sparse

from care.assessors.lite.features import BlockSpec, TokenizedSession, feature_matrix
from care.assessors.lite.predictor import LitePredictor, Prediction
from care.assessors.lite.turns import TurnMatrix
from care.assessors.lite.vectorizer import TfidfVocabulary
from care.features.profile import MODEL_SIGNALS, PROFILE_SIGNALS, profile_matrix

LITE_SIGNAL_NAMES = [signal.name for signal in (*PROFILE_SIGNALS, *MODEL_SIGNALS)]
"""The signals of the built-in model, in the order of :func:`lite_signals`."""


def known_share(
    tokenized: Sequence[TokenizedSession],
    blocks: Sequence[BlockSpec],
    vocabularies: Sequence[TfidfVocabulary],
    role: str,
) -> np.ndarray:
    """Per session, the share of ``role``'s token occurrences (all its turns) that the
    vocabulary of the model's first ``role`` block knows; NaN without such turns or block."""
    position = next((i for i, block in enumerate(blocks) if block.role == role), None)
    shares = np.full(len(tokenized), np.nan)
    if position is None:
        return shares
    vocabulary = vocabularies[position].vocabulary
    for row, item in enumerate(tokenized):
        counts: Counter[str] = Counter()
        for turn, turn_counts in zip(item.session.turns, item.turn_counts, strict=True):
            if turn.role == role:
                counts.update(turn_counts)
        total = sum(counts.values())
        if total:
            shares[row] = sum(n for token, n in counts.items() if token in vocabulary) / total
    return shares


def evidence_mass(
    matrix: sparse.csr_matrix, coef: np.ndarray, n_text_columns: int, outputs: Sequence[int]
) -> np.ndarray:
    """Per session, the summed absolute effect of its n-gram features on the mean of the
    ``outputs`` (``sum_j |x_j w_j|`` over the TF-IDF columns): how much the words move the
    score, whichever way."""
    weights = np.asarray(coef[:n_text_columns][:, list(outputs)]).mean(axis=1)
    text = matrix[:, :n_text_columns].tocsr()
    return np.asarray(abs(text.multiply(weights[None, :])).sum(axis=1)).ravel()


def lite_signals(
    tokenized: Sequence[TokenizedSession],
    blocks: Sequence[BlockSpec],
    vocabularies: Sequence[TfidfVocabulary],
    matrix: sparse.csr_matrix,
    coef: np.ndarray,
    outputs: Sequence[int],
) -> np.ndarray:
    """The :data:`LITE_SIGNAL_NAMES` of the sessions (sessions x signals), given a
    model's vocabularies, its feature matrix of the sessions, its weights and the outputs
    whose mean the evidence mass is taken over (the scored items)."""
    n_text = sum(len(vocabulary) for vocabulary in vocabularies)
    return np.column_stack(
        [
            profile_matrix([item.session for item in tokenized]),
            known_share(tokenized, blocks, vocabularies, "client"),
            known_share(tokenized, blocks, vocabularies, "counselor"),
            evidence_mass(matrix, coef, n_text, outputs),
        ]
    )


def batch_signals(
    predictor: LitePredictor,
    batch: TurnMatrix,
    prediction: Prediction,
    outputs: Sequence[int],
) -> np.ndarray:
    """:func:`lite_signals` of a batch the predictor has tokenised and predicted, from its
    turn x token counts and block features (no second tokenisation)."""
    model = predictor.model
    n_sessions = len(batch.sessions)
    columns = [
        _known_share_of_batch(predictor, batch, role, n_sessions)
        for role in ("client", "counselor")
    ]
    weights = np.asarray(model.coef[:, list(outputs)]).mean(axis=1)
    mass = np.zeros(n_sessions)
    offset = 0
    for features in prediction.features:
        width = features.shape[1]
        mass += abs(features) @ np.abs(weights[offset : offset + width])
        offset += width
    return np.column_stack([profile_matrix(batch.sessions), *columns, mass])


def _known_share_of_batch(
    predictor: LitePredictor, batch: TurnMatrix, role: str, n_sessions: int
) -> np.ndarray:
    """:func:`known_share` of a batch's sessions, from its counts and token totals."""
    blocks = predictor.model.config.blocks
    position = next((i for i, block in enumerate(blocks) if block.role == role), None)
    if position is None:
        return np.full(n_sessions, np.nan)
    in_vocabulary = (predictor.index.block_columns[position] >= 0).astype(float)
    mine = batch.roles == role
    known = np.bincount(
        batch.session_of[mine], weights=(batch.counts @ in_vocabulary)[mine], minlength=n_sessions
    )
    total = np.bincount(batch.session_of[mine], weights=batch.totals[mine], minlength=n_sessions)
    shares = np.full(n_sessions, np.nan)
    np.divide(known, total, out=shares, where=total > 0)
    return shares


class FoldSignals:
    """Collects the held-out sessions' signals during cross-validation, each computed
    with the model of the fold it was held out in (pass as ``on_fold`` to
    :func:`care.train.lite.cross_validate`).

    Args:
        blocks, dense_weight: The model configuration's blocks and length weight.
        outputs: The columns of the scored items (for the evidence mass).
    """

    def __init__(self, blocks: Sequence[BlockSpec], dense_weight: float, outputs: Sequence[int]):
        self.blocks = tuple(blocks)
        self.dense_weight = dense_weight
        self.outputs = list(outputs)
        self._rows: dict[int, np.ndarray] = {}

    def __call__(
        self, test: np.ndarray, testing: Sequence[TokenizedSession], fitted: tuple
    ) -> None:
        vocabularies, dense_mean, dense_scale, coef, _ = fitted
        matrix = feature_matrix(
            testing, self.blocks, vocabularies, dense_mean, dense_scale, self.dense_weight
        )
        values = lite_signals(testing, self.blocks, vocabularies, matrix, coef, self.outputs)
        for index, row in zip(test, values, strict=True):
            self._rows[int(index)] = row

    def matrix(self, n_sessions: int) -> np.ndarray:
        """The signals of sessions ``0 .. n_sessions - 1`` (NaN for any not held out)."""
        result = np.full((n_sessions, len(LITE_SIGNAL_NAMES)), np.nan)
        for index, row in self._rows.items():
            result[index] = row
        return result
