"""Where the shared research data are (never copied into the repository)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def shared_data() -> Path:
    """The shared data folder: $CARE_SHARED_DATA, else <repo root>/../shared/data."""
    env = os.environ.get("CARE_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


KOKORO = shared_data() / "kokorochat"
ENGLISH = KOKORO / "kokorochat_english.jsonl.gz"
CHINESE = KOKORO / "kokorochat_chinese.jsonl.gz"
needs_data = pytest.mark.skipif(
    not ENGLISH.exists() or not CHINESE.exists(),
    reason=f"the shared KokoroChat files are not in {KOKORO} (set CARE_SHARED_DATA)",
)
