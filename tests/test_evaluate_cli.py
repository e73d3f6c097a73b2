"""``care evaluate``: reports, names, and one-line errors with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from care.cli.main import cli

DATA = Path(__file__).parent / "data" / "evaluate"
GOLD = str(DATA / "gold.jsonl")
GOOD = str(DATA / "pred_good.jsonl")
WEAK = str(DATA / "pred_weak.jsonl")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_prints_the_headline_tables() -> None:
    code, out, err = run("evaluate", "--gold", GOLD, "--pred", GOOD, "--resamples", "50")
    assert code == 0, err
    assert "| system | goal | task | bond | total |" in out
    assert "| good-model |" in out and "| baseline/length |" in out
    assert "human/counselor (wai-sr-counselor)" in out
    assert "Paired bootstrap" not in out  # the full tables go to --out-dir


def test_out_dir_names_cut_view_and_json(tmp_path) -> None:
    code, _out, err = run(
        "evaluate",
        "--gold",
        GOLD,
        "--pred",
        f"lite={GOOD}",
        "--pred",
        f"llm={WEAK}",
        "--pred-cut",
        f"lite={DATA / 'pred_good_cut.jsonl'}",
        "--cut-end",
        "0.2",
        "--folds",
        str(DATA / "folds.csv"),
        "--reference-rationales",
        str(DATA / "references.jsonl"),
        "--resamples",
        "50",
        "--out-dir",
        str(tmp_path / "report"),
    )
    assert code == 0, err
    assert "wrote" in err
    report = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    full = report["views"]["full"]
    assert [s["name"] for s in full["systems"]][:2] == ["lite", "llm"]
    assert full["folds"]["lite"]["total"]["n_folds"] == 3  # from folds.csv
    assert next(s["name"] for s in report["views"]["process"]["systems"]) == "lite"
    assert report["settings"]["cut_end"] == 0.2
    assert report["rationales"]["lite"]["against_references"]["en"]["n"] == 6
    markdown = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "## Process only" in markdown and "| lite |" in markdown
    html = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert html.count("<svg") > 20


def test_json_output_and_same_model_twice() -> None:
    code, out, err = run(
        "evaluate", "--gold", GOLD, "--pred", GOOD, "--pred", GOOD, "--resamples", "0", "--json"
    )
    assert code == 0, err
    names = [s["name"] for s in json.loads(out)["views"]["full"]["systems"]]
    assert names[:2] == ["good-model", "good-model (pred_good.jsonl)"]


def test_run_store_input(tmp_path) -> None:
    store_module = pytest.importorskip("care.store")
    from care.results import Assessments

    with store_module.RunStore(tmp_path / "run.sqlite") as store:
        for assessment in Assessments.read(GOOD):
            store.put_assessment(assessment)
        for assessment in Assessments.read(WEAK):
            store.put_assessment(assessment)
    code, out, err = run(
        "evaluate", "--gold", GOLD, "--pred", str(tmp_path / "run.sqlite"), "--resamples", "0"
    )
    assert code == 0, err
    assert "| good-model |" in out and "| weak-model |" in out


def one_line_error(*args: str) -> str:
    code, out, err = run("evaluate", *args)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_error_unreadable_results_file(tmp_path) -> None:
    lines = Path(GOOD).read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([lines[0], lines[1], '{"session_id": "s02",']) + "\n")
    message = one_line_error("--gold", GOLD, "--pred", str(bad))
    assert "bad.jsonl: line 3" in message and "not valid JSON" in message and "Fix:" in message


def test_error_predictions_on_another_instrument(tmp_path) -> None:
    record = json.loads(Path(GOOD).read_text(encoding="utf-8").splitlines()[0])
    record["instrument"] = "wai-sr-counselor"
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps(record) + "\n")
    message = one_line_error("--gold", GOLD, "--pred", GOOD, "--pred", str(other))
    assert "other.jsonl: line 1" in message and "field 'instrument'" in message


def test_error_gold_without_ratings(tmp_path) -> None:
    record = {
        "session_id": "s00",
        "instrument": "kokorochat-feedback",
        "items": {"felt_respected": {"value": 3}},
    }
    kokoro = tmp_path / "kokoro.jsonl"
    kokoro.write_text(json.dumps(record) + "\n")
    message = one_line_error("--gold", GOLD, "--pred", str(kokoro))
    assert "gold.jsonl" in message and "no gold session carries client ratings" in message


def test_error_no_overlap(tmp_path) -> None:
    record = json.loads(Path(GOOD).read_text(encoding="utf-8").splitlines()[0])
    record["session_id"] = "unknown-session"
    stray = tmp_path / "stray.jsonl"
    stray.write_text(json.dumps(record) + "\n")
    message = one_line_error("--gold", GOLD, "--pred", str(stray))
    assert "stray.jsonl" in message and "field 'session_id'" in message


def test_error_options() -> None:
    assert "no predictions" in one_line_error("--gold", GOLD)
    message = one_line_error("--gold", GOLD, "--pred", GOOD, "--bertscore-model", "m")
    assert "--reference-rationales" in message
    message = one_line_error("--gold", GOLD, "--pred", "missing.jsonl")
    assert "does not exist" in message and "--pred" in message
    message = one_line_error(
        "--gold", GOLD, "--pred-cut", str(DATA / "pred_good_cut.jsonl"), "--cut-end", "0.5"
    )
    assert "meta.cut" in message and "first 80% of turns" in message


def test_help_and_metric_names() -> None:
    from care.cli.evaluate_commands import METRIC_NAMES
    from care.stats import METRICS

    code, out, _ = run("evaluate", "--help")
    assert code == 0 and "--pred-cut" in out and "--bertscore-model" in out
    assert tuple(METRICS) == METRIC_NAMES
