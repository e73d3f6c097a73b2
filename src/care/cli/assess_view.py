"""How ``care assess`` shows one assessment in the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from care.cli.trust_view import (
    interval_text,
    item_interval_text,
    percentile_text,
    print_trust_header,
)
from care.results import SessionAssessment


def print_assessment(console: Console, assessment: SessionAssessment, turns: list) -> None:
    """A readable summary of one assessment: scores, rationales, items."""
    from care.instruments import get_instrument

    instrument = get_instrument(assessment.instrument)
    scores = assessment.dimension_scores(instrument)
    total = assessment.total_score(instrument)
    scale = instrument.scale
    console.rule(
        f"[bold]{escape(assessment.session_id)}[/bold] "
        f"({assessment.language}, {escape(assessment.model)})"
    )
    print_trust_header(console, assessment)
    width = 20
    for name, value in [*scores.items(), ("total", total)]:
        if value != value:  # NaN: every item of the dimension failed
            console.print(f"  {name:<6}   n/a (no item could be rated)")
            continue
        filled = round((value - scale.min) / (scale.max - scale.min) * width)
        bar = "█" * filled + "░" * (width - filled)
        console.print(
            f"  {name:<6} {value:5.2f}{interval_text(assessment, name)} {bar} "
            f"({scale.min}-{scale.max}) {percentile_text(assessment, name)}".rstrip()
        )
    for name in scores:
        if name in assessment.rationales:
            console.print(f"  [bold]{name}[/bold]: {escape(assessment.rationales[name])}")
    table = Table(show_header=False, box=None, padding=(0, 1))
    per_row = 2 if console.width >= 100 else 1
    for _ in range(per_row):
        table.add_column(style="dim")
        table.add_column(justify="right")
    cells = [
        (
            escape(item_id),
            "failed"
            if rating.value is None
            else f"{rating.value:.2f}{item_interval_text(assessment, item_id)}",
        )
        for item_id, rating in assessment.items.items()
    ]
    for start in range(0, len(cells), per_row):
        row = [text for cell in cells[start : start + per_row] for text in cell]
        table.add_row(*row, *[""] * (2 * per_row - len(row)))
    console.print(table)
    for item_id, rating in assessment.items.items():
        if rating.rationale:
            found = sum(piece.verbatim for piece in rating.evidence)
            quotes = f" [dim]({found}/{len(rating.evidence)} quotes verbatim)[/dim]"
            text = " ".join(rating.rationale.split())
            console.print(f"  [bold]{escape(item_id)}[/bold]: {escape(text[:300])}{quotes}")
    console.print()
