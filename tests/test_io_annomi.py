"""AnnoMI importer: the shared sample and hand-made rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from care.data import Corpus, load_corpus, read_sessions
from care.data.io import detect_format
from care.data.io.annomi import parse_annomi
from shared_data import shared_data

SAMPLE = shared_data() / "samples" / "annomi_sample.csv"
needs_data = pytest.mark.skipif(
    not SAMPLE.exists(), reason=f"the shared AnnoMI sample is not at {SAMPLE}"
)
HEADER = (
    "transcript_id,mi_quality,video_title,video_url,topic,utterance_id,interlocutor,"
    "timestamp,utterance_text,main_therapist_behaviour,client_talk_type"
)


@pytest.fixture(scope="module")
def sample() -> Corpus:
    return load_corpus(SAMPLE)


@needs_data
def test_sample_sessions(sample: Corpus) -> None:
    assert detect_format(SAMPLE, SAMPLE.read_text(encoding="utf-8")) == "annomi"
    assert len(sample) == 2 and all(s.id.startswith("annomi-") for s in sample)
    assert sample.languages() == {"en": 2}
    for session in sample:
        assert session.ratings == []
        assert session.meta["mi_quality"] in ("high", "low")
        assert {"topic", "video_title", "video_url", "transcript_id"} <= set(session.meta)
        assert {turn.role for turn in session.turns} == {"counselor", "client"}
        assert all(turn.time for turn in session.turns)
        for turn in session.turns:
            if turn.role == "counselor":
                assert "talk_type" not in turn.meta
                assert turn.meta["behaviour"] == turn.meta["main_therapist_behaviour"]
            else:
                assert "behaviour" not in turn.meta  # "n/a" is left out
                assert turn.meta["talk_type"] == turn.meta["client_talk_type"]


def test_rows_are_grouped_and_ordered_by_utterance_id() -> None:
    text = "\n".join(
        [
            HEADER,
            "5,high,Video,https://example.org/v,smoking,1,client,00:00:09,No.,n/a,sustain",
            "5,high,Video,https://example.org/v,smoking,0,therapist,00:00:02,Smoke?,question,n/a",
            "6,low,Other,https://example.org/w,diet,0,therapist,00:00:01,Hello.,other,n/a",
        ]
    )
    sessions, problems = parse_annomi(text, file="a.csv")
    assert not problems
    assert [s.id for s in sessions] == ["annomi-5", "annomi-6"]
    first = sessions[0]
    assert [t.text for t in first.turns] == ["Smoke?", "No."]
    assert [t.index for t in first.turns] == [0, 1]
    assert first.turns[0].meta["behaviour"] == "question"
    assert first.turns[1].meta["talk_type"] == "sustain"
    assert first.turns[0].time == "00:00:02"


def test_bad_rows_are_all_reported(tmp_path: Path) -> None:
    rows = [
        HEADER,
        "1,high,V,u,t,0,therapist,00:00:01,Hello.,question,n/a",
        "1,high,V,u,t,1,narrator,00:00:02,Meanwhile.,n/a,n/a",
        "2,low,V,u,t,0,client,00:00:03,,n/a,neutral",
        "3,low,V,u,t,0,client,00:00:04,Fine.,n/a,neutral",
    ]
    path = tmp_path / "annomi.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    sessions, problems = read_sessions(path)
    assert [s.id for s in sessions] == ["annomi-3"]
    assert [(p.record, p.field) for p in problems] == [
        ("row 3", "interlocutor"),
        ("row 4", "utterance_text"),
    ]
    assert all(p.file == str(path) and p.fix for p in problems)
