"""Training and cross-validation of the built-in model (``care train lite``).

The model is a multi-output ridge regression (solved in its dual form, so that hundreds
of thousands of n-gram features cost no more than the number of sessions) over TF-IDF
blocks of the client's and the counselor's words, whole-session and closing-phase, plus
length features. Its outputs are calibrated on cross-validated predictions so that the
scores sit on the rating scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import linalg, sparse

from care import __version__
from care.assessors.base import rating_matrix
from care.assessors.lite.features import (
    BlockSpec,
    TokenizedSession,
    feature_matrix,
    fit_vocabularies,
    tokenize_sessions,
)
from care.assessors.lite.model import LiteConfig, LiteModel
from care.data.corpus import Corpus
from care.data.session import Session
from care.errors import DataError
from care.features.length import column_stats, length_matrix
from care.features.ridge import fit_ridge
from care.instruments import Instrument, get_instrument, instrument_to_dict, list_instruments
from care.stats import fold_assignments

Progress = Callable[[str], None]


@dataclass
class CrossValidation:
    """Out-of-fold predictions of a cross-validated model.

    Attributes:
        session_ids: The rated sessions, in order.
        groups: The client id of each session (the folds never split a client).
        folds: The fold each session was tested in.
        truth: (sessions x items) ratings.
        predicted: (sessions x items) out-of-fold predictions of the model.
        length_baseline: (sessions x items) out-of-fold predictions of the length-only
            ridge baseline, on the same folds.
        item_ids: The columns.
        tfidf_baseline: (sessions x items) out-of-fold predictions of the plain TF-IDF
            baseline (one client and one counselor block plus length, same tokens, same
            folds), or None when it was not run.
    """

    session_ids: list[str]
    groups: list[str]
    folds: np.ndarray
    truth: np.ndarray
    predicted: np.ndarray
    length_baseline: np.ndarray
    item_ids: list[str]
    tfidf_baseline: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


def prepare_sessions(sessions: Sequence[Session], config: LiteConfig) -> list[Session]:
    """The sessions as the model sees them: cut to their first ``config.cut`` of turns
    when the model is a cut model."""
    if config.cut is None:
        return list(sessions)
    return [session.truncated(config.cut) for session in sessions]


def solve_dual_ridge(
    matrix: sparse.csr_matrix, targets: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression with an unpenalised intercept, solved in its dual form.

    With the centred Gram matrix ``Kc = H X X^T H`` (``H`` centres the rows), the dual
    coefficients are ``c = (Kc + alpha I)^-1 (Y - mean Y)``, the weights ``W = X^T c`` and
    the intercept ``mean Y - mean(X W)``: the same solution as ridge on centred features,
    at the cost of an n x n solve however many n-gram features there are. Missing targets
    are replaced by their column mean.
    """
    means = np.nanmean(targets, axis=0)
    centred = np.where(np.isnan(targets), 0.0, targets - means)
    gram = (matrix @ matrix.T).toarray()
    column_means = gram.mean(axis=0)
    gram -= column_means[None, :] + column_means[:, None] - column_means.mean()
    gram[np.diag_indices_from(gram)] += alpha
    dual = linalg.cho_solve(linalg.cho_factor(gram, overwrite_a=True), centred)
    coef = np.asarray(matrix.T @ dual)
    intercept = means - np.asarray(matrix @ coef).mean(axis=0)
    return coef, intercept


def fit_linear(
    tokenized: Sequence[TokenizedSession],
    targets: np.ndarray,
    config: LiteConfig,
) -> tuple[list, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fit vocabularies, length standardisation and ridge weights on the sessions."""
    vocabularies = fit_vocabularies(tokenized, config.blocks, config.min_df, config.max_features)
    dense_mean, dense_scale = column_stats(length_matrix([item.session for item in tokenized]))
    matrix = feature_matrix(
        tokenized, config.blocks, vocabularies, dense_mean, dense_scale, config.dense_weight
    )
    coef, intercept = solve_dual_ridge(matrix, targets, config.alpha)
    return vocabularies, dense_mean, dense_scale, coef, intercept


def _predict_linear(
    tokenized: Sequence[TokenizedSession],
    config: LiteConfig,
    fitted: tuple[list, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    vocabularies, dense_mean, dense_scale, coef, intercept = fitted
    matrix = feature_matrix(
        tokenized, config.blocks, vocabularies, dense_mean, dense_scale, config.dense_weight
    )
    return np.asarray(matrix @ coef) + intercept


def fit_calibration(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Per output, slope and offset of the least-squares line from prediction to truth
    (2 x outputs); identity where a column has no spread."""
    calibration = np.zeros((2, truth.shape[1]))
    for column in range(truth.shape[1]):
        rows = ~np.isnan(truth[:, column])
        x = predicted[rows, column]
        y = truth[rows, column]
        if len(x) < 3 or np.std(x) == 0:
            calibration[:, column] = (1.0, 0.0)
            continue
        slope = np.cov(x, y, bias=True)[0, 1] / np.var(x)
        calibration[:, column] = (slope, y.mean() - slope * x.mean())
    return calibration


def rated_sessions(
    corpus: Corpus | Sequence[Session], instrument: Instrument, language: str
) -> tuple[list[Session], np.ndarray]:
    """The sessions of ``language`` rated by their client on ``instrument``, and the ratings."""
    chosen = Corpus(
        session
        for session in corpus
        if (session.language or language) == language
        and session.rating(instrument.id, "client") is not None
    )
    if not len(chosen):
        raise DataError(
            f"no session in language '{language}' has client ratings on '{instrument.id}'",
            field="ratings",
            fix="train on rated sessions of that language, or pass the right --language "
            "and --instrument",
        )
    return rating_matrix(chosen, instrument, "client")


TFIDF_BASELINE_BLOCKS = (BlockSpec("client"), BlockSpec("counselor"))


def tfidf_baseline_config(config: LiteConfig) -> LiteConfig:
    """The plain TF-IDF baseline of ``config``: whole-session client and counselor blocks
    plus the length features, with the model's tokens, penalty and vocabulary limits."""
    return replace(config, blocks=TFIDF_BASELINE_BLOCKS)


def cross_validate(
    corpus: Corpus | Sequence[Session],
    config: LiteConfig,
    n_splits: int = 5,
    progress: Progress | None = None,
    tfidf_baseline: bool = False,
    on_fold: Callable[[np.ndarray, list[TokenizedSession], tuple], None] | None = None,
) -> CrossValidation:
    """K-fold cross-validation grouped by client (a client's sessions are never on both
    sides), for the model and for the length-only baseline on the same folds; with
    ``tfidf_baseline``, also for the plain TF-IDF baseline (:func:`tfidf_baseline_config`),
    which costs about half as much again. ``on_fold(test_indices, test_sessions, fitted)``
    is called with each fold's model (see :class:`care.assessors.lite.signals.FoldSignals`)."""
    instrument = get_instrument(config.instrument)
    sessions, truth = rated_sessions(corpus, instrument, config.language)
    sessions = prepare_sessions(sessions, config)
    groups = [session.client_id or f"session:{session.id}" for session in sessions]
    folds = fold_assignments(groups, n_splits=n_splits, seed=config.seed)
    tokenized = tokenize_sessions(sessions, config.language, config.max_n, config.tokenizer)
    lengths = length_matrix(sessions)
    predicted = np.full_like(truth, np.nan)
    baseline = np.full_like(truth, np.nan)
    plain = np.full_like(truth, np.nan) if tfidf_baseline else None
    plain_config = tfidf_baseline_config(config)
    for fold in range(n_splits):
        if progress:
            progress(f"fold {fold + 1}/{n_splits}")
        train = np.flatnonzero(folds != fold)
        test = np.flatnonzero(folds == fold)
        training = [tokenized[i] for i in train]
        testing = [tokenized[i] for i in test]
        fitted = fit_linear(training, truth[train], config)
        predicted[test] = _predict_linear(testing, config, fitted)
        if on_fold is not None:
            on_fold(test, testing, fitted)
        length_model = fit_ridge(lengths[train], np.nan_to_num(truth[train], nan=0.0), 10.0)
        baseline[test] = length_model.predict(lengths[test])
        if plain is not None:
            if progress:
                progress(f"fold {fold + 1}/{n_splits}: TF-IDF baseline")
            plain_fit = fit_linear(training, truth[train], plain_config)
            plain[test] = _predict_linear(testing, plain_config, plain_fit)
    return CrossValidation(
        session_ids=[session.id for session in sessions],
        groups=groups,
        folds=folds,
        truth=truth,
        predicted=predicted,
        length_baseline=baseline,
        item_ids=[item.id for item in instrument.items],
        tfidf_baseline=plain,
        info={
            "n_splits": n_splits,
            "seed": config.seed,
            "cut": config.cut,
            "instrument": instrument.id,
        },
    )


def calibrated(cv: CrossValidation) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions with the calibration that cross-validation supports.

    Each fold's predictions are calibrated by lines fitted on the other folds' out-of-fold
    predictions (cross-fitting), and the calibration is kept only if that lowers the mean
    squared error of the items (clipped to their scales) against the uncalibrated
    predictions; otherwise the identity is used. Returns the predictions to report and the
    calibration to ship (fitted on all out-of-fold predictions, or the identity).
    """
    instrument = get_instrument(cv.info.get("instrument", "kokorochat-feedback"))
    low = np.array([instrument.scale_for(item_id).min for item_id in cv.item_ids], dtype=float)
    high = np.array([instrument.scale_for(item_id).max for item_id in cv.item_ids], dtype=float)
    crossed = np.empty_like(cv.predicted)
    for fold in np.unique(cv.folds):
        others = cv.folds != fold
        line = fit_calibration(cv.truth[others], cv.predicted[others])
        crossed[~others] = cv.predicted[~others] * line[0] + line[1]
    raw = np.clip(cv.predicted, low, high)
    crossed = np.clip(crossed, low, high)
    spread = np.nanvar(cv.truth, axis=0)
    spread[spread == 0] = 1.0

    def error(predicted: np.ndarray) -> float:
        return float(np.nanmean((predicted - cv.truth) ** 2 / spread))

    identity = np.vstack([np.ones(len(cv.item_ids)), np.zeros(len(cv.item_ids))])
    if error(crossed) < error(raw):
        cv.info["calibration"] = "affine, cross-fitted"
        return crossed, fit_calibration(cv.truth, cv.predicted)
    cv.info["calibration"] = "none (cross-fitted affine calibration did not lower the MSE)"
    return raw, identity


def train(
    corpus: Corpus | Sequence[Session],
    config: LiteConfig,
    *,
    name: str | None = None,
    calibration: np.ndarray | None = None,
    info: dict[str, Any] | None = None,
    trust: dict[str, Any] | None = None,
) -> LiteModel:
    """Fit the model on every rated session of the config's language."""
    instrument = get_instrument(config.instrument)
    sessions, truth = rated_sessions(corpus, instrument, config.language)
    sessions = prepare_sessions(sessions, config)
    tokenized = tokenize_sessions(sessions, config.language, config.max_n, config.tokenizer)
    vocabularies, dense_mean, dense_scale, coef, intercept = fit_linear(tokenized, truth, config)
    item_ids = [item.id for item in instrument.items]
    if calibration is None:
        calibration = np.vstack([np.ones(len(item_ids)), np.zeros(len(item_ids))])
    default_name = f"care-lite-{config.language}" + ("-cut" if config.cut else "")
    extra: dict[str, Any] = {}
    if instrument.id not in list_instruments():
        extra["instrument_definition"] = instrument_to_dict(instrument)
    return LiteModel(
        name=name or default_name,
        version=f"{__version__}+{config.instrument}",
        config=config,
        item_ids=item_ids,
        vocabularies=vocabularies,
        coef=coef,
        intercept=intercept,
        dense_mean=dense_mean,
        dense_scale=dense_scale,
        calibration=calibration,
        info={"n_sessions": len(sessions), **extra, **(info or {})},
        trust=trust,
    )
