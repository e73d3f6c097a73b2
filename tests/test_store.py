"""The run store: results survive, round-trip, and re-runs know what is finished."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from care.results import Evidence, ItemRating, SessionAssessment
from care.store import RunStore, StoreError

KEY = {"instrument": "wai-sr-client", "model": "openai/m", "prompt_version": "care-client-en@1"}


def _rating(item: str, value: float | None, **extra) -> ItemRating:
    return ItemRating(session_id="s1", item_id=item, value=value, **extra)


def test_items_round_trip_with_evidence_probabilities_and_failures(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    with RunStore(path) as store:
        store.put_item(
            _rating(
                "item1",
                4.0,
                probabilities={"1": 0.1, "4": 0.9},
                rationale='I said "it helps"',
                evidence=[Evidence(turn_index=3, quote="it helps", verbatim=True)],
                raw_output="4\nI said it helps",
            ),
            expected=3.7,
            usage={"prompt_tokens": 10, "completion_tokens": 3, "cached_tokens": 8},
            **KEY,
        )
        store.put_item(_rating("item2", None, raw_output="blah", error="no option number"), **KEY)
    # A new connection (as after a restart) sees both.
    with RunStore(path) as store:
        rows = {r.item_id: (r, info) for r, info in store.item_rows("s1", **KEY)}
        assert rows["item1"][0].evidence == [Evidence(turn_index=3, quote="it helps")]
        assert rows["item1"][0].probabilities == {"1": 0.1, "4": 0.9}
        assert rows["item1"][1]["expected"] == 3.7
        assert rows["item1"][1]["usage"]["cached_tokens"] == 8
        assert rows["item2"][1]["status"] == "parse_failure"
        assert rows["item2"][0].raw_output == "blah"
        assert store.failures()[0][0].error == "no option number"
        # Other models or prompt versions are other keys.
        assert store.get_items("s1", **{**KEY, "prompt_version": "v2"}) == {}


def test_backend_errors_are_not_finished(tmp_path: Path) -> None:
    with RunStore(tmp_path / "run.sqlite") as store:
        store.put_item(_rating("item1", 3.0), **KEY)
        store.put_item(_rating("item2", None, error="HTTP 503"), status="backend_error", **KEY)
        store.put_item(_rating("item3", None, error="unreadable"), **KEY)
        assert set(store.finished_items("s1", **KEY)) == {"item1", "item3"}


def test_session_assessments_round_trip(tmp_path: Path) -> None:
    assessment = SessionAssessment(
        session_id="s1",
        instrument="wai-sr-client",
        model="care-lite-en",
        model_version="7",
        items={
            f"item{i}": ItemRating(session_id="s1", item_id=f"item{i}", value=float(i % 5 + 1))
            for i in range(1, 13)
        },
        rationales={"bond": "warm"},
        evidence={"bond": [Evidence(turn_index=1, quote="thanks", contribution=0.2)]},
        language="en",
        meta={"cut": None},
    )
    with RunStore(tmp_path / "run.sqlite") as store:
        assert not store.has_assessment(
            "s1", instrument="wai-sr-client", model="care-lite-en", prompt_version="7"
        )
        store.put_assessment(assessment)
        back = store.get_assessment(
            "s1", instrument="wai-sr-client", model="care-lite-en", prompt_version="7"
        )
        assert back is not None
        assert back.to_record() == assessment.to_record()
        assert list(back.items) == list(assessment.items)
        assert [a.session_id for a in store.assessments(model="care-lite-en")] == ["s1"]


def test_wal_mode_and_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "run.sqlite"
    RunStore(path).close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    bad = tmp_path / "notes.sqlite"
    bad.write_text("this is not a database " * 100)
    with pytest.raises(StoreError, match="cannot open the run store"):
        RunStore(bad)
