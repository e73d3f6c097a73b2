"""Intervals, percentiles and domain checks for any assessor: `care calibrate`, the
expected score of LLM answers, and results that say when no calibration exists."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from care.assessors.llm import LLMAssessor
from care.assessors.trust import TrustModel, annotate_results, point_values
from care.cli.main import cli
from care.data import save_corpus
from care.data.session import RatingSet, Session, Turn
from care.errors import DataError, ParameterError
from care.instruments import get_instrument
from care.results import Assessments
from llm_doubles import ScriptedBackend

WAI = get_instrument("wai-sr-client")
LOGPROBS = {"1": -6.0, "2": -4.0, "3": -1.0, "4": -0.6, "5": -2.0}


def _sessions(n: int, seed: int) -> list[Session]:
    """Rated sessions of varied length; longer sessions are rated higher."""
    rng = np.random.default_rng(seed)
    sessions = []
    for k in range(n):
        n_turns = int(rng.integers(4, 40))
        turns = [
            Turn(index=i, role="counselor" if i % 2 == 0 else "client",
                 text="We talked about sleep and the exams this week. " * int(rng.integers(1, 4)))
            for i in range(n_turns)
        ]  # fmt: skip
        level = 2.0 + 2.5 * n_turns / 40
        values = {
            item.id: float(np.clip(round(level + rng.normal(scale=0.8)), 1, 5))
            for item in WAI.items
        }
        sessions.append(
            Session(
                id=f"s{seed}-{k}",
                turns=turns,
                language="en",
                client_id=f"c{k % 40}",
                ratings=[RatingSet("wai-sr-client", "client", values)],
            )
        )
    return sessions


def _answer(messages, options) -> str:
    turns = messages[-1]["content"].count("We talked about sleep")
    return f'{min(5, 2 + turns // 15)}\nYou said "We talked about sleep".'


def _assess(sessions: list[Session]) -> Assessments:
    backend = ScriptedBackend(answer=_answer, logprobs=LOGPROBS)
    return LLMAssessor(backend, instrument="wai-sr-client").assess(sessions)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory) -> tuple[Path, Assessments, list[Session]]:
    folder = tmp_path_factory.mktemp("calibration")
    sessions = _sessions(160, seed=1)
    save_corpus(sessions, folder / "rated.jsonl")
    _assess(sessions).to_jsonl(folder / "results.jsonl")
    out = folder / "calibration.json"
    result = CliRunner().invoke(
        cli,
        ["calibrate", "--gold", str(folder / "rated.jsonl"),
         "--pred", str(folder / "results.jsonl"), "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "constant: coverage" in result.output and "Out of domain" in result.output
    new = _sessions(40, seed=2)
    return out, _assess(new), new


def test_calibrate_fits_intervals_that_cover_new_sessions(calibrated) -> None:
    path, results, sessions = calibrated
    trust = TrustModel.load(path)
    assert trust.model == results[0].model and trust.instrument == "wai-sr-client"
    assert set(trust.intervals) >= {"goal", "task", "bond", "total", *WAI.item_ids}
    annotated = list(annotate_results(results, {s.id: s for s in sessions}, trust, 0.9))
    covered = []
    for assessment, session in zip(annotated, sessions, strict=True):
        intervals = assessment.intervals
        assert intervals["level"] == 0.9 and set(intervals["items"]) == set(WAI.item_ids)
        truth = WAI.dimension_scores(session.rating("wai-sr-client").values)
        for name in ("goal", "task", "bond"):
            low, high = intervals[name]
            assert 1.0 <= low <= high <= 5.0
            covered.append(low <= truth[name] <= high)
        assert set(assessment.percentiles) == {"goal", "task", "bond", "total"}
        assert assessment.domain["in_domain"] in (True, False)
    assert np.mean(covered) >= 0.75  # 40 new sessions: loose, the exact check is in stats


def test_llm_intervals_are_centred_on_the_expected_score(calibrated) -> None:
    path, results, _ = calibrated
    trust = TrustModel.load(path)
    assessment = results[0]
    centre = point_values(assessment)
    probabilities = assessment.items["item1"].probabilities
    expected = sum(int(k) * p for k, p in probabilities.items())
    assert centre["item1"] == pytest.approx(expected, abs=1e-3)
    assert centre["item1"] != assessment.items["item1"].value
    trust.annotate(assessment, np.array([12, 300, 300, 50, 50, 0.5]), 0.5)
    low, high = assessment.intervals["items"]["item1"]
    assert low < expected < high
    if low > 1.0 and high < 5.0:  # not clipped to the scale
        assert (low + high) / 2 == pytest.approx(expected, abs=2e-3)


def test_without_calibration_results_say_so_instead_of_inventing_an_interval() -> None:
    sessions = _sessions(2, seed=3)
    results = list(annotate_results(_assess(sessions), {s.id: s for s in sessions}, None, 0.8))
    record = results[0].to_record()
    assert record["intervals"]["level"] == 0.8
    assert "care calibrate" in record["intervals"]["unavailable"]
    assert "goal" not in record["intervals"]
    assert record["domain"]["in_domain"] is None and record["domain"]["reasons"]
    assert record["percentiles"] is None


def test_a_calibration_refuses_other_models_and_bad_levels(calibrated, tmp_path: Path) -> None:
    path, results, sessions = calibrated
    trust = TrustModel.load(path)
    with pytest.raises(ParameterError, match="fitted on results of"):
        trust.check_model("care-lite-en")
    with pytest.raises(ParameterError, match="level"):
        list(annotate_results(results, {s.id: s for s in sessions}, trust, 1.5))
    (tmp_path / "other.json").write_text(json.dumps({"format": "something"}))
    with pytest.raises(DataError, match="not a care calibration"):
        TrustModel.load(tmp_path / "other.json")
    with pytest.raises(DataError, match="no such calibration"):
        TrustModel.load(tmp_path / "missing.json")


def test_calibrate_refuses_results_without_rated_sessions(tmp_path: Path) -> None:
    sessions = _sessions(30, seed=4)
    save_corpus(sessions, tmp_path / "rated.jsonl")
    _assess(_sessions(30, seed=5)).to_jsonl(tmp_path / "results.jsonl")  # other sessions
    result = CliRunner().invoke(
        cli,
        ["calibrate", "--gold", str(tmp_path / "rated.jsonl"),
         "--pred", str(tmp_path / "results.jsonl"), "--out", str(tmp_path / "c.json")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "only 0 rated sessions have results" in result.output
    assert not (tmp_path / "c.json").exists()


def test_the_runner_writes_and_stores_llm_results_with_their_intervals(
    calibrated, tmp_path: Path
) -> None:
    from care.assessors.calibrated import with_intervals
    from care.assessors.run import run
    from care.store import RunStore

    path, _, sessions = calibrated
    trust = TrustModel.load(path)

    def assessor(level: float):
        backend = ScriptedBackend(answer=_answer, logprobs=LOGPROBS)
        inner = LLMAssessor(backend, instrument="wai-sr-client")
        return backend, with_intervals(inner, trust, level)

    with RunStore(tmp_path / "run.sqlite") as store:
        backend, wrapped = assessor(0.9)
        first = list(run(wrapped, sessions[:3], store=store))
        assert all(result.intervals["level"] == 0.9 for result in first)
        stored = store.get_assessment(
            sessions[0].id, **wrapped.result_key(sessions[0]).store_fields()
        )
        assert stored.intervals == first[0].intervals and stored.domain == first[0].domain
        backend, wrapped = assessor(0.9)
        list(run(wrapped, sessions[:3], store=store))
        assert not backend.calls  # finished, with intervals at this level: reused
        backend, wrapped = assessor(0.8)
        again = list(run(wrapped, sessions[:3], store=store))
        assert all(result.intervals["level"] == 0.8 for result in again)
        assert not backend.calls  # re-annotated from the stored items, not re-asked
