"""Headless Chromium for the tests that render reports and drive care serve's pages."""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM = shutil.which("chromium")


def chromium_command(profile: Path, *args: str) -> list[str]:
    """A headless, offline Chromium command with its own profile folder, then ``args``."""
    return [
        CHROMIUM or "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        *args,
    ]
