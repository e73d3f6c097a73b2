"""The data commands of the CLI: validate, show, convert, instruments."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from care.cli.main import cli
from care.data.io import load_corpus

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_validate_accepts_the_examples() -> None:
    for example in sorted(EXAMPLES.iterdir()):
        code, out, err = run("validate", str(example))
        assert code == 0, err
        assert err == ""
    code, out, err = run("validate", str(EXAMPLES / "sessions.jsonl"))
    assert "examples/sessions.jsonl: 5 sessions" in out.replace("\\", "/")


def test_validate_finds_a_session_id_used_in_two_files() -> None:
    """As `care assess` refuses it: session_en.json is also the first of sessions.jsonl."""
    code, _, err = run(
        "validate", str(EXAMPLES / "sessions.jsonl"), str(EXAMPLES / "session_en.json")
    )
    assert code == 2
    assert "duplicate session id 'en-exam-stress'" in err and "sessions.jsonl, line 1" in err
    assert len(err.strip().splitlines()) == 1


def test_show_prints_turn_numbers_and_roles() -> None:
    code, out, _ = run("show", str(EXAMPLES / "transcript_zh.txt"))
    assert code == 0
    assert "#0" in out and "Counselor" in out and "Client" in out
    assert "一个朋友都没有" in out


def test_show_one_session_and_unknown_session(tmp_path: Path) -> None:
    code, out, _ = run("show", str(EXAMPLES / "sessions.jsonl"), "--session", "zh-family-pressure")
    assert code == 0
    assert "公务员" in out and "final exams" not in out
    code, _, err = run("show", str(EXAMPLES / "sessions.jsonl"), "--session", "nope")
    assert code == 2
    assert "no session with id 'nope'" in err and "Traceback" not in err


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".txt"])
def test_convert_round_trips_turns(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"out{suffix}"
    code, _, err = run("convert", str(EXAMPLES / "sessions.jsonl"), str(target))
    assert code == 0, err
    original = load_corpus(EXAMPLES / "sessions.jsonl")
    converted = load_corpus(target)
    assert converted.ids == original.ids
    for session in original:
        again = converted[session.id]
        assert [(t.role, t.text) for t in again.turns] == [(t.role, t.text) for t in session.turns]


def test_instruments_list_and_show() -> None:
    code, out, _ = run("instruments")
    assert code == 0
    for instrument_id in ("wai-sr-client", "wai-sr-counselor", "wai-o-s", "kokorochat-feedback"):
        assert instrument_id in out
    code, out, _ = run("instruments", "show", "wai-sr-client", "--language", "zh")
    assert code == 0
    assert "总是如此" in out and "item12" in out
    code, _, err = run("instruments", "show", "wai-sr-nope")
    assert code == 2 and "wai-sr-client" in err


BAD_INPUTS = {
    "empty file": ("empty.jsonl", b"", "empty"),
    "wrong encoding": ("latin.txt", "Counselor: Café crème\n".encode("latin-1"), "UTF-8"),
    "turn with no text": (
        "notext.jsonl",
        b'{"id": "a", "turns": [{"role": "client", "text": ""}]}\n',
        "turns[0].text",
    ),
    "unknown role": (
        "role.jsonl",
        b'{"id": "a", "turns": [{"role": "coach", "text": "Hi"}]}\n',
        "turns[0].role",
    ),
    "rating outside the scale": (
        "scale.jsonl",
        json.dumps(
            {
                "id": "a",
                "turns": [{"role": "client", "text": "Hi"}],
                "ratings": [{"instrument": "wai-sr-client", "values": {"item3": 9}}],
            }
        ).encode()
        + b"\n",
        "ratings[0].values.item3",
    ),
    "duplicate session id": (
        "dup.jsonl",
        b'{"id": "a", "turns": [{"role": "client", "text": "Hi"}]}\n'
        b'{"id": "a", "turns": [{"role": "client", "text": "Hello"}]}\n',
        "duplicate session id 'a'",
    ),
    "truncated JSONL line": (
        "trunc.jsonl",
        b'{"id": "a", "turns": [{"role": "client", "text": "Hi"}]}\n{"id": "b", "tur',
        "line 2",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
@pytest.mark.parametrize("command", ["validate", "show", "convert"])
def test_bad_input_gives_one_line_error_and_exit_code_2(
    tmp_path: Path, case: str, command: str
) -> None:
    name, content, expected = BAD_INPUTS[case]
    path = tmp_path / name
    path.write_bytes(content)
    args = [command, str(path)]
    if command == "convert":
        args.append(str(tmp_path / "out.jsonl"))
    code, _, err = run(*args)
    assert code == 2
    assert expected in err
    assert str(path) in err
    assert "Fix:" in err
    assert "Traceback" not in err
    if command == "convert":
        assert not (tmp_path / "out.jsonl").exists()


def test_validate_reports_every_problem_not_just_the_first(tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    path.write_text(
        '{"id": "a", "turns": [{"role": "coach", "text": "Hi"}]}\n'
        '{"id": "b", "turns": [{"role": "client", "text": ""}]}\n'
        '{"id": "c", "tur\n',
        encoding="utf-8",
    )
    code, _, err = run("validate", str(path))
    assert code == 2
    assert "line 1" in err and "line 2" in err and "line 3" in err
    assert "3 problem(s)" in err


def test_bad_speaker_option() -> None:
    code, _, err = run("show", str(EXAMPLES / "transcript_en.txt"), "--speaker", "Dr. Lee")
    assert code == 2
    assert "--speaker" in err and "NAME=ROLE" in err


def test_speaker_option_maps_labels(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("Dr. Lee: How are you?\nSam: Tired.\n", encoding="utf-8")
    code, out, err = run(
        "show", str(path), "--speaker", "Dr. Lee=counselor", "--speaker", "Sam=client"
    )
    assert code == 0, err
    assert "Counselor (Dr. Lee)" in out and "Client (Sam)" in out


def test_real_process_exit_code_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "turns": []}\n', encoding="utf-8")
    process = subprocess.run(
        [sys.executable, "-m", "care", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert process.returncode == 2
    assert "turns" in process.stderr and "Traceback" not in process.stderr
    process = subprocess.run(
        [sys.executable, "-m", "care", "--help"], capture_output=True, text=True, check=False
    )
    assert process.returncode == 0
    for command in ("validate", "show", "convert", "instruments"):
        assert command in process.stdout


def test_the_command_line_imports_no_heavy_module_at_start() -> None:
    """Cold start stays fast: the CLI imports pandas, scipy and training code only when a
    command needs them."""
    code = (
        "import sys, care.cli.main; "
        "print(sorted(m for m in ('pandas', 'scipy', 'sklearn', 'torch', "
        "'care.assessors.lite.fit') if m in sys.modules))"
    )
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == "[]"


def test_public_api_names_resolve() -> None:
    import care

    for name in care.__all__:
        assert getattr(care, name) is not None
    corpus = care.load_corpus(EXAMPLES / "sessions.jsonl")
    assert len(care.LiteAssessor().assess(corpus)) == len(corpus)
