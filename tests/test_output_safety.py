"""No command loses a user's results: `care assess --out` refuses targets that are not care
results files, keys resume by result identity, locks the file, survives kills at any
moment, and turns every OS error on an output path into one line and exit 2.

These tests run the real `care` command in subprocesses on real files.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from care.assessors.lite import load_shipped_model

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SESSIONS = EXAMPLES / "sessions.jsonl"
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def care(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "care", *map(str, args)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=timeout,
    )


def one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


# -- what may be written to ---------------------------------------------------------------


def test_an_input_is_never_taken_for_the_output(tmp_path: Path) -> None:
    sessions = tmp_path / "s.jsonl"
    shutil.copy(SESSIONS, sessions)
    before = sessions.read_bytes()
    one_line_error(care("assess", sessions, "--out", sessions, "-q"), "one of the inputs")
    assert sessions.read_bytes() == before


def test_a_file_that_holds_anything_but_results_is_refused_and_untouched(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\nabout the study\n", encoding="utf-8")
    one_line_error(care("assess", SESSIONS, "--out", notes, "-q"), "not a care result")
    assert notes.read_text("utf-8") == "my notes\nabout the study\n"
    sessions_copy = tmp_path / "other.jsonl"
    shutil.copy(SESSIONS, sessions_copy)  # sessions are not results either
    one_line_error(care("assess", EXAMPLES / "session_en.json", "--out", sessions_copy, "-q"))
    assert sessions_copy.read_bytes() == SESSIONS.read_bytes()


def test_resume_is_keyed_by_identity_not_by_session_id(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    assert care("assess", SESSIONS, "--out", out, "-q").returncode == 0
    whole = out.read_bytes()
    result = care("assess", SESSIONS, "--cut", "--out", out, "-q")
    one_line_error(result, "care-lite-en-cut", "another file")
    assert out.read_bytes() == whole
    # the same model again: everything is already there
    again = care("assess", SESSIONS, "--out", out, "-q")
    assert again.returncode == 0 and "5 of 5 sessions already in" in again.stderr
    assert out.read_bytes() == whole
    # --overwrite starts afresh with the cut model
    fresh = care("assess", SESSIONS, "--cut", "--out", out, "--overwrite", "-q")
    assert fresh.returncode == 0, fresh.stderr
    assert {r["model"] for r in records(out)} == {"care-lite-en-cut", "care-lite-zh-cut"} & {
        r["model"] for r in records(out)
    }
    assert all(r["model"].endswith("-cut") for r in records(out))


@pytest.mark.parametrize("target", ["/dev/full", "/dev/null", "fifo", "folder"])
def test_devices_fifos_and_folders_are_refused(tmp_path: Path, target: str) -> None:
    if target == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    elif target == "folder":
        path = tmp_path / "folder"
        path.mkdir()
    else:
        path = Path(target)
        if not path.exists():
            pytest.skip(f"{target} does not exist here")
    words = "folder" if target == "folder" else "not a regular file"
    one_line_error(care("assess", SESSIONS, "--out", path, "-q", timeout=60), words)


def test_os_errors_on_output_paths_are_one_line(tmp_path: Path) -> None:
    # a folder that does not exist is made
    deep = tmp_path / "new" / "folder" / "r.jsonl"
    assert care("assess", SESSIONS, "--out", deep, "-q").returncode == 0 and deep.exists()
    # a file in the way of a folder
    blocker = tmp_path / "blocker"
    blocker.write_text("x", encoding="utf-8")
    one_line_error(care("assess", SESSIONS, "--out", blocker / "r.jsonl", "-q"), str(blocker))
    # a loop of symbolic links
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    one_line_error(care("assess", SESSIONS, "--out", tmp_path / "a", "-q"), "symbolic links")
    # care evaluate --out-dir that is a file
    one_line_error(
        care("evaluate", "--gold", SESSIONS, "--pred", deep, "--out-dir", blocker),
        "not a folder",
    )


# -- two runs, kills -------------------------------------------------------------------------


def test_a_second_run_on_the_same_output_is_refused_while_the_first_holds_it(
    tmp_path: Path,
) -> None:
    from filelock import FileLock

    out = tmp_path / "r.jsonl"
    with FileLock(str(out) + ".lock"):  # what a running `care assess` holds
        one_line_error(care("assess", SESSIONS, "--out", out, "-q"), "in use")
    assert not out.exists() or out.read_text("utf-8") == ""
    assert care("assess", SESSIONS, "--out", out, "-q").returncode == 0


def _many_sessions(path: Path, n: int) -> list[str]:
    template = json.loads(SESSIONS.read_text("utf-8").splitlines()[0])
    ids = [f"s{number:05d}" for number in range(n)]
    with open(path, "w", encoding="utf-8") as handle:
        for session_id in ids:
            handle.write(json.dumps({**template, "id": session_id}) + "\n")
    return ids


def test_two_concurrent_runs_never_corrupt_the_output(tmp_path: Path) -> None:
    sessions = tmp_path / "many.jsonl"
    ids = _many_sessions(sessions, 300)
    out = tmp_path / "r.jsonl"
    command = [sys.executable, "-m", "care", "assess", str(sessions), "--out", str(out), "-q"]
    runs = [subprocess.Popen(command, env=ENV, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    codes = []
    for run in runs:
        _, stderr = run.communicate(timeout=300)
        codes.append(run.returncode)
        if run.returncode == 2:
            assert "in use" in stderr and "Traceback" not in stderr
    assert sorted(codes) in ([0, 0], [0, 2]), codes
    written = [r["session_id"] for r in records(out)]
    assert written == ids  # every session once, in order, no corrupt line


def _fake_results(path: Path, n: int) -> list[str]:
    """n finished results of the built-in English model (other session ids)."""
    model = load_shipped_model("en")
    first = care("assess", EXAMPLES / "session_en.json", "--json")
    record = json.loads(first.stdout.splitlines()[0])
    assert record["model_version"] == model.release
    lines = []
    for number in range(n):
        lines.append(json.dumps({**record, "session_id": f"old{number:05d}"}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return lines


def test_kills_at_random_moments_during_resume_never_lose_finished_results(
    tmp_path: Path,
) -> None:
    out = tmp_path / "r.jsonl"
    lines = _fake_results(out, 20_000)
    # a record cut off by an earlier kill
    with open(out, "a", encoding="utf-8") as handle:
        handle.write(lines[0][:50])
    command = [sys.executable, "-m", "care", "assess", str(SESSIONS), "--out", str(out), "-q"]
    generator = random.Random(7)
    for _ in range(6):
        run = subprocess.Popen(command, env=ENV, stderr=subprocess.DEVNULL)
        time.sleep(generator.uniform(0.0, 2.5))
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
        kept = out.read_text("utf-8").split("\n")
        assert kept[: len(lines)] == lines  # every finished result, unchanged, in place
    final = care("assess", SESSIONS, "--out", out, "-q")
    assert final.returncode == 0, final.stderr
    result = records(out)
    assert len(result) == 20_000 + 5
    assert [r["session_id"] for r in result[:20_000]] == [f"old{n:05d}" for n in range(20_000)]


def test_a_killed_overwrite_leaves_the_old_file(tmp_path: Path) -> None:
    sessions = tmp_path / "many.jsonl"
    _many_sessions(sessions, 2000)
    out = tmp_path / "r.jsonl"
    lines = _fake_results(out, 100)
    command = [
        sys.executable, "-m", "care", "assess", str(sessions), "--out", str(out),
        "--overwrite", "-q",
    ]  # fmt: skip
    run = subprocess.Popen(command, env=ENV, stderr=subprocess.DEVNULL)
    time.sleep(3.0)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    assert out.read_text("utf-8").splitlines() == lines


# -- full and read-only file systems (small tmpfs mounts, as root) -----------------------------


def _mount(folder: Path, options: str) -> None:
    folder.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode(errors='replace')}")


needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("mount") is None, reason="needs root to mount a tmpfs"
)


@needs_root
def test_a_full_disk_keeps_every_result_written_so_far(tmp_path: Path) -> None:
    sessions = tmp_path / "many.jsonl"
    _many_sessions(sessions, 400)
    disk = tmp_path / "disk"
    _mount(disk, "size=256k")
    try:
        out = disk / "r.jsonl"
        result = care("assess", sessions, "--out", out, "-q")
        one_line_error(result, "space")
        written = out.read_text("utf-8")
        assert written.endswith("\n")  # no partial record
        kept = [json.loads(line) for line in written.splitlines()]
        assert 0 < len(kept) < 400
        assert [r["session_id"] for r in kept] == [f"s{n:05d}" for n in range(len(kept))]
    finally:
        subprocess.run(["umount", str(disk)], check=False)


@needs_root
def test_a_read_only_location_is_one_line(tmp_path: Path) -> None:
    disk = tmp_path / "ro"
    _mount(disk, "ro,size=64k")
    try:
        one_line_error(care("assess", SESSIONS, "--out", disk / "r.jsonl", "-q"), "read-only")
        one_line_error(
            care("convert", SESSIONS, disk / "s.jsonl"),
            "read-only",
        )
    finally:
        subprocess.run(["umount", str(disk)], check=False)
