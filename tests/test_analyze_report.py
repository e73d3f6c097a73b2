"""``care analyze``: the CLI's tables and the HTML report rendered by headless Chromium."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from browser import CHROMIUM, chromium_command
from care.analyze.report import analyze, write_analysis
from care.assessors.lite import LiteAssessor
from care.cli.main import cli
from care.data import load_corpus
from care.data.session import Session

ESCONV = Path("/work/shared/data/samples/esconv_sample.json")
if not ESCONV.exists():
    ESCONV = Path(__file__).resolve().parents[2] / "shared/data/samples/esconv_sample.json"


@pytest.fixture(scope="module")
def corpus() -> list[Session]:
    """24 sessions cut from the ESConv sample, with counselors, clients and dates."""
    base = list(load_corpus(ESCONV))
    sessions = []
    for k in range(8):
        for i, s in enumerate(base):
            sessions.append(
                Session(
                    id=f"{s.id}-{k}",
                    turns=s.turns[: 12 + 2 * k],
                    language="en",
                    client_id=f"client{i}",
                    counselor_id=f"counselor{k % 3}",
                    meta={"date": f"2021-05-{k + 1:02d}"},
                )
            )
    return sessions


@pytest.fixture(scope="module")
def analysis(corpus):
    return analyze(corpus, LiteAssessor().assess(corpus), trajectories=4, n_resamples=200)


def test_analysis_tables(analysis) -> None:
    assert sorted(analysis.profiles.counselor_id.unique()) == [f"counselor{i}" for i in range(3)]
    assert set(analysis.client_sessions.client_id) == {"client0", "client1", "client2"}
    assert analysis.windows.session_id.nunique() == 4
    assert analysis.patterns.notes[0].startswith("labels: counselor 'strategy'")
    assert len(analysis.themes.themes) >= 2


def test_cli_writes_tables(tmp_path) -> None:
    out = tmp_path / "out"
    done = CliRunner().invoke(
        cli, ["analyze", str(ESCONV), "--out-dir", str(out), "--bootstrap", "100"]
    )
    assert done.exit_code == 0, done.output
    assert "built-in model" in done.output and "OLS of total" in done.output
    patterns = pd.read_csv(out / "patterns.csv")
    assert patterns.term.iloc[0] == "const" and len(patterns) == 2
    summary = json.loads((out / "analysis.json").read_text())
    assert summary["patterns"]["n_sessions"] == 3
    assert (out / "report.html").read_text().count("<svg") >= 4


def test_cli_errors_exit_2(tmp_path) -> None:
    runner = CliRunner()
    done = runner.invoke(
        cli, ["analyze", str(ESCONV), "--labels", ",x", "--out-dir", str(tmp_path)]
    )
    assert done.exit_code == 2 and "--labels" in done.output and "Traceback" not in done.output
    done = runner.invoke(cli, ["analyze", str(ESCONV), "--results", str(tmp_path / "none.jsonl")])
    assert done.exit_code == 2 and "no such results file" in done.output


def test_cli_reads_results_and_store(tmp_path, corpus) -> None:
    from care.store import RunStore

    sessions = load_corpus(ESCONV)
    results = LiteAssessor().assess(sessions)
    results.to_jsonl(tmp_path / "r.jsonl")
    with RunStore(tmp_path / "s.sqlite") as store:
        for result in results:
            store.put_assessment(result, prompt_version=result.model_version)
    for source in ("r.jsonl", "s.sqlite"):
        out = tmp_path / source.replace(".", "_")
        done = CliRunner().invoke(
            cli,
            ["analyze", str(ESCONV), "--results", str(tmp_path / source), "--out-dir", str(out)],
        )
        assert done.exit_code == 0, done.output
        assert "built-in model" not in done.output
        table = pd.read_csv(out / "sessions.csv")
        assert table.total.tolist() == pytest.approx([r.total_score() for r in results])


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="chromium is not installed (`make test` installs Debian's package)",
)
def test_chromium_renders_the_report(analysis, tmp_path) -> None:
    from test_evaluate_html import png_pixels

    paths = write_analysis(analysis, tmp_path / "report")
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        chromium_command(
            tmp_path / "profile",
            f"--screenshot={shot}",
            "--dump-dom",
            "--window-size=1280,2400",
            paths["html"].resolve().as_uri(),
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    pixels = png_pixels(shot)
    assert pixels.shape[:2] == (2400, 1280)
    assert pixels[..., :3].astype(float).mean(axis=2).std() > 20
    rendered = done.stdout
    assert rendered.count('class="chart trajectory"') == 4
    assert rendered.count('class="chart histogram"') == len(analysis.dimensions) + 1
    assert rendered.count('class="chart bars"') >= 2
    assert rendered.count("<path") > 12
