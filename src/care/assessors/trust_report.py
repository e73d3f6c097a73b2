"""The held-out figures of a :class:`~care.assessors.trust.TrustModel` as text: coverage
and mean width of the constant-width and adaptive intervals, share flagged out of domain."""

from __future__ import annotations

from typing import Any

from care.assessors.trust import TrustModel
from care.instruments import get_instrument

KEYS = ("constant_coverage", "constant_width", "adaptive_coverage", "adaptive_width")


def trust_rows(trust: TrustModel) -> list[dict[str, Any]]:
    """Per dimension, ``total`` and the mean over items: held-out coverage and mean width
    of both kinds of interval and the kind kept."""
    instrument = get_instrument(trust.instrument)
    scores = trust.evaluation.get("scores", {})
    rows = []
    for name in [*instrument.dimensions, "total"]:
        if name in scores:
            rows.append({"score": name, **_flat(scores[name])})
    items = [scores[i] for i in instrument.scored_item_ids if i in scores]
    if items:
        mean = {
            key: sum(_flat(item)[key] for item in items) / len(items)
            for key in (
                "constant_coverage",
                "constant_width",
                "adaptive_coverage",
                "adaptive_width",
            )
        }
        adaptive = sum(item["chosen"] == "adaptive" for item in items)
        rows.append(
            {"score": f"items (mean of {len(items)})", **mean, "chosen": f"adaptive for {adaptive}"}
        )
    return rows


def _flat(summary: dict[str, Any]) -> dict[str, Any]:
    return {
        "constant_coverage": summary["constant"]["coverage"],
        "constant_width": summary["constant"]["width"],
        "adaptive_coverage": summary["adaptive"]["coverage"],
        "adaptive_width": summary["adaptive"]["width"],
        "chosen": summary["chosen"],
    }


def format_trust_report(trust: TrustModel) -> str:
    """A Markdown table of :func:`trust_rows` and the domain figure."""
    level = trust.evaluation.get("level", 0.9)
    lines = [
        "",
        f"Prediction intervals at {level:.0%}, held out by fold of clients (calibrated on "
        "the other folds):",
        "",
        "| score | constant: coverage | constant: mean width | adaptive: coverage | "
        "adaptive: mean width | kept |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in trust_rows(trust):
        lines.append(
            f"| {row['score']} | {row['constant_coverage']:.3f} | {row['constant_width']:.3f} | "
            f"{row['adaptive_coverage']:.3f} | {row['adaptive_width']:.3f} | {row['chosen']} |"
        )
    domain = trust.evaluation.get("domain")
    if domain:
        lines += [
            "",
            f"Out of domain: {domain['flagged_held_out']:.1%} of held-out training sessions "
            f"flagged (target {domain['flag_share_target']:.1%}).",
        ]
    return "\n".join(lines)
