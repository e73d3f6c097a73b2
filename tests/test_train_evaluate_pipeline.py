"""The researcher's pipeline end to end on real data: `care train lite` writes cross-validated
predictions, `care evaluate` turns them into the full report."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner

from care.assessors.lite import LiteModel
from care.cli.main import cli
from care.data import load_corpus, save_corpus
from shared_data import ENGLISH, needs_data


@needs_data
def test_train_lite_cv_predictions_feed_care_evaluate(tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    save_corpus(load_corpus(ENGLISH, limit=400), gold)
    runner = CliRunner()
    trained = runner.invoke(
        cli,
        [
            "train", "lite", "--data", str(gold), "--folds", "3",
            "--out", str(tmp_path / "model.npz"), "--cv-out", str(tmp_path / "cv.jsonl"),
        ],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.stderr
    assert "grouped by client" in trained.stdout and "length-only r" in trained.stdout
    # the plain TF-IDF baseline, cross-validated on the same folds, stands beside the model
    assert "TF-IDF r [95% CI]" in trained.stdout
    accuracy = trained.stdout.split("Prediction intervals")[0]
    table = [line for line in accuracy.splitlines() if line.startswith("| goal |")]
    assert len(table) == 1 and len(table[0].split("|")) == 7
    assert "Distinctness: the predicted goal, task, bond correlate" in trained.stdout
    records = [json.loads(line) for line in (tmp_path / "cv.jsonl").read_text().splitlines()]
    assert len(records) == 400
    assert {record["meta"]["fold"] for record in records} == {0, 1, 2}
    # intervals held out by fold: adaptive against constant width, per score
    assert "Prediction intervals at 90%, held out by fold of clients" in trained.stdout
    assert "| goal |" in trained.stdout.split("Prediction intervals")[1]
    for record in records:
        intervals = record["intervals"]
        assert intervals["level"] == 0.9 and len(intervals["items"]) == 21
        for name in ("goal", "task", "bond", "total"):
            low, high = intervals[name]
            assert 0 <= low <= record["dimensions"].get(name, record["total"]) <= high <= 5
        assert isinstance(record["domain"]["in_domain"], bool)
        assert set(record["percentiles"]) == {"goal", "task", "bond", "total"}
    # the model file carries them, beside weights whose fingerprint they do not change
    model = LiteModel.load(tmp_path / "model.npz")
    assert model.trust is not None and model.trust["model"] == "care-lite-en"
    assert replace(model, trust=None).fingerprint == model.fingerprint
    scores = model.trust["evaluation"]["scores"]
    for name in ("goal", "task", "bond", "total"):
        assert 0.8 <= scores[name][scores[name]["chosen"]]["coverage"] <= 0.97
    one = save_corpus(load_corpus(gold, limit=1), tmp_path / "one.jsonl")
    assessed = [
        json.loads(
            runner.invoke(
                cli,
                ["assess", str(one), "--model", str(tmp_path / "model.npz"), "--json",
                 "--level", level],
            ).stdout.splitlines()[0]
        )["intervals"]
        for level in ("0.5", "0.95")
    ]  # fmt: skip
    narrow, wide = (interval["goal"][1] - interval["goal"][0] for interval in assessed)
    assert 0 < narrow < wide

    report_dir = tmp_path / "report"
    evaluated = runner.invoke(
        cli,
        [
            "evaluate", "--gold", str(gold), "--pred", f"lite={tmp_path / 'cv.jsonl'}",
            "--resamples", "200", "--out-dir", str(report_dir),
        ],
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.stderr
    for name in ("report.html", "report.md", "report.json"):
        assert (report_dir / name).stat().st_size > 0
    markdown = (report_dir / "report.md").read_text("utf-8")
    for row in ("lite", "baseline/length", "baseline/mean-rating"):
        assert row in markdown
    assert "r over folds (mean ± SD)" in markdown  # per-fold figures from meta.fold
    assert "(3) |" in markdown
    # coverage and width of the held-out intervals, with cluster-bootstrap CIs
    assert "## Prediction intervals and domain" in markdown
    report = json.loads((report_dir / "report.json").read_text("utf-8"))
    goal = report["trust"]["lite"]["scores"]["goal"]
    low, high = goal["coverage"]["ci"]
    assert low <= goal["coverage"]["value"] <= high and 0.75 <= goal["coverage"]["value"] <= 1
    assert goal["n"] == 400
    assert report["trust"]["lite"]["domain"]["checked"] == 400
    assert "Prediction intervals and domain" in (report_dir / "report.html").read_text("utf-8")
