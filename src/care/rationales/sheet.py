"""Offline review: drafts to a spreadsheet (CSV or XLSX) and reviewers' decisions back.

Columns (the first five identify the draft and must not be changed): ``session_id``,
``instrument``, ``item_id``, ``teacher``, ``prompt_version``, then ``rating``, ``draft``
(read-only for the reviewer), and the reviewer's columns ``decision`` (accept, edit, reject or
empty to skip the row), ``edited_rationale`` (for edit), ``reviewer``, ``faithfulness``,
``relevance``, ``informativeness`` (1-5, optional) and ``note``.

Cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``) are
written with a leading ``'``, which import removes again.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

from care.errors import DataError, ParameterError
from care.rationales.store import REVIEW_SCALES, RationaleStore, Review, check_review

KEY_COLUMNS = ("session_id", "instrument", "item_id", "teacher", "prompt_version")
COLUMNS = (
    *KEY_COLUMNS,
    "rating",
    "draft",
    "decision",
    "edited_rationale",
    "reviewer",
    *REVIEW_SCALES,
    "note",
)
_FORMULA = ("=", "+", "-", "@")


def _escape(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def _unescape(value: Any) -> str:
    text = "" if value is None else str(value)
    if text.startswith("'") and text[1:].startswith(_FORMULA):
        return text[1:]
    return text


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ParameterError(
            f"the spreadsheet must end in .csv or .xlsx; got {path.name!r}",
            field="PATH",
            fix="name the file e.g. review.xlsx",
        )
    return suffix[1:]


def export_sheet(store: RationaleStore, path: str | Path, *, teacher: str | None = None) -> int:
    """Write the ``ok`` drafts (with any latest decision filled in) to ``path``; returns the
    number of rows."""
    path = Path(path)
    kind = _kind(path)
    latest = store.latest_reviews()
    rows = []
    for draft in store.drafts(teacher=teacher, status="ok"):
        review = latest.get(draft.key)
        row: list[Any] = [*draft.key, draft.rating, draft.rationale]
        if review is None:
            row += ["", "", "", *([""] * len(REVIEW_SCALES)), ""]
        else:
            row += [
                review.decision,
                review.text if review.decision == "edit" else "",
                review.reviewer,
                *(review.scores.get(name, "") for name in REVIEW_SCALES),
                review.note or "",
            ]
        rows.append([_escape(cell) for cell in row])
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "csv":
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            writer.writerows(rows)
    else:
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = "drafts"
        sheet.append(list(COLUMNS))
        for row in rows:
            sheet.append(row)
        book.save(path)
    return len(rows)


def _read(path: Path) -> list[dict[str, str]]:
    if _kind(path) == "csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return [dict(row) for row in csv.DictReader(handle)]
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    if not rows:
        return []
    header = [str(cell or "").strip() for cell in rows[0]]
    return [
        {name: ("" if cell is None else cell) for name, cell in zip(header, row, strict=False)}
        for row in rows[1:]
    ]


def import_sheet(
    store: RationaleStore, path: str | Path, *, reviewer: str | None = None
) -> list[Review]:
    """Read reviewers' decisions from ``path`` into ``store`` (rows without a decision, and
    rows whose decision is already the latest stored one, are skipped).

    Args:
        reviewer: Name used where the ``reviewer`` cell is empty.

    Raises:
        DataError: A missing column, or a row with an invalid decision or score (nothing is
            written then).
    """
    path = Path(path)
    if not path.exists():
        raise ParameterError(f"no such file: {str(path)!r}", field="PATH")
    rows = _read(path)
    if rows and (missing := [c for c in (*KEY_COLUMNS, "decision") if c not in rows[0]]):
        raise DataError(
            f"the spreadsheet lacks the columns {missing}",
            file=str(path),
            fix="export it again with `care rationales export` and keep its header row",
        )
    latest = store.latest_reviews(per_reviewer=True)
    reviews: list[Review] = []
    now = time.time()
    for number, row in enumerate(rows, start=2):
        decision = _unescape(row.get("decision")).strip().lower()
        if not decision:
            continue
        scores = {}
        for name in REVIEW_SCALES:
            cell = _unescape(row.get(name)).strip()
            if cell:
                try:
                    scores[name] = int(float(cell))
                except ValueError:
                    scores[name] = cell  # type: ignore[assignment] - check_review refuses it
        review = Review(
            *(_unescape(row.get(c)).strip() for c in KEY_COLUMNS),
            reviewer=_unescape(row.get("reviewer")).strip() or (reviewer or ""),
            decision=decision,
            text=_unescape(row.get("edited_rationale")) or None,
            scores=scores,
            note=_unescape(row.get("note")) or None,
            created_at=now,
        )
        try:
            check_review(review, where=f"row {number}")
            if store.draft(review.key) is None:
                raise ParameterError(
                    "no such draft in the store",
                    record=f"row {number}",
                    field="session_id",
                    fix="import into the store the sheet was exported from",
                )
        except ParameterError as error:
            raise DataError(
                str(error.problem.message),
                file=str(path),
                record=f"row {number}",
                field=error.problem.field,
                fix=error.problem.fix,
            ) from None
        old = latest.get((review.key, review.reviewer))
        if old is not None and (old.decision, old.text or None, old.scores, old.note) == (
            review.decision,
            review.text if review.decision == "edit" else old.text or None,
            review.scores,
            review.note,
        ):
            continue
        if review.decision != "edit":
            review.text = None
        reviews.append(review)
    for review in reviews:
        store.add_review(review)
    return reviews
