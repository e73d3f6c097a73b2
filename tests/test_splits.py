"""Tests of care.stats.splits: client-grouped (and stratified) k-fold splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import care.stats.splits as splits_module
from care.errors import ParameterError
from care.stats import fold_assignments, grouped_kfold


def clients(n_clients: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Client ids (1-8 sessions each) and a per-session score driven by the client."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 9, n_clients)
    groups = np.repeat([f"client-{i}" for i in range(n_clients)], sizes)
    client_mean = rng.normal(3.0, 1.0, n_clients)
    score = np.repeat(client_mean, sizes) + rng.normal(0, 0.2, len(groups))
    order = rng.permutation(len(groups))  # sessions not sorted by client
    return groups[order], score[order]


def check_partition(groups, folds: list[tuple[np.ndarray, np.ndarray]], n_splits: int) -> None:
    groups = np.asarray(groups, dtype=object)
    n = len(groups)
    assert len(folds) == n_splits
    tested = np.concatenate([test for _, test in folds])
    np.testing.assert_array_equal(np.sort(tested), np.arange(n))  # every row tested once
    for train, test in folds:
        assert len(test) > 0
        np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(n))
        assert not set(groups[train]) & set(groups[test])


@pytest.mark.parametrize("n_splits", [2, 5, 10])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_client_on_both_sides_and_every_row_tested_once(n_splits, seed):
    groups, _ = clients(seed=seed)
    folds = grouped_kfold(groups, n_splits=n_splits, seed=seed)
    check_partition(groups, folds, n_splits)


def test_folds_are_balanced_in_size():
    groups, _ = clients(n_clients=100)
    sizes = [len(test) for _, test in grouped_kfold(groups, n_splits=5)]
    largest_client = np.unique(groups, return_counts=True)[1].max()
    assert max(sizes) - min(sizes) <= largest_client
    # stratified folds stay reasonably balanced too
    groups, score = clients(n_clients=100)
    sizes = [len(test) for _, test in grouped_kfold(groups, n_splits=5, stratify=score)]
    assert max(sizes) <= 1.3 * min(sizes)


def test_deterministic_with_seed():
    groups = np.repeat(np.arange(40), 3)  # equal sizes: the seed decides the split
    a = fold_assignments(groups, 4, seed=7)
    np.testing.assert_array_equal(a, fold_assignments(groups, 4, seed=7))
    assert not np.array_equal(a, fold_assignments(groups, 4, seed=8))


def test_fold_assignments_matches_grouped_kfold():
    groups, score = clients()
    folds = fold_assignments(groups, 5, seed=3, stratify=score)
    for k, (train, test) in enumerate(grouped_kfold(groups, 5, seed=3, stratify=score)):
        np.testing.assert_array_equal(test, np.flatnonzero(folds == k))
        np.testing.assert_array_equal(train, np.flatnonzero(folds != k))


def test_missing_group_ids_are_their_own_groups():
    groups = ["a", "a", None, np.nan, "b", None, "b", float("nan")]
    folds = fold_assignments(groups, n_splits=5)  # a, b and 4 singletons: 6 groups
    assert folds[0] == folds[1] and folds[4] == folds[6]
    assert len(set(folds.tolist())) == 5
    check_partition(
        [g if isinstance(g, str) else f"missing-{i}" for i, g in enumerate(groups)],
        grouped_kfold(groups, n_splits=5),
        5,
    )


def fold_mean_spread(score: np.ndarray, folds: np.ndarray) -> float:
    means = [score[folds == k].mean() for k in np.unique(folds)]
    return float(np.max(means) - np.min(means))


def test_stratification_balances_fold_means():
    groups, score = clients(n_clients=100, seed=11)
    stratified = fold_assignments(groups, 5, seed=0, stratify=score)
    spread = fold_mean_spread(score, stratified)

    # Worst case without stratification: clients sorted by score into contiguous folds.
    names, codes = np.unique(groups, return_inverse=True)
    client_mean = np.bincount(codes, weights=score) / np.bincount(codes)
    rank = np.empty(len(names), int)
    rank[np.argsort(client_mean)] = np.arange(len(names))
    worst = (rank * 5 // len(names))[codes]
    assert spread < 0.2 * fold_mean_spread(score, worst)

    # ... and better than plain grouped folds on average.
    plain = [fold_mean_spread(score, fold_assignments(groups, 5, seed=s)) for s in range(10)]
    assert spread < np.mean(plain)
    check_partition(groups, grouped_kfold(groups, 5, stratify=score), 5)


def test_stratify_tolerates_missing_scores():
    groups, score = clients(n_clients=30)
    score = score.copy()
    score[::7] = np.nan
    score[np.asarray(groups) == "client-3"] = np.nan  # a client with no score at all
    check_partition(groups, grouped_kfold(groups, 3, stratify=score), 3)


@pytest.mark.parametrize("bad", [1, 0, -2, 2.5, True, "5"])
def test_bad_n_splits(bad):
    with pytest.raises(ParameterError, match="n_splits") as info:
        grouped_kfold(np.arange(10), n_splits=bad)
    assert "Fix:" in str(info.value)


def test_fewer_groups_than_folds():
    with pytest.raises(ParameterError, match=r"n_splits.*5.*only 3 distinct groups") as info:
        grouped_kfold(["a", "b", "c", "a", "b"], n_splits=5)
    assert "at most 3" in str(info.value)


def test_bad_stratify():
    with pytest.raises(ParameterError, match="stratify"):
        grouped_kfold(np.arange(10), 2, stratify=[1.0, 2.0])
    with pytest.raises(ParameterError, match="stratify"):
        grouped_kfold(np.arange(4), 2, stratify=["low", "high", "low", "x"])
    with pytest.raises(ParameterError, match="n_bins"):
        grouped_kfold(np.arange(10), 2, stratify=np.arange(10.0), n_bins=0)


def test_src_does_not_import_sklearn():
    assert "sklearn" not in Path(splits_module.__file__).read_text()


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=30),
    n_splits=st.integers(2, 6),
    seed=st.integers(0, 2**16),
    stratified=st.booleans(),
)
def test_partition_property(sizes, n_splits, seed, stratified):
    n_splits = min(n_splits, len(sizes))
    groups = np.repeat(np.arange(len(sizes)), sizes)
    rng = np.random.default_rng(seed)
    groups = groups[rng.permutation(len(groups))]
    score = rng.normal(size=len(groups)) if stratified else None
    check_partition(groups, grouped_kfold(groups, n_splits, seed=seed, stratify=score), n_splits)
