"""The Markdown report of an evaluation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from care.evaluate.coverage import coverage_markdown
from care.evaluate.evaluation import Evaluation, EvaluationView, item_means
from care.evaluate.systems import SystemPredictions
from care.evaluate.targets import (
    HEADLINE_METRICS,
    cell_text,
    is_missing,
    metric_definitions,
    metric_label,
)


def _fmt(value: Any, digits: int = 3) -> str:
    return "–" if is_missing(value) else f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    escaped = [[str(cell).replace("|", "\\|") for cell in row] for row in rows]
    return [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
        *("| " + " | ".join(row) + " |" for row in escaped),
    ]


def _system_label(system: SystemPredictions) -> str:
    return f"{system.name} †" if system.name == "baseline/mean-rating" else system.name


def headline_markdown(
    evaluation: Evaluation, view: str = "full", metric: str = "pearson"
) -> list[str]:
    """A Markdown table of one metric with its interval for every row and headline target."""
    chosen = evaluation.views[view]
    header = ["system", *(t.name for t in evaluation.headline_targets)]
    rows = [
        [
            _system_label(system),
            *(
                cell_text(chosen.value(system.name, t.key, metric))
                for t in evaluation.headline_targets
            ),
        ]
        for system in chosen.systems
    ]
    return _table(header, rows)


def evaluation_markdown(evaluation: Evaluation, full: bool = True) -> str:
    """The evaluation as Markdown.

    Args:
        evaluation: What :func:`evaluate` returned.
        full: Every table (per-target metrics, items, folds, paired tests, rationales,
            metric definitions); otherwise the headline tables and the notes only.
    """
    instrument = evaluation.instrument
    gold = evaluation.gold
    main = (float(instrument.scale.min), float(instrument.scale.max))
    lines = [
        f"# Evaluation on {instrument.name} (`{instrument.id}`)",
        "",
        f"Gold: {gold['n_rated']} sessions of {gold['n_clients']} clients rated by their client"
        + (f" ({gold['source']})" if gold.get("source") else "")
        + f". Intervals: {evaluation.interval_text()}.",
    ]
    for view in evaluation.views.values():
        lines += [
            "",
            f"## {view.title}",
            "",
            f"{view.description[:1].upper()}{view.description[1:]}: {len(view.session_ids)} "
            f"sessions of {view.n_clients} clients, the same for every system.",
            "",
            f"### Pearson r [{evaluation.settings['confidence']:.0%} CI] with the client's ratings",
            "",
            *headline_markdown(evaluation, view.name, "pearson"),
            "",
            "### MAE [CI] (on each score's own scale)",
            "",
            *headline_markdown(evaluation, view.name, "mae"),
        ]
        means = item_means(view, evaluation.targets, main)
        if means:
            n_items = sum(1 for t in evaluation.item_targets if t.scale == main)
            lines += [
                "",
                f"### Items: mean over the {n_items} items on the {main[0]:g}-{main[1]:g} scale "
                "(predictions rounded half up and clipped for exact, within ±1, rounded MAE)",
                "",
                *_table(
                    ["system", "exact", "within ±1", "rounded MAE", "MAE", "Pearson r"],
                    [
                        [
                            _system_label(next(s for s in view.systems if s.name == name)),
                            *(
                                _fmt(values.get(m))
                                for m in (
                                    "exact_accuracy",
                                    "within_one_accuracy",
                                    "rounded_mae",
                                    "mae",
                                    "pearson",
                                )
                            ),
                        ]
                        for name, values in means.items()
                    ],
                ),
            ]
        if full:
            lines += _full_view_markdown(evaluation, view)
        if view.notes:
            lines += ["", "Notes:", ""] + [f"- {note}" for note in view.notes]
    if full and evaluation.rationales:
        lines += _rationale_markdown(evaluation.rationales)
    lines += coverage_markdown(evaluation.trust)
    if full:
        lines += ["", "## Metric definitions", ""]
        lines += [f"- **{metric_label(k)}** (`{k}`): {v}." for k, v in metric_definitions().items()]
        lines += [f"- **Intervals**: {evaluation.interval_text()}."]
    lines += (
        ["", "† see the note on the mean-rating baseline's correlations."]
        if any(
            s.name == "baseline/mean-rating" for v in evaluation.views.values() for s in v.systems
        )
        else []
    )
    if evaluation.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in evaluation.notes]
    return "\n".join(lines) + "\n"


def _full_view_markdown(evaluation: Evaluation, view: EvaluationView) -> list[str]:
    lines: list[str] = []
    for target in evaluation.headline_targets:
        lines += [
            "",
            f"### {target.name} ({target.kind}, scale {target.scale[0]:g}-{target.scale[1]:g})",
            "",
        ]
        header = ["system", *(metric_label(m) for m in HEADLINE_METRICS)]
        has_folds = any(target.key in view.folds.get(s.name, {}) for s in view.systems)
        if has_folds:
            header += ["r over folds (mean ± SD)", "MSE over folds"]
        rows = []
        for system in view.systems:
            row = [_system_label(system)]
            row += [cell_text(view.value(system.name, target.key, m)) for m in HEADLINE_METRICS]
            if has_folds:
                entry = view.folds.get(system.name, {}).get(target.key)
                row += [_mean_sd(entry, "pearson"), _mean_sd(entry, "mse")]
            rows.append(row)
        lines += _table(header, rows)
    shown = [s for s in view.systems if s.kind != "human"]
    if shown:
        lines += [
            "",
            "### Every item: exact / within ±1 / rounded MAE / Pearson r",
            "",
        ]
        rows = []
        for target in evaluation.item_targets:
            row = [target.name, f"{target.scale[0]:g}-{target.scale[1]:g}"]
            for system in shown:
                values = [
                    view.value(system.name, target.key, m)
                    for m in ("exact_accuracy", "within_one_accuracy", "rounded_mae", "pearson")
                ]
                row.append(" / ".join(_fmt(None if v is None else v["value"], 2) for v in values))
            rows.append(row)
        lines += _table(["item", "scale", *(s.name for s in shown)], rows)
    lines += _distinctness_markdown(view)
    if view.paired:
        lines += ["", "### Paired bootstrap tests (A − B on the same resamples)", ""]
        rows = [
            [
                p["a"],
                p["b"],
                p["target"],
                metric_label(p["metric"]),
                f"{_fmt(p['delta'])} [{_fmt(p['ci_low'])}, {_fmt(p['ci_high'])}]",
                _fmt(p["p_value"], 4),
                p["verdict"],
            ]
            for p in view.paired
        ]
        lines += _table(["A", "B", "score", "metric", "A − B [CI]", "p", "verdict"], rows)
    return lines


def _distinctness_markdown(view: EvaluationView) -> list[str]:
    correlations = view.dimension_correlations()
    if not correlations:
        return []
    pairs = list(correlations["clients"])
    lines = [
        "",
        "### Distinctness of the dimensions: Pearson r between dimension scores",
        "",
        "Far higher than the clients' row means the dimensions measure one general appraisal.",
        "",
    ]
    rows = [
        [row, *(_fmt(values.get(pair), 2) for pair in pairs)]
        for row, values in correlations.items()
    ]
    rows[0][0] = "clients' ratings"
    return lines + _table(["row", *(pair.replace("~", " ~ ") for pair in pairs)], rows)


def _mean_sd(entry: Mapping[str, Any] | None, metric: str) -> str:
    if not entry or metric not in entry:
        return "–"
    values = entry[metric]
    return f"{_fmt(values['mean'])} ± {_fmt(values['sd'])} ({entry['n_folds']})"


def _rationale_markdown(rationales: Mapping[str, Any]) -> list[str]:
    lines = ["", "## Rationales", ""]
    rows = []
    variants: dict[str, str] = {}
    for system, entry in rationales.items():
        faith = entry.get("quote_faithfulness", {})
        variants["quote faithfulness"] = faith.get("variant", "")
        row = [
            system,
            str(entry.get("n_rationales", 0)),
            f"{_fmt(faith.get('share'))} ({faith.get('n_found', 0)}/{faith.get('n_quotes', 0)})",
        ]
        references = entry.get("against_references") or {}
        cells = []
        for language, scored in references.items():
            metrics = scored.get("metrics", {})
            for name, metric in metrics.items():
                variants[f"{name} ({language})"] = metric["variant"]
            cells.append(
                f"{language}: "
                + ", ".join(f"{name} {_fmt(m['value'])}" for name, m in metrics.items())
                + f" (n={scored.get('n')})"
            )
        row.append("; ".join(cells) or "no references")
        rows.append(row)
    lines += _table(["system", "rationales", "quotes found verbatim", "against references"], rows)
    lines += ["", "Variants:", ""] + [f"- {name}: {text}" for name, text in variants.items()]
    return lines
