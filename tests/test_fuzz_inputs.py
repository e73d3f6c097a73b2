"""Property-based fuzzing of every importer and of `care validate` / `care convert`.

Inputs are random bytes and mutations of valid files of every format (truncations, other
encodings with and without a byte-order mark, injected control characters, huge numbers,
deep nesting, dropped and repeated lines, flipped bytes). The only outcomes allowed:

* an importer returns sessions and problems (it never raises), and sessions it accepts
  without a problem can be written in every output format and read back;
* `care validate` exits 0, or exits 2 with one ``error:`` line per problem (and a count);
* `care convert` exits 0 having written a file that reads back to the same turns, or
  exits 2 with exactly one line and writes nothing.

Never a traceback. The example budget is a hypothesis profile: ``ci`` (the default, small
and derandomized, so CI runs the same examples every time) or ``long`` for a manual run:
``HYPOTHESIS_PROFILE=long pytest tests/test_fuzz_inputs.py``.
"""

from __future__ import annotations

import codecs
import gzip
import json
import os
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from care.cli.main import cli
from care.data.corpus import Corpus
from care.data.io import load_corpus, save_corpus
from care.data.io.registry import SESSION_FORMATS
from care.data.io.text_files import decode_bytes
from care.errors import Problem

ROOT = Path(__file__).resolve().parents[1]

settings.register_profile(
    "ci",
    max_examples=40,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "long",
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
"""The budget of every test here: 40 examples each in CI (derandomized), 3000 with long."""


def _native_lines() -> bytes:
    lines = (ROOT / "examples" / "sessions.jsonl").read_bytes().splitlines(keepends=True)
    return b"".join(lines[:2])


SEEDS: dict[str, bytes] = {
    "sessions.jsonl": _native_lines(),
    "session.json": (ROOT / "examples" / "session_en.json").read_bytes(),
    "turns.csv": (ROOT / "tests" / "data" / "turns.csv").read_bytes(),
    "turns.tsv": b"session_id\trole\ttext\ns1\tcounselor\tHow are you?\ns1\tclient\tTired.\n",
    "transcript.txt": (ROOT / "examples" / "transcript_zh.txt").read_bytes()[:600],
    "esconv.json": json.dumps(
        [
            {
                "emotion_type": "anxiety",
                "dialog": [
                    {"speaker": "usr", "text": "I can't sleep before exams."},
                    {"speaker": "sys", "text": "That sounds exhausting."},
                ],
                "survey_score": {"seeker": {"initial_emotion_intensity": "4"}},
            }
        ]
    ).encode(),
    "kokorochat.jsonl": json.dumps(
        {
            "session_id": "k1",
            "dialogue": [
                {"role": "counselor", "content": "こんにちは。"},
                {"role": "client", "content": "眠れません。"},
            ],
            "review_by_client": {"score": 80},
        },
        ensure_ascii=False,
    ).encode()
    + b"\n",
    "annomi.csv": (
        b"transcript_id,utterance_id,interlocutor,utterance_text,mi_quality\n"
        b"1,0,therapist,How are you?,high\n1,1,client,Not great.,high\n"
    ),
}
CONTROL = ["\x00", "\x01", "\x1b[31m", "\x0b", "\x85", "\u2028", "\r", "\ufeff", "\ud800"]
ENCODINGS = ["utf-16-le", "utf-16-be", "utf-16", "utf-32", "latin-1", "gb18030", "cp932"]


@st.composite
def mutated_file(draw) -> tuple[str, bytes]:
    """A seed file of some format, mutated one to three times."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    data = SEEDS[name]
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(
            st.sampled_from(
                [
                    "truncate",
                    "encoding",
                    "control",
                    "huge-number",
                    "deep",
                    "drop-line",
                    "repeat-line",
                    "flip-byte",
                    "gzip",
                ]
            )
        )
        data = _mutate(draw, kind, data)
    return name, data


def _mutate(draw, kind: str, data: bytes) -> bytes:
    at = draw(st.integers(0, max(len(data) - 1, 0)))
    if kind == "truncate":
        return data[:at]
    if kind == "encoding":
        text = data.decode("utf-8", errors="replace")
        encoding = draw(st.sampled_from(ENCODINGS))
        encoded = text.encode(encoding, errors="replace")
        if draw(st.booleans()) and encoding.startswith("utf-16-"):
            bom = codecs.BOM_UTF16_LE if encoding.endswith("le") else codecs.BOM_UTF16_BE
            encoded = bom + encoded
        return encoded
    if kind == "control":
        text = data.decode("utf-8", errors="replace")
        char = draw(st.sampled_from(CONTROL))
        position = draw(st.integers(0, len(text)))
        return (text[:position] + char + text[position:]).encode("utf-8", "surrogatepass")
    if kind == "huge-number":
        number = draw(st.sampled_from(["9" * 5000, "1e999", "-1e400", "9" * 320, "NaN"]))
        digits = [i for i, byte in enumerate(data) if 0x30 <= byte <= 0x39]
        position = draw(st.sampled_from(digits)) if digits else at
        return data[:position] + number.encode() + data[position + 1 :]
    if kind == "deep":
        depth = draw(st.sampled_from([70, 500, 5000]))
        value = ("[" * depth + "]" * depth).encode()
        colons = [i for i, byte in enumerate(data) if byte == ord(":")]
        position = draw(st.sampled_from(colons)) + 1 if colons else at
        return data[:position] + b" " + value + b"," + data[position:]
    if kind == "drop-line":
        lines = data.splitlines(keepends=True)
        if lines:
            del lines[draw(st.integers(0, len(lines) - 1))]
        return b"".join(lines)
    if kind == "repeat-line":
        lines = data.splitlines(keepends=True)
        if lines:
            lines.insert(0, lines[draw(st.integers(0, len(lines) - 1))])
        return b"".join(lines)
    if kind == "flip-byte" and data:
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    if kind == "gzip":
        return gzip.compress(data)
    return data


any_file = st.one_of(
    mutated_file(),
    st.tuples(st.sampled_from([*sorted(SEEDS), "noname"]), st.binary(max_size=2000)),
)


def _round_trip(sessions: list) -> None:
    """Sessions an importer accepted can be written in every format and read back."""
    with tempfile.TemporaryDirectory() as folder:
        for suffix in (".jsonl", ".json", ".csv", ".txt"):
            target = Path(folder) / f"out{suffix}"
            save_corpus(Corpus(sessions), target)
            again = load_corpus(target)
            assert len(again) == len(sessions)


@PROFILE
@given(case=any_file, format_name=st.sampled_from(sorted(SESSION_FORMATS)))
def test_every_importer_returns_problems_never_raises(
    case: tuple[str, bytes], format_name: str
) -> None:
    name, data = case
    text, problems = decode_bytes(data, file=name)
    assert all(isinstance(problem, Problem) for problem in problems)
    if text is None:
        assert problems
        return
    located, problems = SESSION_FORMATS[format_name].read_located(text, file=name)
    assert all(isinstance(problem, Problem) and str(problem) for problem in problems)
    for problem in problems:
        assert "\n" not in problem.message
    if located and not problems:
        from care.data.validation import validate_sessions

        sessions = [session for session, _ in located]
        if not validate_sessions(sessions) and len({s.id for s in sessions}) == len(sessions):
            _round_trip(sessions)


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


@PROFILE
@given(case=any_file)
def test_validate_exits_0_or_2_with_one_line_per_problem(case: tuple[str, bytes]) -> None:
    name, data = case
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), name, data)
        result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code in (0, 2), result.output
    lines = result.stderr.splitlines()
    if result.exit_code == 0:
        assert lines == [] and ": ok" in result.stdout
        return
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors, result.stderr
    assert len(lines) == len(errors) + (len(errors) > 1), result.stderr
    assert "Traceback" not in result.output


@PROFILE
@given(case=any_file)
def test_convert_writes_a_valid_file_or_one_line(case: tuple[str, bytes]) -> None:
    name, data = case
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder), name, data)
        target = Path(folder) / "converted.jsonl"
        result = CliRunner().invoke(cli, ["convert", str(path), str(target)])
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(
            result.exception
        )
        if result.exit_code == 0:
            original = load_corpus(path)
            converted = load_corpus(target)
            assert converted.ids == original.ids
            for session in original:
                turns = [(t.role, t.text) for t in converted[session.id].turns]
                assert turns == [(t.role, t.text) for t in session.turns]
            return
        assert result.exit_code == 2, result.output
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("error: ") and "Traceback" not in result.output
        assert not target.exists()


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_the_seeds_are_valid(name: str, tmp_path: Path) -> None:
    """The mutations start from files that read without a problem."""
    path = _write(tmp_path, name, SEEDS[name])
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.stderr
