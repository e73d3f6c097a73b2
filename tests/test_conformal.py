"""Split-conformal intervals, reference percentiles and the domain score (care.stats)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from care.stats.conformal import (
    ConformalIntervals,
    ScaleModel,
    choose_intervals,
    conformal_quantile,
    conformal_rank,
    evaluate_intervals,
)
from care.stats.domain import DomainReference, fit_domain
from care.stats.reference import ReferenceScores


def test_the_quantile_is_the_finite_sample_order_statistic() -> None:
    scores = np.arange(1.0, 10.0)  # 9 scores
    assert conformal_rank(9, 0.9) == 9  # ceil(10 * 0.9), despite 0.9's rounding
    assert conformal_quantile(scores, 0.9) == 9.0
    assert conformal_quantile(scores, 0.5) == 5.0  # ceil(10 * 0.5) = 5
    # 8 scores cannot bound a 90% interval: ceil(9 * 0.9) = 9 > 8
    assert conformal_quantile(scores[:8], 0.9) == math.inf
    assert conformal_quantile(np.array([3.0, np.nan, 1.0, 2.0]), 0.5) == 2.0
    with pytest.raises(ValueError):
        conformal_rank(10, 1.0)


def test_constant_and_normalized_intervals_agree_with_crepes() -> None:
    crepes = pytest.importorskip("crepes")
    rng = np.random.default_rng(1)
    features = rng.normal(size=(300, 2))
    predicted = rng.uniform(1, 4, 300)
    truth = np.clip(predicted + rng.normal(size=300) * (0.5 + np.abs(features[:, 0])), 0, 5)
    new = rng.uniform(0, 5, 50)
    new_features = rng.normal(size=(50, 2))
    for level in (0.8, 0.9, 0.95):
        ours = ConformalIntervals.fit(truth, predicted, 0.0, 5.0).interval(new, level)
        theirs = crepes.ConformalRegressor().fit(truth - predicted)
        expected = theirs.predict_int(new, confidence=level, y_min=0, y_max=5)
        np.testing.assert_allclose(np.column_stack(ours), expected)
        adaptive = ConformalIntervals.fit(truth, predicted, 0.0, 5.0, features)
        sigmas = adaptive.scale_model.predict(features)
        theirs = crepes.ConformalRegressor().fit(truth - predicted, sigmas=sigmas)
        expected = theirs.predict_int(
            new,
            sigmas=adaptive.scale_model.predict(new_features),
            confidence=level,
            y_min=0,
            y_max=5,
        )
        np.testing.assert_allclose(
            np.column_stack(adaptive.interval(new, level, new_features)), expected
        )


def _clustered(seed: int, n_clients: int = 300, per_client: int = 6, noise_feature: bool = True):
    """Sessions of clients with a client effect; the error grows with feature 0 when
    ``noise_feature``."""
    rng = np.random.default_rng(seed)
    clients = np.repeat(np.arange(n_clients), per_client)
    features = rng.normal(size=(len(clients), 3))
    effect = rng.normal(scale=0.4, size=n_clients)[clients]
    spread = np.exp(0.8 * features[:, 0]) if noise_feature else np.ones(len(clients))
    predicted = rng.uniform(1.5, 3.5, len(clients))
    truth = predicted + effect + rng.normal(size=len(clients)) * 0.6 * spread
    folds = clients % 5
    return truth, predicted, features, folds


def test_held_out_clients_are_covered_at_the_level_and_adaptive_is_narrower() -> None:
    truth, predicted, features, folds = _clustered(0)
    constant = evaluate_intervals(truth, predicted, folds, -math.inf, math.inf, 0.9)
    adaptive = evaluate_intervals(truth, predicted, folds, -math.inf, math.inf, 0.9, features)
    assert 0.87 <= constant["coverage"] <= 0.93
    assert 0.87 <= adaptive["coverage"] <= 0.93
    assert adaptive["width"] < 0.95 * constant["width"]
    choice = choose_intervals(truth, predicted, folds, -math.inf, math.inf, features)
    assert choice.intervals.method == "adaptive"
    assert choice.summary()["chosen"] == "adaptive"
    # per case, the adaptive intervals are wider where the error is larger
    half = choice.intervals.half_width(0.9, features)
    assert np.corrcoef(half, features[:, 0])[0, 1] > 0.8


def test_adaptive_is_dropped_when_its_features_say_nothing_about_the_error() -> None:
    truth, predicted, features, folds = _clustered(2, noise_feature=False)
    choice = choose_intervals(truth, predicted, folds, -math.inf, math.inf, features[:, 1:])
    assert choice.intervals.method == "constant"
    assert choice.intervals.scale_model is None


def test_marginal_coverage_over_repeated_draws() -> None:
    """The guarantee itself: over many calibration/test draws, at least `level` (and not
    much more) of new cases are covered."""
    rng = np.random.default_rng(5)
    covered = []
    for _ in range(300):
        residuals = rng.standard_t(4, size=101)
        fitted = ConformalIntervals.fit(residuals[:100], np.zeros(100), -np.inf, np.inf)
        low, high = fitted.interval(np.zeros(1), 0.9)
        covered.append(low[0] <= residuals[100] <= high[0])
    assert 0.87 <= np.mean(covered) <= 0.94


def test_intervals_are_clipped_to_the_scale_and_round_trip() -> None:
    truth, predicted, features, folds = _clustered(3)
    fitted = ConformalIntervals.fit(truth, predicted, 0.0, 5.0, features, folds)
    low, high = fitted.interval(np.array([0.1, 4.9]), 0.95, features[:2])
    assert low[0] == 0.0 and high[1] == 5.0
    again = ConformalIntervals.from_dict(fitted.to_dict(8))
    np.testing.assert_allclose(
        again.interval(predicted[:5], 0.9, features[:5]),
        fitted.interval(predicted[:5], 0.9, features[:5]),
    )
    narrow = fitted.half_width(0.5, features[:5])
    wide = fitted.half_width(0.95, features[:5])
    assert np.all(narrow < wide)


def test_scale_model_treats_a_missing_feature_as_its_mean() -> None:
    features = np.array([[0.0, 1.0], [1.0, 2.0], [2.0, 3.0], [3.0, np.nan]])
    model = ScaleModel.fit(features, np.array([0.5, 1.0, 1.5, 2.0]))
    assert np.all(np.isfinite(model.predict(np.array([[1.0, np.nan]]))))


def test_percentiles_count_the_reference_sessions_scoring_lower() -> None:
    reference = ReferenceScores.fit({"goal": np.array([1.0, 2.0, 3.0, 4.0, np.nan])})
    assert reference.percentile("goal", 2.5) == 50.0
    assert reference.percentile("goal", 0.0) == 0.0
    assert reference.percentile("goal", 9.0) == 100.0
    assert reference.percentile("goal", 2.0) == 37.5  # ties count half
    assert reference.percentile("bond", 2.0) is None
    again = ReferenceScores.from_dict(reference.to_dict())
    assert again.percentiles({"goal": 3.5, "bond": 1.0}) == {"goal": 75.0}


def test_the_domain_threshold_flags_the_chosen_share_of_new_reference_like_sessions() -> None:
    rng = np.random.default_rng(7)
    n = 4000
    turns = np.exp(rng.normal(4.5, 0.4, n))
    chars = turns * np.exp(rng.normal(3.5, 0.3, n))
    known = rng.beta(40, 6, n)
    signals = np.column_stack([turns, chars, known])
    names, logged = ["turns", "chars", "known"], [True, True, False]
    folds = np.arange(n) % 5
    reference, figures = fit_domain(signals, names, logged, folds, flag_share=0.025)
    assert 0.015 <= figures["flagged_held_out"] <= 0.035
    fresh = np.column_stack(
        [np.exp(rng.normal(4.5, 0.4, n)), np.exp(rng.normal(8.0, 0.5, n)), rng.beta(40, 6, n)]
    )
    fresh[:, 1] = fresh[:, 0] * np.exp(rng.normal(3.5, 0.3, n))
    flagged = reference.scores(fresh) > reference.threshold
    assert 0.015 <= flagged.mean() <= 0.035
    short = np.array([12.0, 12.0 * 33, 0.85])
    assert reference.scores(short[None, :])[0] > reference.threshold
    unusual = reference.unusual(short)
    assert [names[position] for position, _ in unusual][:1] == ["turns"]
    assert unusual[0][1] < 0  # below the range
    again = DomainReference.from_dict(reference.to_dict())
    np.testing.assert_allclose(again.scores(fresh[:10]), reference.scores(fresh[:10]))
