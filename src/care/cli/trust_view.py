"""How ``care assess`` shows a score's interval, its reference percentile and the domain check."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from care.results import SessionAssessment


def interval_text(assessment: SessionAssessment, name: str) -> str:
    """``" [2.71, 4.12]"`` for a dimension or ``total`` with an interval, else ``""``."""
    bounds = (assessment.intervals or {}).get(name)
    if not isinstance(bounds, list) or len(bounds) != 2:
        return ""
    return f" [{bounds[0]:.2f}, {bounds[1]:.2f}]"


def item_interval_text(assessment: SessionAssessment, item_id: str) -> str:
    """``" [1.9, 4.6]"`` for an item with an interval, else ``""``."""
    bounds = ((assessment.intervals or {}).get("items") or {}).get(item_id)
    if not bounds:
        return ""
    return f" [{bounds[0]:.1f}, {bounds[1]:.1f}]"


def percentile_text(assessment: SessionAssessment, name: str) -> str:
    """``"higher than 64% of reference sessions"`` (or ``lower than``), else ``""``."""
    share = (assessment.percentiles or {}).get(name)
    if share is None:
        return ""
    if share >= 50:
        return f"higher than {share:.0f}% of reference sessions"
    return f"lower than {100 - share:.0f}% of reference sessions"


def print_trust_header(console: Console, assessment: SessionAssessment) -> None:
    """The interval level (or why there are no intervals) and any out-of-domain warning."""
    intervals = assessment.intervals or {}
    if "unavailable" in intervals:
        console.print(f"  [dim]No intervals: {escape(str(intervals['unavailable']))}[/dim]")
    elif "level" in intervals:
        console.print(f"  [dim]{intervals['level']:.0%} prediction intervals in brackets[/dim]")
    domain = assessment.domain or {}
    if domain.get("in_domain") is False:
        given = [str(reason) for reason in domain.get("reasons", [])]
        reasons = "; ".join(given[:3]) + (f"; and {len(given) - 3} more" if len(given) > 3 else "")
        console.print(
            f"  [bold yellow]Warning: out of domain[/bold yellow] (distance "
            f"{domain.get('score')}, threshold {domain.get('threshold')}): this session is "
            f"unlike the model's reference sessions, so its scores and intervals may not "
            f"hold. {escape(reasons)}"
        )
