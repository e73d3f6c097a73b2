"""The curated set: accepted and edited rationales as one documented JSONL file.

Each line is a JSON object::

    {"format": "care-rationales", "version": 1, "session_id": "...", "instrument": "...",
     "item_id": "...", "rating": 4.0, "rationale": "...", "status": "accepted" | "edited",
     "reviewer": "...", "reviewed_at": 1767225600.0, "teacher": "...", "prompt_version": "..."}

``rationale`` is the edited text for ``edited`` and the draft for ``accepted``; the latest
decision per draft counts, and rejected or unreviewed drafts are left out. ``care sft-data``
(when it exists) can pair these with the transcripts by ``session_id``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from care.rationales.store import RationaleStore, final_text

CURATED_FORMAT = "care-rationales"
CURATED_VERSION = 1


def curated_records(store: RationaleStore) -> list[dict[str, Any]]:
    """The curated records (see the module docstring)."""
    latest = store.latest_reviews()
    out = []
    for draft in store.drafts(status="ok"):
        review = latest.get(draft.key)
        text = final_text(draft, review) if review is not None else None
        if not text:
            continue
        out.append(
            {
                "format": CURATED_FORMAT,
                "version": CURATED_VERSION,
                "session_id": draft.session_id,
                "instrument": draft.instrument,
                "item_id": draft.item_id,
                "rating": draft.rating,
                "rationale": text,
                "status": "edited" if review.decision == "edit" else "accepted",
                "reviewer": review.reviewer,
                "reviewed_at": review.created_at,
                "teacher": draft.teacher,
                "prompt_version": draft.prompt_version,
                "language": draft.language,
            }
        )
    return out


def write_curated(store: RationaleStore, path: str | Path) -> int:
    """Write the curated set to ``path`` (JSONL); returns the number of records."""
    records = curated_records(store)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return len(records)
