"""The HTML report: self-contained, charts drawn, and rendered by headless Chromium."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from browser import CHROMIUM, chromium_command
from care.data import load_corpus
from care.evaluate.html import render_html, write_reports
from care.evaluate.report import evaluate
from care.results import Assessments

DATA = Path(__file__).parent / "data" / "evaluate"


@pytest.fixture(scope="module")
def evaluation():
    gold = load_corpus(DATA / "gold.jsonl")
    good = Assessments.read(DATA / "pred_good.jsonl")
    weak = Assessments.read(DATA / "pred_weak.jsonl")
    cut = Assessments.read(DATA / "pred_good_cut.jsonl")
    return evaluate(
        gold, {"good": good, "weak <b>&": weak}, cut_predictions={"good-cut": cut}, n_resamples=100
    )


@pytest.fixture(scope="module")
def page(evaluation) -> str:
    return render_html(evaluation)


# --------------------------------------------------------------------------- page


def test_page_is_self_contained(page) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower()
    assert not re.search(r"(src|href)\s*=", page, re.IGNORECASE)
    assert "@import" not in page and "url(" not in page
    external = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert external == {"http://www.w3.org/2000/svg"}  # the SVG namespace, never fetched


def test_page_has_every_part(page) -> None:
    for heading in (
        "Pearson r [95% CI] with the client",
        "Predicted against client rating",
        "Calibration",
        "Distribution of ratings",
        "Paired bootstrap tests",
        "Process only: sessions cut before their last 20% of turns",
        "Rationales",
        "Metric definitions",
    ):
        assert heading in page, heading
    assert "weak &lt;b&gt;&amp;" in page and "weak <b>&" not in page
    assert page.count('class="chart scatter"') == 4 * (2 + 1) + 4 * (1 + 1)
    assert page.count('class="chart calibration"') == 8
    assert page.count('class="chart histogram"') == 8
    assert page.count('class="chart bars"') == 4
    assert "human/observer (wai-o-s)" in page


def test_write_reports(evaluation, tmp_path) -> None:
    paths = write_reports(evaluation, tmp_path / "out")
    assert sorted(p.name for p in paths.values()) == ["report.html", "report.json", "report.md"]
    assert paths["markdown"].read_text(encoding="utf-8").startswith("# Evaluation on")
    assert '"schema": "care-evaluation/1"' in paths["json"].read_text(encoding="utf-8")


# ----------------------------------------------------------------------- Chromium


def png_pixels(path: Path) -> np.ndarray:
    """Decode an 8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes) to an array."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    position, chunks = 8, []
    width = height = channels = 0
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            chunks.append(body)
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, stride + 1)
    image = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.int64)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:].astype(np.int64)
        if kind == 0:
            current = line
        elif kind == 1:  # Sub: a running sum per channel
            current = np.cumsum(line.reshape(width, channels), axis=0).reshape(-1) % 256
        elif kind == 2:  # Up
            current = (line + previous) % 256
        else:  # Average (3) or Paeth (4): sequential within the row
            out = bytearray(stride)
            raw_line, prior = line.tolist(), previous.tolist()
            for x in range(stride):
                left = out[x - channels] if x >= channels else 0
                up = prior[x]
                if kind == 3:
                    out[x] = (raw_line[x] + (left + up) // 2) % 256
                else:
                    corner = prior[x - channels] if x >= channels else 0
                    estimate = left + up - corner
                    pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                    pick = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                    out[x] = (raw_line[x] + pick) % 256
            current = np.frombuffer(bytes(out), dtype=np.uint8).astype(np.int64)
        image[y] = current
        previous = current
    return image.reshape(height, width, channels)


def test_png_decoder_on_a_known_image(tmp_path) -> None:
    # 2x2 RGB, rows filtered None and Sub: red, green / blue, white.
    raw = bytes([0, 255, 0, 0, 0, 255, 0]) + bytes([1, 0, 0, 255, 255, 255, 0])
    ihdr = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", 0)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
    (tmp_path / "x.png").write_bytes(png + chunk(b"IEND", b""))
    pixels = png_pixels(tmp_path / "x.png")
    assert pixels.tolist() == [[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [255, 255, 255]]]


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        chromium_command(profile, *args),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="chromium is not installed (`make test` installs Debian's package)",
)
def test_chromium_renders_the_plots(evaluation, tmp_path) -> None:
    assert CHROMIUM is not None, "CI must have chromium: `make test` installs it"
    paths = write_reports(evaluation, tmp_path / "report")
    url = paths["html"].resolve().as_uri()
    shot = tmp_path / "report.png"
    # One launch takes the screenshot and prints the DOM as rendered.
    done = _chromium(
        f"--screenshot={shot}",
        "--dump-dom",
        "--window-size=1280,2000",
        url,
        profile=tmp_path / "profile",
    )
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    assert shot.stat().st_size > 30_000
    pixels = png_pixels(shot)
    assert pixels.shape[:2] == (2000, 1280)
    grey = pixels[..., :3].astype(float).mean(axis=2)
    assert grey.std() > 20  # not a blank page
    # The plot colours are on the screen: the first system's blue bars and points.
    blue = (
        (pixels[..., 0] < 40)
        & (abs(pixels[..., 1].astype(int) - 114) < 30)
        & (pixels[..., 2] > 150)
    )
    assert blue.sum() > 2000
    rendered = done.stdout
    assert rendered.count("<svg") >= 30
    assert rendered.count("<circle") > 24 * 4
    assert rendered.count("<rect") > 50
    assert 'class="chart calibration"' in rendered
