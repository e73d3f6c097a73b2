"""Rationale curation: draft with a teacher model, review (offline spreadsheet), check, and
export the curated set. See ``docs/rationales.md``."""

from care.rationales.check import check_rationales
from care.rationales.curated import curated_records, write_curated
from care.rationales.draft import draft_rationales, get_draft_template
from care.rationales.sheet import export_sheet, import_sheet
from care.rationales.store import Draft, RationaleStore, Review

__all__ = [
    "Draft",
    "RationaleStore",
    "Review",
    "check_rationales",
    "curated_records",
    "draft_rationales",
    "export_sheet",
    "get_draft_template",
    "import_sheet",
    "write_curated",
]
