"""The built-in model's vectorised path gives the numbers and evidence of the original
per-token path (kept as a frozen reference in tests/lite_reference.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from care.assessors.degenerate import consistent_evidence
from care.assessors.lite import LiteAssessor, load_shipped_model
from care.assessors.lite.conformal import model_signals, scored_outputs
from care.assessors.lite.features import feature_matrix, tokenize_sessions
from care.assessors.lite.predictor import LitePredictor
from care.assessors.lite.signals import LITE_SIGNAL_NAMES, lite_signals
from care.assessors.lite.text import tokenize
from care.assessors.lite.token_index import TokenIndex
from care.data import load_corpus
from care.data.session import Session, Turn
from care.instruments import get_instrument
from care.records import Evidence
from lite_reference import reference_assess
from shared_data import CHINESE, ENGLISH, needs_data

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "sessions.jsonl"


def assert_same_as_reference(
    sessions: list[Session], language: str, cut: bool, by_units: bool = True
) -> None:
    """Scores within 1e-6, and the same evidence turns, quotes and contributions
    (``by_units``: token counts by unit ids from the first batch on, else by strings)."""
    model = load_shipped_model(language, cut)
    expected = reference_assess(model, sessions, language)
    assessor = LiteAssessor(model={language: model})
    predictor = assessor.predictor(language)
    predictor.index.min_texts_for_units = 0 if by_units else 10**9
    batch = predictor.turn_matrix(sessions, language)
    prediction = predictor.predict(batch)
    results = list(assessor.iter_assess(sessions, batch_size=37))
    assert predictor.index.counts_by_units(language) == by_units
    assert [result.session_id for result in results] == [session.id for session in sessions]
    for position, (session, reference, result) in enumerate(
        zip(sessions, expected, results, strict=True)
    ):
        assert prediction.values[position] == pytest.approx(reference.values, abs=1e-6)
        items = [result.items[item_id].value for item_id in model.item_ids]
        assert items == pytest.approx([round(v, 3) for v in reference.values], abs=1.01e-3)
        shares = prediction.session_shares(position)
        assert set(result.evidence) == set(reference.evidence)
        scores = result.dimension_scores()
        scale = predictor.instrument.scale
        for dimension, found in reference.evidence.items():
            # the evidence rule for scores at an end of the scale applies to both paths
            score = scores[dimension] if dimension in scores else result.total_score()
            kept = consistent_evidence(
                score,
                scale.min,
                scale.max,
                [Evidence(turn, quote, contribution) for turn, quote, contribution in found],
            )
            pieces = [(piece.turn_index, piece.quote, piece.contribution) for piece in kept]
            column = predictor.dimensions.index(dimension)
            got = result.evidence[dimension]
            where = (session.id, dimension)
            assert [piece.turn_index for piece in got] == [turn for turn, _, _ in pieces], where
            assert [piece.quote for piece in got] == [quote for _, quote, _ in pieces], where
            for piece, (turn, _, contribution) in zip(got, pieces, strict=True):
                assert shares[turn, column] == pytest.approx(contribution, abs=1e-6), where
                assert piece.contribution == pytest.approx(contribution, abs=5e-5 + 1e-6)


@pytest.mark.parametrize("by_units", [True, False])
@pytest.mark.parametrize("cut", [False, True])
@pytest.mark.parametrize("language", ["en", "zh"])
def test_examples_and_odd_sessions_match_the_reference(
    language: str, cut: bool, by_units: bool
) -> None:
    sessions = [s for s in load_corpus(EXAMPLES) if s.language == language]
    odd = [
        Session("one-turn", [Turn(0, "client", "Thank you. 谢谢！ Really, thanks.")], language),
        Session(
            "no-tokens", [Turn(0, "counselor", " "), Turn(1, "client", "\U0001f642")], language
        ),
        Session(
            "counselor-only",
            [Turn(i, "counselor", "How are you? Tell me more. 你好。") for i in range(4)],
            language,
        ),
        Session(
            "repeats",
            [
                Turn(i, "client" if i % 2 else "counselor", "Yes. I see! 是的。我明白！")
                for i in range(9)
            ],
            language,
        ),
    ]
    assert_same_as_reference([*sessions, *odd], language, cut, by_units)


@needs_data
@pytest.mark.slow
@pytest.mark.parametrize("cut", [False, True])
@pytest.mark.parametrize("language", ["en", "zh"])
def test_shared_sessions_match_the_reference(language: str, cut: bool) -> None:
    path = ENGLISH if language == "en" else CHINESE
    sessions = list(load_corpus(path, limit=100))
    assert_same_as_reference(sessions, language, cut)


ODD_TEXTS = [
    "",
    "   ",
    "...!?",
    "I can\u2019t SLEEP. Can't you?",
    "<s> and </s> are not boundaries here",
    "OK谢谢你，ok 好的 2024年",
    "ΟΔΟΣ Σ σ ς",
    "a\x00b",  # the separator the counting uses, inside a text
    "谢谢",
    "x",
]


def assert_unit_counts_equal_string_counts(texts: list[str], language: str) -> None:
    model = load_shipped_model(language)
    by_units = TokenIndex(model.vocabularies, 2, 2, min_texts_for_units=0)
    by_strings = TokenIndex(model.vocabularies, 2, 2, min_texts_for_units=10**9)
    rng = np.random.default_rng(0)
    starts, ends = rng.random(len(texts)) < 0.5, rng.random(len(texts)) < 0.5
    for flags in ({}, {"starts_turn": starts, "ends_turn": ends}):
        expected, expected_totals = by_strings.count_with_totals(texts, language, **flags)
        got, totals = by_units.count_with_totals(texts, language, **flags)
        assert by_units.counts_by_units(language) and not by_strings.counts_by_units(language)
        assert got.shape == expected.shape and (got != expected).nnz == 0
        # every token counts in the totals, in a vocabulary or not (the known shares)
        boundaries = [
            {"starts_turn": bool(s), "ends_turn": bool(e)}
            for s, e in zip(
                flags.get("starts_turn", [True] * len(texts)),
                flags.get("ends_turn", [True] * len(texts)),
                strict=True,
            )
        ]
        lengths = [
            len(tokenize(text, language, 2, 2, **where))
            for text, where in zip(texts, boundaries, strict=True)
        ]
        assert totals.tolist() == lengths and expected_totals.tolist() == lengths
        # and texts one at a time (a text holding the separator, or none)
        for text in ODD_TEXTS:
            one = by_units.count([text], language)
            assert (one != by_strings.count([text], language)).nnz == 0, text


@pytest.mark.parametrize("language", ["en", "zh"])
def test_counting_by_units_gives_the_tokenizers_counts(language: str) -> None:
    texts = [turn.text for session in load_corpus(EXAMPLES) for turn in session.turns]
    assert_unit_counts_equal_string_counts([*texts, *ODD_TEXTS], language)


@needs_data
@pytest.mark.parametrize("language", ["en", "zh"])
def test_counting_by_units_gives_the_tokenizers_counts_on_shared_turns(language: str) -> None:
    path = ENGLISH if language == "en" else CHINESE
    sessions = load_corpus(path, limit=40)
    assert_unit_counts_equal_string_counts(
        [turn.text for session in sessions for turn in session.turns], language
    )


def reference_signals(sessions: list[Session], language: str) -> np.ndarray:
    """The signals as cross-validation computes them: a second tokenisation, by turn."""
    model = load_shipped_model(language)
    config = model.config
    tokenized = tokenize_sessions(sessions, language, config.max_n, config.tokenizer)
    matrix = feature_matrix(
        tokenized,
        config.blocks,
        model.vocabularies,
        model.dense_mean,
        model.dense_scale,
        config.dense_weight,
    )
    outputs = scored_outputs(get_instrument(config.instrument))
    return lite_signals(tokenized, config.blocks, model.vocabularies, matrix, model.coef, outputs)


def assert_signals_match_the_reference(sessions: list[Session], language: str) -> None:
    predictor = LitePredictor(load_shipped_model(language))
    batch = predictor.turn_matrix(sessions, language)
    got = model_signals(predictor, batch, predictor.predict(batch))
    expected = reference_signals(sessions, language)
    assert got.shape == expected.shape == (len(sessions), len(LITE_SIGNAL_NAMES))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)
    assert np.array_equal(np.isnan(got), np.isnan(expected))


def test_signals_of_a_batch_are_those_of_cross_validation_on_odd_sessions() -> None:
    """The intervals and domain check compare a new session with held-out training
    sessions, so its signals must be computed as theirs were."""
    sessions = [
        *load_corpus(EXAMPLES),
        Session("only-client", [Turn(0, "client", "I can\u2019t sleep. Help?")], "en"),
        Session("only-counselor", [Turn(0, "counselor", "Hello, how are you?")], "en"),
        Session("marks", [Turn(0, "client", "...!?"), Turn(1, "counselor", "   ")], "en"),
    ]
    english = [s for s in sessions if (s.language or "en") == "en"]
    assert_signals_match_the_reference(english, "en")


@needs_data
@pytest.mark.parametrize("language", ["en", "zh"])
def test_signals_of_a_batch_are_those_of_cross_validation_on_shared_sessions(
    language: str,
) -> None:
    path = ENGLISH if language == "en" else CHINESE
    assert_signals_match_the_reference(list(load_corpus(path, limit=60)), language)


def test_a_model_file_with_arrays_it_does_not_know_gives_the_same_results(tmp_path) -> None:
    """Later versions may store more in a model file; prediction reads what it needs."""
    path = load_shipped_model("en").save(tmp_path / "model.npz")
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["a_later_field"] = np.arange(5.0)
    np.savez(tmp_path / "later.npz", **arrays)
    sessions = [s for s in load_corpus(EXAMPLES) if s.language == "en"]
    first = [r.to_record() for r in LiteAssessor(model=path).assess(sessions)]
    second = [r.to_record() for r in LiteAssessor(model=tmp_path / "later.npz").assess(sessions)]
    assert first == second and first[0]["evidence"]
