"""One conformance suite for every assessor: the estimator contract and result shape."""

from __future__ import annotations

import math

import numpy as np
import pytest

from care.assessors import LengthAssessor, LiteAssessor, MeanRatingAssessor
from care.assessors.lite import LiteConfig
from care.data import Corpus, RatingSet, Session, Turn
from care.errors import DataError, NotFittedError
from care.instruments import get_instrument

INSTRUMENT = get_instrument("wai-sr-client")
POSITIVE = [
    "Thank you, that really helps, I feel understood.",
    "Yes, exactly, I will try that plan this week.",
    "I feel much clearer now, thank you so much.",
]
NEGATIVE = [
    "I don't know. That is not what I meant.",
    "No. I am not sure this is helping at all.",
    "Okay. Whatever. I don't think so.",
]


def make_corpus(n: int = 60, seed: int = 0) -> Corpus:
    """Synthetic English sessions whose client ratings follow the client's words."""
    rng = np.random.default_rng(seed)
    sessions = []
    for number in range(n):
        good = number % 2 == 0
        lines = POSITIVE if good else NEGATIVE
        turns = []
        for position in range(8):
            turns.append(Turn(len(turns), "counselor", "How does that feel when you say it?"))
            turns.append(Turn(len(turns), "client", lines[(position + number) % 3]))
        base = 4.2 if good else 2.0
        values = {
            item.id: float(np.clip(round(base + rng.normal(0, 0.5)), 1, 5))
            for item in INSTRUMENT.items
        }
        sessions.append(
            Session(
                id=f"s{number}",
                turns=turns,
                language="en",
                client_id=f"c{number // 2}",
                ratings=[RatingSet("wai-sr-client", "client", values)],
            )
        )
    return Corpus(sessions)


ASSESSORS = {
    "mean": lambda: MeanRatingAssessor(),
    "length": lambda: LengthAssessor(),
    "lite": lambda: LiteAssessor(config=LiteConfig(min_df=1, max_features=5000)),
}


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return make_corpus()


@pytest.mark.parametrize("name", sorted(ASSESSORS))
def test_init_only_stores_parameters(name: str) -> None:
    assessor = ASSESSORS[name]()
    params = assessor.get_params()
    assert all(not key.endswith("_") for key in vars(assessor) if not key.startswith("_"))
    for key, value in params.items():
        assert getattr(assessor, key) is value


@pytest.mark.parametrize("name", ["mean", "length"])
def test_assess_before_fit_raises(name: str, corpus: Corpus) -> None:
    with pytest.raises(NotFittedError):
        ASSESSORS[name]().assess(corpus)


@pytest.mark.parametrize("name", sorted(ASSESSORS))
def test_fit_returns_self_and_results_cover_every_item_on_scale(name: str, corpus: Corpus) -> None:
    assessor = ASSESSORS[name]()
    assert assessor.fit(corpus, "wai-sr-client") is assessor
    results = assessor.assess(corpus)
    assert [r.session_id for r in results] == corpus.ids
    for result in results:
        assert result.instrument == "wai-sr-client"
        assert result.model and result.model_version is not None
        assert set(result.items) == {item.id for item in INSTRUMENT.items}
        for rating in result.items.values():
            assert rating.value is not None and 1 <= rating.value <= 5
        scores = result.dimension_scores()
        assert set(scores) == {"goal", "task", "bond"}
        assert all(1 <= value <= 5 for value in scores.values())
        assert not math.isnan(result.total_score())
        record = result.to_record()
        assert type(result).from_record(record).to_record() == record


@pytest.mark.parametrize("name", sorted(ASSESSORS))
def test_assess_is_deterministic_and_streams(name: str, corpus: Corpus) -> None:
    assessor = ASSESSORS[name]().fit(corpus, "wai-sr-client")
    first = [r.item_values() for r in assessor.assess(corpus)]
    streamed = [r.item_values() for r in assessor.iter_assess(iter(corpus), batch_size=7)]
    assert first == streamed


@pytest.mark.parametrize("name", sorted(ASSESSORS))
def test_fit_without_ratings_is_a_clear_error(name: str) -> None:
    unrated = Corpus([Session("u", [Turn(0, "client", "Hello there.")], language="en")])
    with pytest.raises(DataError, match="ratings"):
        ASSESSORS[name]().fit(unrated, "wai-sr-client")


def test_lite_learns_what_the_mean_baseline_cannot() -> None:
    train, test = make_corpus(80, seed=1), make_corpus(40, seed=2)
    truth = np.array([[s.ratings[0].values[i.id] for i in INSTRUMENT.items] for s in test])
    errors = {}
    for name in ("mean", "lite"):
        assessor = ASSESSORS[name]().fit(train, "wai-sr-client")
        predicted = assessor.assess(test).items_frame()[[i.id for i in INSTRUMENT.items]]
        errors[name] = float(np.mean((predicted.to_numpy() - truth) ** 2))
    assert errors["lite"] < 0.5 * errors["mean"]
