"""Length features, ridge regression, and the built-in model's tokens and TF-IDF blocks."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from care.assessors.lite.features import BlockSpec, tokenize_sessions
from care.assessors.lite.text import char_ngrams, tokenize, word_ngrams
from care.assessors.lite.vectorizer import TfidfVocabulary
from care.data import Session, Turn
from care.features.length import (
    LENGTH_FEATURE_NAMES,
    column_stats,
    length_features,
    standardize,
)
from care.features.ridge import fit_ridge


def timed_session(times: list[str] | None) -> Session:
    texts = [("counselor", "Hello, how are you?"), ("client", "Tired."), ("counselor", "Why?")]
    turns = [
        Turn(i, role, text, time=None if times is None else times[i])
        for i, (role, text) in enumerate(texts)
    ]
    return Session("s", turns, language="en")


def test_length_features_by_hand() -> None:
    features = dict(
        zip(
            LENGTH_FEATURE_NAMES,
            length_features(
                timed_session(["2024-01-01T10:00:00", "2024-01-01T10:00:30", "2024-01-01T10:02:30"])
            ),
            strict=True,
        )
    )
    assert features["log_turns"] == pytest.approx(math.log1p(3))
    assert features["log_client_chars"] == pytest.approx(math.log1p(6))
    assert features["log_counselor_chars"] == pytest.approx(math.log1p(19 + 4))
    assert features["client_char_share"] == pytest.approx(6 / 29)
    assert features["log_duration_minutes"] == pytest.approx(math.log1p(2.5))
    assert features["log_median_gap_seconds"] == pytest.approx(math.log1p(75))
    assert features["mean_log_gap_seconds"] == pytest.approx((math.log1p(30) + math.log1p(120)) / 2)


def test_untimed_sessions_get_the_training_mean_for_time_features() -> None:
    untimed = length_features(timed_session(None))
    names = [n for n, v in zip(LENGTH_FEATURE_NAMES, untimed, strict=True) if math.isnan(v)]
    assert names == ["log_duration_minutes", "log_median_gap_seconds", "mean_log_gap_seconds"]
    training = np.array([[1.0, 2.0], [3.0, np.nan], [5.0, 4.0]])
    mean, scale = column_stats(training)
    assert mean.tolist() == [3.0, 3.0]
    assert standardize(np.array([[np.nan, np.nan]]), mean, scale).tolist() == [[0.0, 0.0]]


def test_ridge_matches_the_closed_form() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 3 + rng.normal(0, 0.1, 50)
    model = fit_ridge(x, y, alpha=0.0)
    design = np.column_stack([np.ones(50), x])
    expected = np.linalg.lstsq(design, y, rcond=None)[0]
    assert model.predict(x)[:, 0] == pytest.approx(design @ expected, abs=1e-8)


def test_tokens_english_and_chinese() -> None:
    assert word_ngrams("I can't sleep.") == ["i", "can't", "sleep", "i can't", "can't sleep"]
    assert char_ngrams("谢谢你，OK") == ["谢", "谢", "你", "谢谢", "谢你", "ok"]


def test_tokenizer_2_keeps_punctuation_and_turn_boundaries() -> None:
    english = tokenize("Thanks! I’ll try.", "en", 2, 2)
    assert english[:6] == ["thanks", "!", "i'll", "try", ".", "thanks !"]
    assert "<s> thanks" in english and ". </s>" in english
    # n-grams of single-letter words keep their space: "i a" is not the word "ia"
    assert "i a" in tokenize("I a", "en", 2, 2)
    chinese = tokenize("谢谢你，OK", "zh", 2, 2)
    unigrams = ["谢", "谢", "你", "，", "ok"]
    bigrams = ["谢谢", "谢你", "你，", "， ok"]
    assert chinese == [*unigrams, *bigrams, "<s> 谢", "ok </s>"]
    # a sentence inside a turn gets the boundary bigrams only where the turn opens/ends
    middle = tokenize("Fine.", "en", 2, 2, starts_turn=False, ends_turn=False)
    assert middle == ["fine", ".", "fine ."]
    assert tokenize("I can't sleep.", "en", 2, 1) == word_ngrams("I can't sleep.")
    with pytest.raises(ValueError, match="unknown tokenizer"):
        tokenize("x", "en", 2, 3)


def test_block_selection_by_role_phase_and_last_turns() -> None:
    turns = [Turn(i, "client" if i % 2 else "counselor", f"turn {i}") for i in range(10)]
    item = tokenize_sessions([Session("s", turns, language="en")], "en")[0]
    assert item.block_turns(BlockSpec("client")) == [1, 3, 5, 7, 9]
    assert item.block_turns(BlockSpec("client", 0.8, 1.0)) == [9]
    assert item.block_turns(BlockSpec("counselor", 0.0, 0.5)) == [0, 2, 4]
    assert item.block_turns(BlockSpec("client", last_turns=2)) == [7, 9]


def test_tfidf_rows_are_normalised_and_weigh_keeps_the_counts_structure() -> None:
    from scipy import sparse

    documents = [Counter({"a": 2, "b": 1}), Counter({"b": 1, "c": 3}), Counter(), Counter({"a": 1})]
    vocabulary = TfidfVocabulary.fit(documents, min_df=1)
    matrix = vocabulary.transform(documents)
    norms = np.sqrt(matrix.multiply(matrix).sum(axis=1)).A.ravel()
    assert np.allclose(norms, [1.0, 1.0, 0.0, 1.0])  # an empty document is a zero row
    expected = (1 + np.log(2)) * vocabulary.idf[vocabulary.vocabulary["a"]]
    first = matrix[0].toarray().ravel()
    assert first[vocabulary.vocabulary["a"]] == pytest.approx(
        expected / np.linalg.norm([expected, vocabulary.idf[vocabulary.vocabulary["b"]]])
    )
    counts = sparse.csr_matrix(np.array([[0.0, 3.0, 1.0], [2.0, 0.0, 0.0]]))
    weighed = vocabulary.weigh(counts)
    assert np.array_equal(weighed.indices, counts.indices)
    assert np.array_equal(weighed.indptr, counts.indptr)


def test_dual_ridge_equals_ridge_on_centred_features() -> None:
    from scipy import sparse

    from care.assessors.lite.fit import solve_dual_ridge

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)) + 3
    y = np.column_stack([x @ np.arange(5) + rng.normal(size=40), rng.normal(size=40)])
    coef, intercept = solve_dual_ridge(sparse.csr_matrix(x), y, alpha=2.0)
    centred = x - x.mean(axis=0)
    expected = np.linalg.solve(centred.T @ centred + 2.0 * np.eye(5), centred.T @ (y - y.mean(0)))
    assert np.allclose(coef, expected)
    assert np.allclose(intercept, y.mean(axis=0) - x.mean(axis=0) @ expected)
