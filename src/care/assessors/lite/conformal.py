"""Intervals, percentiles and the domain reference of a built-in model, fitted on its
client-grouped cross-validation (``care train lite`` stores them in the model file)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from care.assessors.lite.model import LiteConfig
from care.assessors.lite.predictor import LitePredictor, Prediction
from care.assessors.lite.signals import LITE_SIGNAL_NAMES, FoldSignals, batch_signals
from care.assessors.lite.turns import TurnMatrix
from care.assessors.trust import TrustModel
from care.data.corpus import Corpus
from care.data.session import Session
from care.instruments import Instrument, get_instrument

if TYPE_CHECKING:
    from care.assessors.lite.fit import CrossValidation, Progress


def model_signals(
    predictor: LitePredictor, batch: TurnMatrix, prediction: Prediction
) -> np.ndarray:
    """The :data:`LITE_SIGNAL_NAMES` of a predicted batch of new sessions, computed as
    :class:`FoldSignals` computes them in cross-validation (the same tokens and features),
    so that new sessions are compared with the training sessions like for like."""
    outputs = scored_outputs(get_instrument(predictor.model.config.instrument))
    return batch_signals(predictor, batch, prediction, outputs)


def scored_outputs(instrument: Instrument) -> list[int]:
    """The model's output columns of the instrument's scored items (main scale)."""
    scored = set(instrument.scored_item_ids)
    return [k for k, item in enumerate(instrument.items) if item.id in scored]


def cross_validate_with_signals(
    corpus: Corpus | Sequence[Session],
    config: LiteConfig,
    n_splits: int = 5,
    progress: Progress | None = None,
    tfidf_baseline: bool = False,
) -> tuple[CrossValidation, np.ndarray]:
    """:func:`~care.assessors.lite.fit.cross_validate`, also returning each held-out
    session's signals computed with its fold's model (sessions x ``LITE_SIGNAL_NAMES``)."""
    from care.assessors.lite.fit import cross_validate  # the fitting code loads on demand

    instrument = get_instrument(config.instrument)
    collector = FoldSignals(config.blocks, config.dense_weight, scored_outputs(instrument))
    cv = cross_validate(
        corpus,
        config,
        n_splits=n_splits,
        progress=progress,
        tfidf_baseline=tfidf_baseline,
        on_fold=collector,
    )
    return cv, collector.matrix(len(cv.session_ids))


def fit_lite_trust(
    instrument: Instrument,
    item_ids: Sequence[str],
    truth: np.ndarray,
    predicted: np.ndarray,
    signals: np.ndarray,
    folds: np.ndarray,
    model_name: str,
) -> TrustModel:
    """The model's :class:`TrustModel` from its cross-validation: ``predicted`` are the
    out-of-fold (calibrated) predictions, so the conformal residuals are those of sessions
    of clients the predicting model never saw; ``signals`` were computed with each
    session's fold model; the adaptive-or-constant choice and the domain threshold are
    made on the same client-grouped ``folds``."""
    return TrustModel.fit(
        instrument,
        item_ids,
        truth,
        predicted,
        signals,
        list(LITE_SIGNAL_NAMES),
        folds,
        source=f"{model_name} cross-validation ({len(np.unique(folds))} folds grouped by client)",
        model=model_name,
    )


def held_out_trust_models(
    instrument: Instrument,
    item_ids: Sequence[str],
    truth: np.ndarray,
    predicted: np.ndarray,
    signals: np.ndarray,
    folds: np.ndarray,
    model_name: str,
) -> dict[int, TrustModel]:
    """Per fold, a :class:`TrustModel` fitted on the other folds only: applied to the
    fold's out-of-fold predictions, it gives intervals, percentiles and domain flags that
    never saw the fold's clients, so their coverage can be checked honestly
    (``care train lite --cv-out`` then ``care evaluate``)."""
    models = {}
    for fold in np.unique(folds):
        others = folds != fold
        models[int(fold)] = fit_lite_trust(
            instrument,
            item_ids,
            truth[others],
            predicted[others],
            signals[others],
            folds[others],
            f"{model_name} without fold {int(fold)}",
        )
    return models
