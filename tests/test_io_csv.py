"""CSV/TSV tables of turns: default and custom columns, ratings, problems, round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from care.data import Corpus, load_corpus, read_sessions, save_corpus
from care.data.io.csv_table import parse_csv
from care.data.io.native import session_to_record
from care.errors import ParameterError

DATA = Path(__file__).parent / "data"
WAI = {"item1": "wai_1", "item2": "wai_2", "item3": "wai_3"}
TSV_COLUMNS = {"session_id": "conv", "turn_index": "num", "role": "who", "text": "utterance"}


def test_default_columns_with_ratings() -> None:
    corpus = load_corpus(DATA / "turns.csv", rating_columns=WAI, instrument="wai-sr-client")
    assert corpus.ids == ["csv-en", "csv-zh"]
    assert corpus.languages() == {"en": 1, "zh": 1}
    english = corpus["csv-en"]
    assert [turn.role for turn in english.turns] == ["counselor", "client", "counselor"]
    assert english.turns[0].speaker == "Sam" and english.turns[0].time == "14:00"
    assert english.turns[1].meta == {"note": "laughs"}  # unmapped columns go to meta
    assert english.client_id == "c9"
    rating = english.rating("wai-sr-client")
    assert rating is not None and rating.values == {"item1": 4.0, "item2": 5.0, "item3": 3.0}
    assert corpus["csv-zh"].ratings == []  # unrated sessions are fine
    assert [turn.role for turn in corpus["csv-zh"].turns] == ["counselor", "client"]
    # Without a speaker cell, a role label is kept as the speaker.
    assert [turn.speaker for turn in corpus["csv-zh"].turns] == ["咨询师", "来访者"]
    assert english.turns[1].speaker is None  # "Client" is a role name, not a label


def test_without_ratings_the_rating_columns_are_meta() -> None:
    corpus = load_corpus(DATA / "turns.csv")
    assert corpus["csv-en"].ratings == []
    assert corpus["csv-en"].turns[0].meta["wai_1"] == "4"


def test_custom_columns_speaker_map_and_turn_order() -> None:
    corpus = load_corpus(
        DATA / "custom.tsv",
        columns=TSV_COLUMNS,
        speaker_map={"CO": "counselor", "CL": "client"},
    )
    session = corpus["tsv-ja"]
    assert session.language == "ja"
    assert [turn.role for turn in session.turns] == ["counselor", "client", "counselor"]
    assert session.turns[0].text.startswith("こんにちは")


def test_unmapped_roles_are_problems_naming_row_and_column() -> None:
    sessions, problems = read_sessions(DATA / "custom.tsv", columns=TSV_COLUMNS)
    assert sessions == []
    assert [(p.record, p.field) for p in problems] == [
        ("row 2", "who"),
        ("row 3", "who"),
        ("row 4", "who"),
    ]
    # The cell's value is not echoed (a role column may hold transcript text or names).
    assert problems[0].message == "unknown role (a text of 2 characters)"
    assert "CL" not in str(problems[0])
    assert "--speaker 'LABEL=ROLE'" in (problems[0].fix or "")


def test_no_session_column_means_one_session_named_after_the_file() -> None:
    sessions, problems = parse_csv("role,text\nclient,Hi.\ncounselor,Hello.\n", file="x/chat.csv")
    assert not problems and [s.id for s in sessions] == ["chat"]


def test_every_bad_row_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "session_id,role,text,turn_index,client_id,score\n"
        "s1,client,Hello.,0,c1,4\n"
        "s1,coach,Hi there.,1,c1,\n"
        "s2,client,,0,c2,\n"
        ",client,No id.,0,c3,\n"
        "s3,client,Fine.,first,c4,\n"
        "s4,client,Fine.,0,c5,3\n"
        "s4,counselor,Good.,1,c6,5\n",
        encoding="utf-8",
    )
    sessions, problems = read_sessions(
        path, rating_columns={"item1": "score"}, instrument="wai-sr-client"
    )
    assert sessions == []
    assert [(p.record, p.field) for p in problems] == [
        ("row 3", "role"),
        ("row 4", "text"),
        ("row 5", "session_id"),
        ("row 6", "turn_index"),
        ("row 8", "client_id"),
        ("row 8", "score"),
    ]
    assert all(p.file == str(path) and p.fix for p in problems)


def test_missing_mapped_columns_and_bad_options() -> None:
    _, problems = parse_csv("a,b\n1,2\n", file="t.csv", columns={"text": "utterance"})
    assert problems[0].field == "utterance" and problems[0].record == "row 1"
    _, problems = parse_csv("a,b\n1,2\n", file="t.csv")
    assert len(problems) == 1 and problems[0].field == "text"
    assert "'text' column" in problems[0].message and "'role' or 'speaker'" in problems[0].message
    assert "--column text=HEADER --column role=HEADER" in (problems[0].fix or "")
    with pytest.raises(ParameterError, match="instrument"):
        parse_csv("role,text\nclient,Hi\n", file="t.csv", rating_columns={"item1": "x"})
    with pytest.raises(ParameterError, match="column field"):
        parse_csv("role,text\nclient,Hi\n", file="t.csv", columns={"utterance": "text"})
    with pytest.raises(ParameterError, match="unknown role"):
        parse_csv("role,text\nclient,Hi\n", file="t.csv", speaker_map={"Dr. X": "doctor"})


def test_out_of_scale_rating_is_reported_by_validation(tmp_path: Path) -> None:
    path = tmp_path / "rated.csv"
    path.write_text("session_id,role,text,w1\ns1,client,Hi.,9\n", encoding="utf-8")
    _, problems = read_sessions(path, rating_columns={"item1": "w1"}, instrument="wai-sr-client")
    assert len(problems) == 1
    assert problems[0].field == "ratings[0].values.item1"
    assert "outside the scale 1-5" in problems[0].message


@pytest.mark.parametrize("name", ["out.csv", "out.tsv"])
def test_round_trip_corpus_table_corpus(tmp_path: Path, name: str) -> None:
    corpus = load_corpus(DATA / "sessions.jsonl")
    path = save_corpus(corpus, tmp_path / name)
    again = load_corpus(path)
    assert again.ids == corpus.ids
    for original, copy in zip(corpus, again, strict=True):
        record, copied = session_to_record(original), session_to_record(copy)
        # Tables keep turns and session fields; ratings and session meta need native.
        for key in ("ratings", "meta"):
            record.pop(key, None)
        assert copied == record


def test_round_trip_corpus_dataframe_corpus() -> None:
    corpus = load_corpus(DATA / "turns.csv", rating_columns=WAI, instrument="wai-sr-client")
    again = Corpus.from_dataframe(corpus.to_dataframe(), corpus.ratings_frame())
    assert [session_to_record(s) for s in again] == [session_to_record(s) for s in corpus]
