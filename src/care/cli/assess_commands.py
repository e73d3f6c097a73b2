"""``care assess``: rate sessions with an assessor (filled in by the assessor modules)."""

from __future__ import annotations

COMMANDS: list = []
