"""Client-grouped cross-validation splits.

Sessions of the same client are not independent: a model that saw a client's other
sessions in training will look better on that client than it will on a new one. The
splits here therefore keep every *group* (client) whole: all of a group's rows are in
the same fold, so no client is ever on both the training and the test side.

Only numpy and pandas are used (no scikit-learn), so the splits work with the core
install.

Missing group ids
    A row whose group id is missing (``None``, ``NaN``, ``pandas.NA``) is treated as a
    group of its own. This is the conservative choice: an unknown client is never
    assumed to be the same person as another row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from care.errors import ParameterError

__all__ = ["fold_assignments", "grouped_kfold"]

#: Upper limit on the number of quantile bins used for stratification by default.
MAX_DEFAULT_BINS = 10


def _group_codes(
    groups: Sequence[Any] | np.ndarray | pd.Series, *, name: str = "groups"
) -> np.ndarray:
    """Integer codes ``0..G-1`` for a per-row sequence of group ids.

    Codes follow the order of first appearance. Missing ids (``None``, ``NaN``,
    ``pandas.NA``) each get a code of their own, after the codes of the named groups.

    Raises:
        ParameterError: If ``groups`` is not one-dimensional.
    """
    if isinstance(groups, pd.Series | pd.Index):
        values = groups.to_numpy()
    else:
        values = np.asarray(groups, dtype=object) if not isinstance(groups, np.ndarray) else groups
    if values.ndim != 1:
        raise ParameterError(
            f"parameter '{name}' must be one-dimensional (one group id per row), "
            f"got an array of shape {values.shape}",
            fix=f"pass '{name}' as a list, 1-D array or pandas Series with one client id per row",
        )
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.intp).copy()
    missing = codes < 0
    if missing.any():
        codes[missing] = len(uniques) + np.arange(int(missing.sum()), dtype=np.intp)
    return codes


def _check_n_splits(n_splits: Any) -> int:
    if isinstance(n_splits, bool) or not isinstance(n_splits, int | np.integer) or n_splits < 2:
        raise ParameterError(
            f"parameter 'n_splits' must be an integer of at least 2, got {n_splits!r}",
            fix="pass n_splits=2 or more (5 or 10 are usual)",
        )
    return int(n_splits)


def _stratify_bins(
    stratify: Any,
    codes: np.ndarray,
    n_groups: int,
    n_splits: int,
    n_bins: int | None,
    order: np.ndarray,
) -> np.ndarray:
    """Quantile bin of every group's mean score; groups without a score get the last bin."""
    if isinstance(stratify, pd.Series):
        score = stratify.to_numpy(dtype=float, na_value=np.nan)
    else:
        try:
            score = np.asarray(stratify, dtype=float)
        except (TypeError, ValueError):
            raise ParameterError(
                "parameter 'stratify' must hold one numeric score per row (NaN for unknown), "
                "got values that are not numbers",
                fix="pass the per-session score (e.g. the total alliance rating) as numbers",
            ) from None
    if score.ndim != 1 or len(score) != len(codes):
        raise ParameterError(
            f"parameter 'stratify' must have one score per row: expected length {len(codes)}, "
            f"got shape {score.shape}",
            fix="pass a score for every row of 'groups', in the same order",
        )
    finite = np.isfinite(score)
    sums = np.bincount(codes, weights=np.where(finite, score, 0.0), minlength=n_groups)
    counts = np.bincount(codes, weights=finite.astype(float), minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        gmean = sums / counts
    valid = counts > 0
    n_valid = int(valid.sum())
    if n_bins is None:
        n_bins = max(1, min(MAX_DEFAULT_BINS, n_valid // n_splits))
    elif isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ParameterError(
            f"parameter 'n_bins' must be a positive integer or None, got {n_bins!r}",
            fix="leave n_bins=None to pick the number of score bins automatically",
        )
    n_bins = max(1, min(int(n_bins), n_valid)) if n_valid else 1
    bins = np.full(n_groups, n_bins, dtype=np.intp)  # groups with no score: a bin of their own
    if n_valid:
        # Equal-frequency bins over the groups' mean scores; ties broken by the random order.
        rank_in_order = np.empty(n_groups, dtype=np.intp)
        rank_in_order[order] = np.arange(n_groups)
        idx = np.flatnonzero(valid)
        by_score = idx[np.lexsort((rank_in_order[idx], gmean[idx]))]
        bins[by_score] = (np.arange(n_valid) * n_bins) // n_valid
    return bins


def fold_assignments(
    groups: Sequence[Any] | np.ndarray | pd.Series,
    n_splits: int = 5,
    seed: int = 0,
    stratify: Sequence[float] | np.ndarray | pd.Series | None = None,
    *,
    n_bins: int | None = None,
) -> np.ndarray:
    """The test fold (``0..n_splits-1``) of every row, keeping each group in one fold.

    Groups are assigned greedily, largest first (ties in size broken at random with
    ``seed``), each to the fold that currently holds the fewest rows, which keeps the
    folds close in size. When ``stratify`` is given, groups are first put into
    equal-frequency (quantile) bins of their mean score, and within each bin every group
    goes to the fold holding the fewest rows of that bin (then the fewest rows overall),
    so each fold gets a similar share of low, middle and high scores, in the spirit of
    scikit-learn's ``StratifiedGroupKFold`` for a continuous score.

    Args:
        groups: One group (client) id per row. Missing ids (``None``/``NaN``) each form
            a group of their own.
        n_splits: Number of folds, at least 2 and at most the number of groups.
        seed: Seed of the random tie-breaking; the same inputs and seed give the same
            folds. When all group sizes differ and no stratification is asked for, the
            seed only changes which fold gets which number.
        stratify: Optional per-row score (e.g. the session's total rating) to balance
            the folds by. NaN scores are ignored in a group's mean; groups with no
            score at all share a bin of their own.
        n_bins: Number of quantile bins of the group mean score used for stratification;
            by default ``min(10, n_groups_with_score // n_splits)`` (at least 1).

    Returns:
        An integer array with the fold number of every row.

    Raises:
        ParameterError: If ``n_splits`` is not an integer >= 2, there are fewer groups
            than folds, or ``stratify`` does not hold one number per row.
    """
    n_splits = _check_n_splits(n_splits)
    codes = _group_codes(groups)
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    if n_groups < n_splits:
        raise ParameterError(
            f"parameter 'n_splits' is {n_splits}, but there are only {n_groups} distinct "
            "groups (clients); every fold needs at least one group",
            fix=f"lower n_splits to at most {n_groups}, or add data from more clients"
            if n_groups >= 2
            else "evaluation needs rows from at least 2 clients",
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_groups)  # random tie-breaking order of the groups
    fold_pref = rng.permutation(n_splits)  # random tie-breaking order of the folds
    sizes = np.bincount(codes, minlength=n_groups)
    if stratify is None:
        bins = np.zeros(n_groups, dtype=np.intp)
    else:
        bins = _stratify_bins(stratify, codes, n_groups, n_splits, n_bins, order)

    # Visit groups bin by bin, largest first, ties in the random order.
    rank_in_order = np.empty(n_groups, dtype=np.intp)
    rank_in_order[order] = np.arange(n_groups)
    visit = np.lexsort((rank_in_order, -sizes, bins))

    fold_of_group = np.empty(n_groups, dtype=np.intp)
    fold_rows = np.zeros(n_splits, dtype=np.int64)
    bin_rows = np.zeros(n_splits, dtype=np.int64)
    current_bin = -1
    for g in visit:
        if bins[g] != current_bin:
            current_bin = bins[g]
            bin_rows[:] = 0
        fold = int(np.lexsort((fold_pref, fold_rows, bin_rows))[0])
        fold_of_group[g] = fold
        fold_rows[fold] += sizes[g]
        bin_rows[fold] += sizes[g]
    return fold_of_group[codes]


def grouped_kfold(
    groups: Sequence[Any] | np.ndarray | pd.Series,
    n_splits: int = 5,
    seed: int = 0,
    stratify: Sequence[float] | np.ndarray | pd.Series | None = None,
    *,
    n_bins: int | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """K-fold cross-validation splits that never put one group on both sides.

    Every row is in exactly one test set; a group's rows are all in the same one. See
    :func:`fold_assignments` for how groups are assigned and stratified.

    Args:
        groups: One group (client) id per row. Missing ids (``None``/``NaN``) each form
            a group of their own.
        n_splits: Number of folds, at least 2 and at most the number of groups.
        seed: Seed of the random tie-breaking (deterministic).
        stratify: Optional per-row score to balance the folds by.
        n_bins: Number of score bins for stratification (default: automatic).

    Returns:
        A list of ``n_splits`` pairs ``(train_idx, test_idx)`` of sorted row positions.

    Raises:
        ParameterError: If ``n_splits`` is not an integer >= 2 or exceeds the number of
            groups, or ``stratify`` is invalid.
    """
    folds = fold_assignments(groups, n_splits, seed, stratify, n_bins=n_bins)
    n_splits = int(n_splits)
    return [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(n_splits)]
