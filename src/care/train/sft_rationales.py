"""Reading the curated rationales that training answers are built from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from care.errors import DataError, Problem

USABLE_STATUSES = ("accepted", "edited")
"""Review statuses of rationales that training uses."""


@dataclass
class RationaleSet:
    """Accepted rationales by (session id, item id), and what was set aside."""

    texts: dict[tuple[str, str], str] = field(default_factory=dict)
    not_accepted: int = 0


def read_rationales(path: str | Path) -> RationaleSet:
    """Read a rationales file: JSON Lines of ``{session_id, item_id, rationale}``, each with an
    optional ``status`` (where a status is given, only reviewed ones are used: ``accepted``
    or ``edited``, as ``care rationales curated`` writes them).

    Raises:
        DataError: Listing every malformed line and every duplicate (session, item).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            "the rationales file does not exist",
            file=str(path),
            fix="give a JSON Lines file of {session_id, item_id, rationale}",
        )
    found = RationaleSet()
    problems: list[Problem] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = {"file": str(path), "record": f"line {number}"}
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                problems.append(Problem(f"not JSON ({error.msg})", **where))
                continue
            if not isinstance(record, dict):
                problems.append(Problem("the record is not a JSON object", **where))
                continue
            bad = [
                name
                for name in ("session_id", "item_id", "rationale")
                if not isinstance(record.get(name), str) or not record[name].strip()
            ]
            if bad:
                problems.append(
                    Problem(
                        "missing or empty",
                        field=bad[0],
                        fix="every line needs session_id, item_id and rationale strings",
                        **where,
                    )
                )
                continue
            if record.get("status", "accepted") not in USABLE_STATUSES:
                found.not_accepted += 1
                continue
            key = (record["session_id"], record["item_id"])
            if key in found.texts:
                problems.append(
                    Problem(
                        f"a second accepted rationale for session {key[0]!r}, item {key[1]!r}",
                        fix="keep one accepted rationale per session and item",
                        **where,
                    )
                )
                continue
            found.texts[key] = record["rationale"]
    if problems:
        raise DataError.from_problems(problems)
    return found


# -- examples and report ----------------------------------------------------------------------
