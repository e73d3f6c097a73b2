"""Tests of care.stats.metrics against scipy / numpy / scikit-learn and hand examples."""

from __future__ import annotations

import inspect
import math
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as skm

from care.errors import ParameterError
from care.stats import (
    METRICS,
    Metric,
    MetricResult,
    PairedResult,
    bootstrap_ci,
    exact_accuracy,
    fold_summary,
    mae,
    mse,
    paired_bootstrap,
    pearson,
    round_to_scale,
    rounded_mae,
    score,
    score_table,
    spearman,
    within_one_accuracy,
)


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    y = rng.normal(3.0, 1.0, 400)
    p = 0.6 * y + rng.normal(0.0, 0.8, 400) + 1.0
    return y, p


@pytest.fixture
def items() -> tuple[np.ndarray, np.ndarray]:
    """Integer ratings 1-5 (many ties) and continuous predictions, some off the scale."""
    rng = np.random.default_rng(7)
    y = rng.integers(1, 6, 300).astype(float)
    p = y + rng.normal(0.0, 1.0, 300)
    return y, p


# ----------------------------------------------------------------- point metrics


def test_point_metrics_match_reference_implementations(data):
    y, p = data
    assert pearson(y, p) == pytest.approx(stats.pearsonr(y, p).statistic, abs=1e-12)
    assert spearman(y, p) == pytest.approx(stats.spearmanr(y, p).statistic, abs=1e-12)
    assert mse(y, p) == pytest.approx(skm.mean_squared_error(y, p), rel=1e-12)
    assert mae(y, p) == pytest.approx(skm.mean_absolute_error(y, p), rel=1e-12)


def test_rank_and_rounded_metrics_with_ties_match_references(items):
    y, p = items
    assert spearman(y, p) == pytest.approx(stats.spearmanr(y, p).statistic, abs=1e-12)
    r = np.clip(np.floor(p + 0.5), 1, 5)
    assert exact_accuracy(y, p, scale=(1, 5)) == pytest.approx(skm.accuracy_score(y, r))
    assert within_one_accuracy(y, p, scale=(1, 5)) == pytest.approx(np.mean(np.abs(r - y) <= 1))
    assert rounded_mae(y, p, scale=(1, 5)) == pytest.approx(skm.mean_absolute_error(y, r))


def test_rounded_metrics_hand_example():
    # y:                 1    2    3    4    5
    # p:               1.4  2.5  4.6  2.4  7.0
    # round half up:     1    3    5    2    7  -> clipped to (1, 5):  1  3  5  2  5
    # |rounded - y|:     0    1    2    2    0
    # exact = 2/5 = 0.4, within one = 3/5 = 0.6, rounded MAE = 5/5 = 1.0
    # Without clipping the last error is |7 - 5| = 2: exact 1/5, within one 2/5, MAE 7/5.
    y = [1, 2, 3, 4, 5]
    p = [1.4, 2.5, 4.6, 2.4, 7.0]
    assert exact_accuracy(y, p, scale=(1, 5)) == pytest.approx(0.4)
    assert within_one_accuracy(y, p, scale=(1, 5)) == pytest.approx(0.6)
    assert rounded_mae(y, p, scale=(1, 5)) == pytest.approx(1.0)
    assert exact_accuracy(y, p) == pytest.approx(0.2)
    assert within_one_accuracy(y, p) == pytest.approx(0.4)
    assert rounded_mae(y, p) == pytest.approx(1.4)


def test_round_half_up_not_to_even():
    np.testing.assert_array_equal(
        round_to_scale([0.5, 1.5, 2.5, -0.5, 2.49, np.nan]), [1, 2, 3, 0, 2, np.nan]
    )
    np.testing.assert_array_equal(round_to_scale([-3.0, 0.6, 9.0], (0, 5)), [0, 1, 5])


def test_small_hand_example_for_correlations_and_errors():
    # y = 1 2 3, p = 2 4 7: errors -1 -2 -4 -> MSE (1 + 4 + 16)/3 = 7, MAE 7/3.
    # Ranks agree perfectly -> Spearman 1. Pearson: centred y = -1 0 1, centred
    # p = -7/3 -1/3 8/3; cov sum = 7/3 + 8/3 = 5; |y|^2 = 2, |p|^2 = (49 + 1 + 64)/9 = 38/3
    # -> r = 5 / sqrt(2 * 38/3) = 5 / sqrt(76/3).
    y, p = [1, 2, 3], [2, 4, 7]
    assert mse(y, p) == pytest.approx(7.0)
    assert mae(y, p) == pytest.approx(7 / 3)
    assert spearman(y, p) == pytest.approx(1.0)
    assert pearson(y, p) == pytest.approx(5 / math.sqrt(76 / 3))


def test_nan_pairs_are_dropped(data):
    y, p = data
    y2, p2 = y.copy(), p.copy()
    y2[[0, 5]] = np.nan
    p2[[5, 9]] = np.nan
    keep = np.ones(len(y), bool)
    keep[[0, 5, 9]] = False
    for name, fn in METRICS.items():
        got, want = fn(y2, p2), fn(y[keep], p[keep])
        assert got == pytest.approx(want), name
    assert math.isnan(mse([np.nan], [1.0]))
    assert math.isnan(pearson([], []))


def test_constant_input_gives_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(pearson([2, 2, 2], [1, 2, 3]))
        assert math.isnan(spearman([1, 2, 3], [4, 4, 4]))
        assert math.isnan(pearson([1], [1]))
        assert math.isnan(spearman([1], [1]))
        assert math.isnan(bootstrap_ci([2, 2, 2], [1, 2, 3], "pearson", n_resamples=20)[0])


def test_pandas_inputs_with_missing_values():
    y = pd.Series([1.0, 2.0, None, 4.0], dtype="Float64")
    p = pd.Series([1.0, 2.5, 3.0, pd.NA], dtype="Float64")
    assert mae(y, p) == pytest.approx(0.25)


def test_invalid_inputs_raise_parameter_error():
    with pytest.raises(ParameterError, match="same length"):
        mse([1, 2], [1])
    with pytest.raises(ParameterError, match="scale"):
        exact_accuracy([1], [1], scale=(5, 1))
    with pytest.raises(ParameterError, match="metric"):
        bootstrap_ci([1, 2], [1, 2], "kappa")
    with pytest.raises(ParameterError, match="confidence"):
        bootstrap_ci([1, 2], [1, 2], "mse", confidence=95)
    with pytest.raises(ParameterError, match="n_resamples"):
        bootstrap_ci([1, 2], [1, 2], "mse", n_resamples=0)
    with pytest.raises(ParameterError, match="groups"):
        bootstrap_ci([1, 2], [1, 2], "mse", groups=[1])


# -------------------------------------------------------------------- bootstrap


@pytest.mark.parametrize("metric", ["pearson", "spearman", "mse", "mae"])
def test_bootstrap_ci_contains_estimate_and_is_deterministic(data, metric):
    y, p = data
    low, high = bootstrap_ci(y, p, metric, n_resamples=500, seed=3)
    assert low < METRICS[metric](y, p) < high
    assert bootstrap_ci(y, p, metric, n_resamples=500, seed=3) == (low, high)
    assert bootstrap_ci(y, p, metric, n_resamples=500, seed=4) != (low, high)


def test_bootstrap_ci_width_matches_standard_error(data):
    y, p = data
    err = np.abs(y - p)
    se = err.std(ddof=1) / math.sqrt(len(err))
    low, high = bootstrap_ci(y, p, "mae", n_resamples=2000)
    assert (high - low) == pytest.approx(2 * 1.96 * se, rel=0.15)


@pytest.mark.parametrize("metric", list(METRICS))
@pytest.mark.parametrize("clustered", [False, True])
def test_vectorised_bootstrap_equals_generic_per_resample_loop(items, metric, clustered):
    """The all-at-once path must give what calling the metric on each resample gives."""
    y, p = items
    y, p = y[:120].copy(), p[:120].copy()
    y[3] = np.nan
    groups = np.random.default_rng(0).integers(0, 30, len(y)) if clustered else None
    fn = METRICS[metric]
    kwargs = {"scale": (1, 5)} if metric in {"exact_accuracy", "within_one_accuracy"} else {}

    def generic(a, b):
        return fn(a, b, **kwargs)

    fast = bootstrap_ci(y, p, metric, groups=groups, n_resamples=200, scale=kwargs.get("scale"))
    slow = bootstrap_ci(y, p, generic, groups=groups, n_resamples=200)
    assert fast == pytest.approx(slow, abs=1e-10)
    also_fast = bootstrap_ci(y, p, fn, groups=groups, n_resamples=200, scale=kwargs.get("scale"))
    assert also_fast == pytest.approx(fast, abs=1e-12)


def test_singleton_or_missing_groups_equal_row_bootstrap(data):
    y, p = data
    rows = bootstrap_ci(y, p, "pearson", n_resamples=300)
    assert bootstrap_ci(y, p, "pearson", groups=np.arange(len(y)), n_resamples=300) == rows
    assert bootstrap_ci(y, p, "pearson", groups=[None] * len(y), n_resamples=300) == rows


def test_cluster_bootstrap_is_wider_when_rows_within_groups_are_correlated():
    # 20 clients with 50 sessions each; within a client every session has the same
    # truth and prediction, so there are really only 20 independent observations.
    rng = np.random.default_rng(1)
    y_client = rng.normal(0, 1, 20)
    p_client = y_client + rng.normal(0, 1, 20)
    y, p = np.repeat(y_client, 50), np.repeat(p_client, 50)
    groups = np.repeat([f"client-{i}" for i in range(20)], 50)
    for metric in ("pearson", "mse"):
        row_low, row_high = bootstrap_ci(y, p, metric, n_resamples=500)
        cl_low, cl_high = bootstrap_ci(y, p, metric, groups=groups, n_resamples=500)
        assert (cl_high - cl_low) > 3 * (row_high - row_low), metric


def test_bootstrap_is_fast():
    rng = np.random.default_rng(0)
    y = rng.normal(size=5000)
    p = y + rng.normal(size=5000)
    groups = np.repeat(np.arange(1000), 5)
    bootstrap_ci(y, p, "pearson", n_resamples=10)  # warm up
    start = time.perf_counter()
    for metric in ("pearson", "mse"):
        bootstrap_ci(y, p, metric, n_resamples=1000)
        bootstrap_ci(y, p, metric, groups=groups, n_resamples=1000)
    assert (time.perf_counter() - start) / 4 < 0.5


def test_paired_bootstrap_finds_the_better_system(data):
    y, _ = data
    rng = np.random.default_rng(5)
    good = y + rng.normal(0, 0.3, len(y))
    bad = y + rng.normal(0, 1.0, len(y))
    groups = np.arange(len(y)) // 4
    res = paired_bootstrap(y, good, bad, "mse", groups=groups, n_resamples=1000)
    assert isinstance(res, PairedResult)
    assert res.delta < 0 and res.ci_high < 0 and res.p_value < 0.05
    assert res.delta == pytest.approx(mse(y, good) - mse(y, bad))
    res = paired_bootstrap(y, good, bad, "pearson", n_resamples=1000)
    assert res.delta > 0 and res.ci_low > 0 and res.p_value < 0.05
    assert paired_bootstrap(y, good, bad, "pearson", n_resamples=1000) == res


def test_paired_bootstrap_identical_systems_do_not_differ(data):
    y, p = data
    for metric in ("mse", "pearson", "spearman"):
        res = paired_bootstrap(y, p, p.copy(), metric, n_resamples=300)
        assert res.delta == 0.0
        assert res.p_value == 1.0
        assert res.ci_low == res.ci_high == 0.0


def test_paired_bootstrap_p_value_is_two_sided_and_symmetric(data):
    y, p = data
    q = p + np.random.default_rng(2).normal(0, 0.2, len(p))
    ab = paired_bootstrap(y, p, q, "mae", n_resamples=400)
    ba = paired_bootstrap(y, q, p, "mae", n_resamples=400)
    assert ab.delta == pytest.approx(-ba.delta)
    assert ab.p_value == pytest.approx(ba.p_value)
    assert 0 < ab.p_value <= 1


# ------------------------------------------------------------------- the records


def test_every_registered_metric_has_all_its_facts(items):
    """A metric is one record: name, function, bootstrap rule, direction, correlation or
    not, scale or not, label and definition; none may be missing or inconsistent."""
    y, p = items
    assert list(METRICS) == [
        "pearson",
        "spearman",
        "mse",
        "mae",
        "exact_accuracy",
        "within_one_accuracy",
        "rounded_mae",
    ]
    for name, metric in METRICS.items():
        assert isinstance(metric, Metric) and metric.name == name
        assert callable(metric.function) and metric(y, p) == metric.function(y, p)
        assert isinstance(metric.greater_is_better, bool)
        assert isinstance(metric.label, str) and metric.label.strip()
        assert isinstance(metric.definition, str) and metric.definition.strip()
        assert (metric.loss is None) != (metric.resampled is None), name
        assert metric.is_correlation == (metric.resampled is not None)
        takes_scale = "scale" in inspect.signature(metric.function).parameters
        assert takes_scale == metric.uses_scale, name
        if metric.is_correlation:
            assert metric.greater_is_better, name
        else:
            # The bootstrap averages the loss: its mean must be the metric itself.
            scale = (1.0, 5.0) if metric.uses_scale else None
            loss = metric.loss(y, p, scale)
            assert loss.shape == y.shape
            assert float(loss.mean()) == pytest.approx(metric.value(y, p, scale)), name
    assert METRICS["pearson"].is_correlation and METRICS["spearman"].is_correlation
    assert not METRICS["mae"].greater_is_better and METRICS["exact_accuracy"].greater_is_better


def test_a_metric_record_without_one_bootstrap_rule_cannot_be_made():
    facts = {"greater_is_better": False, "label": "x", "definition": "x"}
    with pytest.raises(ParameterError, match="exactly one"):
        Metric("x", mae, **facts)
    with pytest.raises(ParameterError, match="exactly one"):
        Metric("x", mae, **facts, loss=lambda y, p, s: y, resampled=lambda w, y, p: y)
    with pytest.raises(ParameterError, match="label"):
        Metric("x", mae, greater_is_better=False, label="", definition="x", loss=lambda y, p, s: y)


def test_a_new_metric_is_one_record_and_bootstraps_by_its_own_loss(data):
    """A record that is not registered works everywhere a metric name does, and its
    intervals come from its own loss (the same as scoring every resample)."""
    y, p = data

    def bias(a, b):
        a, b = np.asarray(a, float), np.asarray(b, float)
        keep = ~(np.isnan(a) | np.isnan(b))
        return float(np.mean(b[keep] - a[keep]))

    record = Metric(
        "bias",
        bias,
        greater_is_better=False,
        label="bias",
        definition="mean signed error",
        loss=lambda a, b, scale: b - a,
    )
    groups = np.arange(len(y)) // 4
    fast = bootstrap_ci(y, p, record, groups=groups, n_resamples=300)
    slow = bootstrap_ci(y, p, lambda a, b: bias(a, b), groups=groups, n_resamples=300)
    assert fast == pytest.approx(slow, abs=1e-10)
    result = score(y, p, record, n_resamples=300, groups=groups)
    assert result.name == "bias" and result.value == pytest.approx(bias(y, p))
    assert (result.ci_low, result.ci_high) == pytest.approx(fast)


# ---------------------------------------------------------------------- tables


def test_score_returns_metric_result(data):
    y, p = data
    res = score(y, p, "pearson", n_resamples=200)
    assert isinstance(res, MetricResult)
    assert res.name == "pearson" and res.n == len(y)
    assert res.value == pytest.approx(pearson(y, p))
    assert (res.ci_low, res.ci_high) == bootstrap_ci(y, p, "pearson", n_resamples=200)
    no_ci = score(y, p, "mse", n_resamples=0)
    assert math.isnan(no_ci.ci_low) and no_ci.value == pytest.approx(mse(y, p))


def test_score_table_aligns_on_session_id():
    rng = np.random.default_rng(3)
    ids = [f"s{i:03d}" for i in range(60)]
    truth = pd.DataFrame(
        {"item1": rng.integers(1, 6, 60), "total": rng.normal(3, 1, 60), "only_truth": 0.0},
        index=ids,
    ).astype(float)
    truth.loc["s005", "item1"] = np.nan
    pred = truth[["item1", "total"]] + rng.normal(0, 0.5, (60, 2))
    pred = pred.iloc[rng.permutation(60)]  # other order
    pred.loc["extra"] = [1.0, 1.0]  # a session without truth
    pred = pred.drop(index="s010")  # a session without prediction
    clients = pd.Series({sid: f"c{i // 3}" for i, sid in enumerate(ids)})

    table = score_table(truth, pred, groups=clients, n_resamples=200)
    assert list(table.columns) == ["target", "metric", "value", "ci_low", "ci_high", "n"]
    assert list(table["target"].unique()) == ["item1", "total"]
    assert list(table["metric"].unique()) == ["pearson", "spearman", "mse", "mae"]
    assert len(table) == 8

    common = [sid for sid in ids if sid != "s010"]
    for row in table.itertuples():
        y, p = truth.loc[common, row.target], pred.loc[common, row.target]
        assert row.value == pytest.approx(METRICS[row.metric](y, p))
        assert row.n == int((y.notna() & p.notna()).sum())
        assert row.ci_low <= row.value <= row.ci_high
        low, high = bootstrap_ci(
            y, p, row.metric, groups=clients.loc[common], n_resamples=200, seed=0
        )
        assert (row.ci_low, row.ci_high) == pytest.approx((low, high))
    assert table.loc[table.target == "item1", "n"].iloc[0] == 58


def test_score_table_rounded_metrics_and_errors():
    truth = pd.DataFrame({"a": [1.0, 2, 3, 4, 5]}, index=list("vwxyz"))
    pred = pd.DataFrame({"a": [1.4, 2.5, 4.6, 2.4, 7.0]}, index=list("vwxyz"))
    table = score_table(
        truth,
        pred,
        metrics=("exact_accuracy", "within_one_accuracy", "rounded_mae"),
        scale={"a": (1, 5)},
        n_resamples=50,
    )
    assert table["value"].tolist() == pytest.approx([0.4, 0.6, 1.0])
    with pytest.raises(ParameterError, match="share no session"):
        score_table(truth, pred.set_axis(list("abcde")))
    with pytest.raises(ParameterError, match="columns"):
        score_table(truth, pred, columns=["b"])
    with pytest.raises(ParameterError, match="duplicate"):
        score_table(truth, pred.set_axis(list("vvxyz")))
    with pytest.raises(ParameterError, match="metric"):
        score_table(truth, pred, metrics=("kappa",))


def test_fold_summary_mean_and_sample_sd():
    folds = [
        {"pearson": 0.5, "mse": 1.0},
        {"pearson": 0.7, "mse": 2.0},
        {"pearson": 0.6, "mse": np.nan},
    ]
    out = fold_summary(folds)
    assert list(out) == ["pearson", "mse"]
    assert out["pearson"] == pytest.approx((0.6, np.std([0.5, 0.7, 0.6], ddof=1)))
    assert out["mse"] == pytest.approx((1.5, np.std([1.0, 2.0], ddof=1)))
    single = fold_summary([{"mae": 0.3}])
    assert single["mae"][0] == 0.3 and math.isnan(single["mae"][1])
    assert fold_summary([]) == {}
