"""Assessments.read: one reader for results files and run stores, evidence kept."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pytest

from care.assessors.lite import LiteAssessor
from care.data import load_corpus
from care.errors import DataError, ParameterError
from care.evaluate.predictions import read_predictions
from care.results import Assessments, Evidence, ItemRating, SessionAssessment
from care.results_io import is_run_store
from care.store import RunStore

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _assessment(session_id: str, model: str = "m", value: float = 4.0) -> SessionAssessment:
    """An assessment with everything a result can carry: per-item and per-dimension
    evidence, probabilities, a rationale, a raw output and a failed item."""
    items = {
        "item1": ItemRating(
            session_id,
            "item1",
            value,
            probabilities={"4": 0.7, "5": 0.3},
            rationale='The client says "we agree on what to work on".',
            evidence=[
                Evidence(2, "we agree on what to work on", None, "item1", True),
                Evidence(5, "not a verbatim span", 0.25, "item1", False),
            ],
            raw_output='{"score": 4}',
        ),
        "item2": ItemRating(session_id, "item2", None, raw_output="???", error="no number"),
        "item3": ItemRating(session_id, "item3", 2.5),
    }
    return SessionAssessment(
        session_id=session_id,
        instrument="wai-sr-client",
        model=model,
        model_version="v1",
        items=items,
        rationales={"goal": 'Goals are shared: "we agree".'},
        evidence={"goal": [Evidence(2, "we agree", 0.4, "goal", True)]},
        language="en",
        meta={"cut": None, "note": "x"},
    )


@pytest.fixture
def assessments() -> Assessments:
    return Assessments([_assessment("s1"), _assessment("s2", value=3.0)])


def _records(assessments: Assessments) -> list[dict]:
    return [a.to_record() for a in assessments]


def test_evidence_survives_a_results_file(tmp_path, assessments) -> None:
    path = tmp_path / "results.jsonl"
    assessments.to_jsonl(path)
    read = Assessments.read(path)
    assert _records(read) == _records(assessments)
    first = read[0]
    assert first.items["item1"].evidence == assessments[0].items["item1"].evidence
    assert first.evidence == assessments[0].evidence
    assert first.items["item1"].probabilities == {"4": 0.7, "5": 0.3}
    assert first.items["item2"].error == "no number" and first.items["item2"].value is None
    zipped = tmp_path / "results.jsonl.gz"
    zipped.write_bytes(gzip.compress(path.read_bytes()))
    assert _records(Assessments.read(zipped)) == _records(assessments)


def test_evidence_survives_a_run_store(tmp_path, assessments) -> None:
    path = tmp_path / "run.sqlite"
    with RunStore(path) as store:
        for assessment in assessments:
            store.put_assessment(assessment)
        from_open_store = Assessments.read(store)
    assert is_run_store(path)
    from_file = Assessments.read(path)
    for read in (from_file, from_open_store):
        assert _records(read) == _records(assessments)
        assert read[0].items["item1"].evidence == assessments[0].items["item1"].evidence
        assert read[0].evidence == assessments[0].evidence


def test_evaluate_reads_a_store_with_its_evidence(tmp_path, assessments) -> None:
    """care evaluate's store path used to rebuild assessments from dicts without evidence."""
    path = tmp_path / "run.sqlite"
    with RunStore(path) as store:
        for assessment in assessments:
            store.put_assessment(assessment)
        store.put_assessment(_assessment("s1", model="other"))
    systems = dict(read_predictions(path))
    assert sorted(systems) == ["m", "other"]
    assert _records(systems["m"]) == _records(assessments)
    assert systems["other"][0].items["item1"].evidence[0].quote == "we agree on what to work on"


def test_the_built_in_models_evidence_round_trips(tmp_path) -> None:
    results = LiteAssessor().assess(load_corpus(EXAMPLES / "session_en.json"))
    assert any(pieces for a in results for pieces in a.evidence.values())
    results.to_jsonl(tmp_path / "r.jsonl")
    with RunStore(tmp_path / "s.sqlite") as store:
        for result in results:
            store.put_assessment(result)
    for source in ("r.jsonl", "s.sqlite"):
        assert _records(Assessments.read(tmp_path / source)) == _records(results), source


def test_model_filter_and_store_errors(tmp_path, assessments) -> None:
    path = tmp_path / "run.sqlite"
    with RunStore(path) as store:
        store.put_assessment(assessments[0])
        store.put_assessment(_assessment("s9", model="other"))
    assert [a.session_id for a in Assessments.read(path, model="other")] == ["s9"]
    with pytest.raises(DataError, match="no finished session of model 'nope'"):
        Assessments.read(path, model="nope")
    with pytest.raises(DataError, match="instrument 'wai-sr-client', not 'wai-o-s'"):
        Assessments.read(path, instrument="wai-o-s")
    with RunStore(tmp_path / "bad.sqlite") as store:
        store.put_assessment(_assessment("s3"))
    with sqlite3.connect(tmp_path / "bad.sqlite") as db:  # a value off the 1-5 scale
        db.execute("UPDATE items SET value = 9 WHERE item_id = 'item1'")
    with pytest.raises(DataError) as info:
        Assessments.read(tmp_path / "bad.sqlite")
    assert "field 'items.item1.value'" in str(info.value) and "stored session 1" in str(info.value)
    with RunStore(tmp_path / "empty.sqlite"):
        pass
    with pytest.raises(DataError, match="holds no finished session"):
        Assessments.read(tmp_path / "empty.sqlite")
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(DataError, match="not a care run store"):
        Assessments.read(other)
    with pytest.raises(ParameterError, match="does not exist") as missing:
        Assessments.read(tmp_path / "missing.jsonl", option="--results")
    assert "--results" in str(missing.value)


def test_results_file_model_filter(tmp_path, assessments) -> None:
    path = tmp_path / "r.jsonl"
    records = [*_records(assessments), _assessment("s3", model="other").to_record()]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    assert [a.session_id for a in Assessments.read(path, model="other")] == ["s3"]
    assert len(Assessments.read(path)) == 3
    with pytest.raises(DataError, match="no record of model 'nope'"):
        Assessments.read(path, model="nope")
