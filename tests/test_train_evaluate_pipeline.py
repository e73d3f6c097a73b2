"""The researcher's pipeline end to end on real data: `care train lite` writes cross-validated
predictions, `care evaluate` turns them into the full report."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

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
    table = [line for line in trained.stdout.splitlines() if line.startswith("| goal |")]
    assert len(table) == 1 and len(table[0].split("|")) == 7
    assert "Distinctness: the predicted goal, task, bond correlate" in trained.stdout
    records = [json.loads(line) for line in (tmp_path / "cv.jsonl").read_text().splitlines()]
    assert len(records) == 400
    assert {record["meta"]["fold"] for record in records} == {0, 1, 2}

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
