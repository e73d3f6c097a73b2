"""The corpus: unique ids, selection, and round trips through pandas."""

from __future__ import annotations

from pathlib import Path

import pytest

from care.data import Corpus, RatingSet, Session, Turn, load_corpus
from care.data.io.native import session_to_record
from care.errors import DataError

DATA = Path(__file__).parent / "data"


def test_ids_are_unique() -> None:
    corpus = Corpus([Session("a", [Turn(0, "client", "Hi.")])])
    with pytest.raises(DataError, match="duplicate session id 'a'") as caught:
        corpus.add(Session("a", [Turn(0, "client", "Again.")]))
    assert caught.value.problem.fix


def test_selection_and_lookup() -> None:
    corpus = load_corpus(DATA / "sessions.jsonl")
    assert "en-01" in corpus and "nope" not in corpus
    assert corpus.filter(lambda s: s.language == "zh").ids == ["zh-01"]
    assert corpus.subset(["ja-01", "en-01"]).ids == ["ja-01", "en-01"]
    with pytest.raises(KeyError, match="nope"):
        corpus["nope"]
    assert repr(corpus) == "Corpus(3 sessions)"


def test_dataframe_round_trip_keeps_everything() -> None:
    corpus = load_corpus([DATA / "sessions.jsonl", DATA / "sessions_zh.txt"])
    corpus["zh-a"].ratings.append(RatingSet("wai-sr-client", "client", {"item4": 2.0}))
    turns = corpus.to_dataframe()
    assert len(turns) == sum(len(s) for s in corpus)
    again = Corpus.from_dataframe(turns, corpus.ratings_frame())
    assert [session_to_record(s) for s in again] == [session_to_record(s) for s in corpus]


def test_ratings_table() -> None:
    corpus = load_corpus(DATA / "sessions.jsonl")
    table = corpus.ratings_table("wai-sr-client")
    assert list(table.index) == ["en-01"]
    assert table.loc["en-01", "item3"] == 5.0


def test_from_dataframe_needs_the_core_columns() -> None:
    frame = load_corpus(DATA / "sessions.jsonl").to_dataframe().drop(columns=["role"])
    with pytest.raises(DataError, match="role"):
        Corpus.from_dataframe(frame)
