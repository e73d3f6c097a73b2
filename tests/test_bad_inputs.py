"""Every command that reads sessions, over the bad-input corpus in tests/data/bad/.

For each case (cases.json: file, exit code, words), each command exits 2 with exactly one
line on standard error, no traceback, the expected words, and none of the file's
transcript text (nor names or keys from it); and it writes nothing. The commands run
through click's entry point as `care` does (standalone mode: click's own exits), and a
few cases also as real processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from care.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "tests" / "data" / "bad"
MANIFEST = json.loads((BAD / "cases.json").read_text(encoding="utf-8"))
CASES = {case["file"]: case for case in MANIFEST["cases"]}
EXAMPLE = ROOT / "examples" / "session_en.json"

Args = Callable[[str, Path, dict[str, Path]], list[str]]

COMMANDS: dict[str, Args] = {
    "validate": lambda f, out, fx: ["validate", f],
    "show": lambda f, out, fx: ["show", f],
    "convert": lambda f, out, fx: ["convert", f, str(out / "converted.jsonl")],
    "assess": lambda f, out, fx: ["assess", f, "--quiet"],
    "assess --out": lambda f, out, fx: ["assess", f, "--out", str(out / "results.jsonl")],
    "redact": lambda f, out, fx: ["redact", f, "--out", str(out / "redacted.jsonl")],
    "train lite": lambda f, out, fx: ["train", "lite", "--data", f, "--out", str(out / "m.npz")],
    "evaluate": lambda f, out, fx: [
        "evaluate",
        "--gold",
        f,
        "--pred",
        str(fx["results"]),
        "--out-dir",
        str(out / "evaluation"),
    ],
    "analyze": lambda f, out, fx: ["analyze", f, "--out-dir", str(out / "analysis")],
    "analyze --rated": lambda f, out, fx: [
        "analyze",
        str(EXAMPLE),
        "--results",
        str(fx["results"]),
        "--rated",
        f,
        "--out-dir",
        str(out / "analysis"),
    ],
    "sft-data": lambda f, out, fx: [
        "sft-data",
        "--data",
        f,
        "--instrument",
        "wai-sr-client",
        "--score-only",
        "--out",
        str(out / "sft"),
    ],
    "rationales draft": lambda f, out, fx: [
        "rationales",
        "draft",
        "--teacher",
        "transformers/none",
        "--data",
        f,
        "--store",
        str(out / "drafts.sqlite"),
    ],
    "rationales check": lambda f, out, fx: [
        "rationales",
        "check",
        "--store",
        str(fx["rationales"]),
        "--data",
        f,
    ],
    "rationales review": lambda f, out, fx: [
        "rationales",
        "review",
        "--store",
        str(fx["rationales"]),
        "--data",
        f,
        "--port",
        "0",
    ],
}
"""Every command of `care` that reads session files, with the arguments it needs."""
FILES_ONLY = {"analyze --rated"}
"""Options that take a file only: click itself refuses a directory there (a usage error)."""


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> dict[str, Path]:
    """A results file (for evaluate's --pred) and a rationale store (for check, review)."""
    from care.rationales.store import RationaleStore

    folder = tmp_path_factory.mktemp("fixtures")
    results = folder / "results.jsonl"
    done = CliRunner().invoke(cli, ["assess", str(EXAMPLE), "--quiet", "--out", str(results)])
    assert done.exit_code == 0, done.output
    store = folder / "rationales.sqlite"
    RationaleStore(store).close()
    return {"results": results, "rationales": store}


def test_the_corpus_is_complete() -> None:
    """The manifest and the folder agree, every case has words to find, and the generator
    writes what is committed."""
    files = {path.name for path in BAD.iterdir()} - {"cases.json", "make_cases.py"}
    assert files == set(CASES)
    assert len(CASES) >= 50
    for case in CASES.values():
        assert case["exit"] == 2 and case["words"] and MANIFEST["secret"] in case["private"]


def _check(case: dict, code: int, stdout: str, stderr: str) -> None:
    lines = stderr.strip().splitlines()
    assert code == case["exit"], (code, stderr)
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and "Traceback" not in stderr
    for word in case["words"]:
        assert word in lines[0], (word, lines[0])
    for private in case["private"]:
        assert private not in stderr and private not in stdout, (private, stderr)


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("name", sorted(CASES))
def test_every_command_refuses_every_bad_input_in_one_line(
    name: str, command: str, tmp_path: Path, fixtures: dict[str, Path]
) -> None:
    case = CASES[name]
    out = tmp_path / "out"
    out.mkdir()
    args = COMMANDS[command](str(BAD / case["file"]), out, fixtures)
    result = CliRunner().invoke(cli, args)
    if command in FILES_ONLY and (BAD / case["file"]).is_dir():
        assert result.exit_code == 2 and "is a directory" in result.stderr
        return
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    _check(case, result.exit_code, result.stdout, result.stderr)
    assert list(out.iterdir()) == [], "nothing is written for a bad input"


@pytest.mark.parametrize(
    "name",
    ["deep_nesting.jsonl", "lone_surrogate.jsonl", "utf16le_no_bom.jsonl", "csv_no_header.csv"],
)
@pytest.mark.parametrize("command", ["validate", "assess"])
def test_real_processes_answer_the_same(name: str, command: str, tmp_path: Path) -> None:
    case = CASES[name]
    process = subprocess.run(
        [sys.executable, "-m", "care", command, str(BAD / case["file"])],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        cwd=tmp_path,
    )
    _check(case, process.returncode, process.stdout, process.stderr)


def test_special_files_are_refused_not_read(tmp_path: Path) -> None:
    """A FIFO would block and /dev/zero never ends: neither is read."""
    fifo = tmp_path / "sessions.jsonl"
    os.mkfifo(fifo)
    loop = tmp_path / "loop.jsonl"
    loop.symlink_to(tmp_path / "loop2.jsonl")
    (tmp_path / "loop2.jsonl").symlink_to(loop)
    for path, words in (
        (fifo, "not a regular file"),
        (Path("/dev/zero"), "not a regular file"),
        (loop, "symbolic link"),
    ):
        result = CliRunner().invoke(cli, ["assess", str(path), "--quiet"])
        assert result.exit_code == 2, result.output
        assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_the_same_file_twice_is_read_once(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["validate", str(EXAMPLE), str(EXAMPLE)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("1 sessions") == 1


def test_unknown_language_option_names_the_option() -> None:
    result = CliRunner().invoke(cli, ["assess", str(EXAMPLE), "--language", "../x"])
    assert result.exit_code == 2
    assert "language" in result.stderr and "en, zh, ja" in result.stderr


def test_a_model_file_that_is_empty_or_damaged(tmp_path: Path) -> None:
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    damaged = tmp_path / "damaged.npz"
    damaged.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(os.urandom(300))
    for path, words in ((empty, "empty"), (damaged, "not a care-lite model"), (junk, "not a")):
        result = CliRunner().invoke(cli, ["assess", str(EXAMPLE), "--model", str(path)])
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0] and str(path) in lines[0], lines
        assert "Aborted" not in result.output


def test_csv_column_option_maps_a_header(tmp_path: Path) -> None:
    """The option the CSV errors suggest exists and does what they say."""
    path = tmp_path / "turns.csv"
    path.write_text("who,said\ncounselor,Hello.\nclient,I feel better.\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2 and "--column text=HEADER" in result.stderr
    mapped = ["--column", "text=said", "--column", "role=who"]
    result = CliRunner().invoke(cli, ["validate", str(path), *mapped])
    assert result.exit_code == 0, result.stderr
    assert "1 sessions, 2 turns" in result.stdout
    result = CliRunner().invoke(cli, ["validate", str(path), "--column", "words=said"])
    assert result.exit_code == 2 and "--column" in result.stderr


def test_degenerate_sessions_warn_and_evidence_agrees_with_the_score(tmp_path: Path) -> None:
    path = tmp_path / "thin.jsonl"
    records = [
        {
            "id": "counselor-only",
            "turns": [
                {"role": "counselor", "text": "Hello, how are you today? Tell me more."},
                {"role": "counselor", "text": "We can work on your goals together."},
            ],
        },
        {"id": "one-turn", "turns": [{"role": "client", "text": "I feel terrible today."}]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    result = CliRunner().invoke(cli, ["assess", str(path), "--json"])
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert any("'counselor-only' has no client turns" in line for line in warnings)
    assert any("'one-turn' has a single turn" in line for line in warnings)
    from care.instruments import get_instrument

    at_a_bound = 0
    for line in result.stdout.splitlines():
        record = json.loads(line)
        assert record["meta"]["warnings"]
        scale = get_instrument(record["instrument"]).scale
        for dimension, score in record["dimensions"].items():
            pieces = record["evidence"][dimension]
            at_a_bound += score <= scale.min or score >= scale.max
            if score <= scale.min:
                assert all(piece["contribution"] <= 0 for piece in pieces), (dimension, pieces)
                assert "Raised" not in record["rationales"][dimension]
            if score >= scale.max:
                assert all(piece["contribution"] >= 0 for piece in pieces), (dimension, pieces)
                assert "Lowered" not in record["rationales"][dimension]
    assert at_a_bound, "the thin sessions reach the scale's floor, where the rule matters"


def test_a_model_path_is_never_built_from_a_sessions_language() -> None:
    """Sessions built in code skip the readers' checks; the built-in model's path is still
    chosen only among the languages care ships."""
    from care.assessors.lite import LiteAssessor
    from care.assessors.lite.assessor import shipped_model_path
    from care.data.session import Session, Turn
    from care.errors import ModelError

    assert shipped_model_path("en").name == "care-lite-en.npz"
    for language in ("../../etc/passwd", "en/../zh", "ja", ""):
        with pytest.raises(ModelError, match="ships no built-in model"):
            shipped_model_path(language)
    session = Session("s", [Turn(0, "client", "I feel lost.")], language="../../x")
    with pytest.raises(ModelError) as caught:
        LiteAssessor().check_languages([session])
    assert "../" not in str(caught.value) and caught.value.problem.field == "language"
