"""The evaluation as one self-contained HTML page, plus the Markdown and JSON files.

The page has no scripts, fonts, images or styles from anywhere else: every chart is an
inline SVG (:mod:`care.stats.plots`), so it opens offline and can be mailed or
archived as a single file. :func:`write_reports` writes ``report.html``, ``report.md``
and ``report.json`` into a folder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

from care import __version__
from care.evaluate.coverage import coverage_html
from care.evaluate.evaluation import Evaluation, EvaluationView, item_means
from care.evaluate.markdown import evaluation_markdown
from care.evaluate.systems import SystemPredictions
from care.evaluate.targets import HEADLINE_METRICS, Target, metric_definitions, metric_label
from care.output import check_output_dir, write_text_atomic
from care.stats.plots import (
    PALETTE,
    REFERENCE_COLOURS,
    Series,
    bar_chart,
    histogram,
    legend,
    line_plot,
    scatter_plot,
)

__all__ = ["render_html", "write_reports"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif;color:#222;
max-width:1240px;margin:0 auto;padding:16px 24px 48px;line-height:1.45;background:#fff}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:20px;margin:32px 0 6px;padding-top:8px;
border-top:2px solid #ddd}h3{font-size:16px;margin:22px 0 6px}
p.lead{color:#444;margin:4px 0 10px}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:right;vertical-align:top}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
td small{color:#666}td.l,th.l{text-align:left}
.swatch{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;
vertical-align:-1px}
.charts{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}
.charts svg{display:block}svg.chart{border:1px solid #eee;border-radius:4px}
svg.legend{margin:2px 0 6px}
.row-label{font-weight:600;margin:10px 0 2px}
.caption{color:#555;font-size:13px;margin:2px 0 8px}
.note{background:#fff8e1;border-left:4px solid #f0c808;padding:6px 10px;margin:6px 0;
font-size:13px}
details{margin:8px 0}summary{cursor:pointer;font-weight:600}
code{background:#f4f4f4;padding:0 3px;border-radius:3px}
"""


def _colours(systems: Sequence[SystemPredictions]) -> dict[str, str]:
    colours: dict[str, str] = {}
    palette = iter(PALETTE * 4)
    humans = iter(("#009E73", "#117733", "#44AA99", "#999933"))
    for system in systems:
        if system.name in REFERENCE_COLOURS:
            colours[system.name] = REFERENCE_COLOURS[system.name]
        elif system.kind == "human":
            colours[system.name] = next(humans, "#009E73")
        else:
            colours[system.name] = next(palette)
    return colours


def _value(
    view: EvaluationView, system: str, target: str, metric: str
) -> tuple[float, float, float]:
    row = view.value(system, target, metric)
    if row is None:
        return math.nan, math.nan, math.nan
    return tuple(  # type: ignore[return-value]
        math.nan if row[k] is None else float(row[k]) for k in ("value", "ci_low", "ci_high")
    )


def _fmt(value: float, digits: int = 3) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _cell(view: EvaluationView, system: str, target: str, metric: str) -> str:
    value, low, high = _value(view, system, target, metric)
    if not math.isfinite(value):
        return "<td>–</td>"
    interval = (
        f"<br><small>[{_fmt(low)}, {_fmt(high)}]</small>"
        if math.isfinite(low) and math.isfinite(high)
        else ""
    )
    return f"<td>{_fmt(value)}{interval}</td>"


def _name_cell(system: SystemPredictions, colours: dict[str, str]) -> str:
    mark = " †" if system.name == "baseline/mean-rating" else ""
    return (
        f'<td><span class="swatch" style="background:{colours[system.name]}"></span>'
        f"{escape(system.name)}{mark}<br><small>{escape(system.kind)}</small></td>"
    )


def _headline_table(
    view: EvaluationView,
    targets: Sequence[Target],
    metric: str,
    colours: dict[str, str],
) -> str:
    head = "".join(f"<th>{escape(t.name)}</th>" for t in targets)
    rows = []
    for system in view.systems:
        cells = "".join(_cell(view, system.name, t.key, metric) for t in targets)
        rows.append(f"<tr>{_name_cell(system, colours)}{cells}</tr>")
    return f"<table><tr><th>system</th>{head}</tr>{''.join(rows)}</table>"


def _series(
    view: EvaluationView, systems: list, targets: list, metric: str, colours: dict[str, str]
) -> list[Series]:
    """One bar series per system: the metric and its interval for each target."""
    series = []
    for system in systems:
        triples = [_value(view, system.name, t.key, metric) for t in targets]
        series.append(
            Series(
                system.name,
                colours[system.name],
                [v for v, _, _ in triples],
                [lo for _, lo, _ in triples],
                [hi for _, _, hi in triples],
            )
        )
    return series


def _bars(evaluation: Evaluation, view: EvaluationView, colours: dict[str, str]) -> tuple[str, str]:
    targets = evaluation.headline_targets
    correlated = [s for s in view.systems if s.name != "baseline/mean-rating"]
    series = _series(view, correlated, targets, "pearson", colours)
    r_chart = bar_chart(
        [t.name for t in targets],
        series,
        title="Pearson r with the client's rating",
        ylabel="Pearson r",
        width=max(520, 110 * len(targets) + 80),
        height=320,
    )
    r_legend = legend(series, max(520, 110 * len(targets) + 80))
    main = [t for t in targets if t.kind != "item"]
    error_rows = [s for s in view.systems if s.error_metrics]
    mae_series = _series(view, error_rows, main, "mae", colours)
    mae_chart = bar_chart(
        [t.name for t in main],
        mae_series,
        title=f"MAE on the {evaluation.instrument.scale.min}-{evaluation.instrument.scale.max} "
        "scale (lower is better)",
        ylabel="MAE",
        width=max(440, 110 * len(main) + 80),
        height=320,
    )
    mae_legend = legend(mae_series, max(440, 110 * len(main) + 80))
    return (
        f"<div>{r_chart}{r_legend}</div>",
        f"<div>{mae_chart}{mae_legend}</div>",
    )


def _plotted(view: EvaluationView) -> list[SystemPredictions]:
    """The rows drawn in the per-session charts: systems and the length-only baseline."""
    return [s for s in view.systems if s.kind == "system" or s.name == "baseline/length"]


def _scatter_grid(evaluation: Evaluation, view: EvaluationView, colours: dict[str, str]) -> str:
    parts = []
    for system in _plotted(view):
        pred = system.values.reindex(view.session_ids)
        panels = []
        for target in evaluation.headline_targets:
            r, _, _ = _value(view, system.name, target.key, "pearson")
            panels.append(
                scatter_plot(
                    view.truth[target.key].to_numpy(),
                    pred[target.key].to_numpy(),
                    scale=target.scale,
                    title=f"{target.name}: r = {_fmt(r, 2)}",
                    colour=colours[system.name],
                )
            )
        parts.append(
            f'<div class="row-label">{escape(system.name)}</div>'
            f'<div class="charts">{"".join(panels)}</div>'
        )
    return "".join(parts)


def _calibration(evaluation: Evaluation, view: EvaluationView, colours: dict[str, str]) -> str:
    shown = _plotted(view)
    panels = []
    series_for_legend = []
    for system in shown:
        series_for_legend.append(
            Series(system.name, colours[system.name], [], dashed=system.kind != "system")
        )
    calibration = view.calibration()
    for target in evaluation.headline_targets:
        curves = []
        for system in shown:
            curve = calibration[system.name][target.key]
            xs, ys = curve["mean_predicted"], curve["mean_client"]
            curves.append(
                (Series(system.name, colours[system.name], ys, dashed=system.kind != "system"), xs)
            )
        panels.append(line_plot(curves, scale=target.scale, title=target.name))
    return (
        f'<div class="charts">{"".join(panels)}</div>'
        f"{legend(series_for_legend, 900, marker='line')}"
    )


def _distributions(evaluation: Evaluation, view: EvaluationView, colours: dict[str, str]) -> str:
    shown = _plotted(view)
    panels = []
    for target in evaluation.headline_targets:
        overlays = [
            Series(
                system.name,
                colours[system.name],
                system.values.reindex(view.session_ids)[target.key].to_numpy(),
                dashed=system.kind != "system",
            )
            for system in shown
        ]
        bins = 10 if target.scale[1] - target.scale[0] <= 10 else 20
        panels.append(
            histogram(
                view.truth[target.key].to_numpy(),
                overlays,
                scale=target.scale,
                title=target.name,
                bins=bins,
            )
        )
    legend_series = [Series("client's ratings", "#CFCFCF", [])] + [
        Series(s.name, colours[s.name], [], dashed=s.kind != "system") for s in shown
    ]
    return (
        f'<div class="charts">{"".join(panels)}</div>'
        f"{legend(legend_series[:1], 200)}{legend(legend_series[1:], 900, marker='line')}"
    )


def _detail_table(evaluation: Evaluation, view: EvaluationView, colours: dict[str, str]) -> str:
    parts = []
    for target in evaluation.headline_targets:
        fold_rows = any(target.key in view.folds.get(s.name, {}) for s in view.systems)
        head = "".join(f"<th>{metric_label(m)}</th>" for m in HEADLINE_METRICS)
        if fold_rows:
            head += "<th>r over folds<br>mean ± SD</th><th>MSE over folds<br>mean ± SD</th>"
        rows = []
        for system in view.systems:
            cells = "".join(_cell(view, system.name, target.key, m) for m in HEADLINE_METRICS)
            if fold_rows:
                entry = view.folds.get(system.name, {}).get(target.key)
                for metric in ("pearson", "mse"):
                    if (
                        entry
                        and metric in entry
                        and math.isfinite(entry[metric]["mean"] or math.nan)
                    ):
                        cells += (
                            f"<td>{_fmt(entry[metric]['mean'])} ± {_fmt(entry[metric]['sd'])}"
                            f"<br><small>{entry['n_folds']} folds</small></td>"
                        )
                    else:
                        cells += "<td>–</td>"
            rows.append(f"<tr>{_name_cell(system, colours)}{cells}</tr>")
        parts.append(
            f"<h3>{escape(target.name)} <small>({escape(target.kind)}, scale "
            f"{target.scale[0]:g}-{target.scale[1]:g})</small></h3>"
            f"<table><tr><th>system</th>{head}</tr>{''.join(rows)}</table>"
        )
    return "".join(parts)


def _items_table(evaluation: Evaluation, view: EvaluationView) -> str:
    shown = [s for s in view.systems if s.kind != "human"]
    metrics = ("exact_accuracy", "within_one_accuracy", "rounded_mae", "mae", "pearson")
    head = "".join(f'<th colspan="{len(metrics)}">{escape(s.name)}</th>' for s in shown)
    sub = "".join(f"<th>{metric_label(m)}</th>" for _ in shown for m in metrics)
    rows = []
    for target in evaluation.item_targets:
        cells = "".join(
            f"<td>{_fmt(_value(view, s.name, target.key, m)[0], 2)}</td>"
            for s in shown
            for m in metrics
        )
        rows.append(
            f"<tr><td>{escape(target.name)}<br><small>{target.scale[0]:g}-"
            f"{target.scale[1]:g}</small></td>{cells}</tr>"
        )
    main = (float(evaluation.instrument.scale.min), float(evaluation.instrument.scale.max))
    means = item_means(view, evaluation.targets, main)
    mean_cells = "".join(
        f"<td><b>{_fmt(means.get(s.name, {}).get(m, math.nan), 2)}</b></td>"
        for s in shown
        for m in metrics
    )
    rows.append(f"<tr><td><b>mean over the main-scale items</b></td>{mean_cells}</tr>")
    return f'<table><tr><th rowspan="2">item</th>{head}</tr><tr>{sub}</tr>{"".join(rows)}</table>'


def _distinctness_table(view: EvaluationView) -> str:
    correlations = view.dimension_correlations()
    if not correlations:
        return ""
    pairs = list(correlations["clients"])
    head = "".join(f"<th>{escape(pair.replace('~', ' ~ '))}</th>" for pair in pairs)
    labels = {"clients": "clients' ratings"}
    rows = "".join(
        f'<tr><td class="l">{escape(labels.get(row, row))}</td>'
        + "".join(f"<td>{_fmt(values.get(pair, math.nan), 2)}</td>" for pair in pairs)
        + "</tr>"
        for row, values in correlations.items()
    )
    return (
        "<h3>Distinctness of the dimensions</h3>"
        '<p class="caption">Pearson r between dimension scores on the same sessions. Far '
        "higher than the clients' row means the dimensions measure one general appraisal."
        f'</p><table><tr><th class="l">row</th>{head}</tr>{rows}</table>'
    )


def _paired_table(view: EvaluationView) -> str:
    if not view.paired:
        return "<p>No paired tests (they need at least one system and one other row).</p>"
    rows = "".join(
        "<tr>"
        f'<td>{escape(p["a"])}</td><td class="l">{escape(p["b"])}</td>'
        f'<td class="l">{escape(p["target"])}</td>'
        f'<td class="l">{escape(metric_label(p["metric"]))}</td>'
        f"<td>{_fmt(p['delta'])}<br><small>[{_fmt(p['ci_low'])}, {_fmt(p['ci_high'])}]"
        f'</small></td><td>{_fmt(p["p_value"], 4)}</td><td class="l">{escape(p["verdict"])}</td>'
        "</tr>"
        for p in view.paired
    )
    return (
        '<table><tr><th>A</th><th class="l">B</th><th class="l">score</th>'
        '<th class="l">metric</th><th>A − B [CI]</th>'
        f'<th>p</th><th class="l">verdict</th></tr>{rows}</table>'
    )


def _view_html(evaluation: Evaluation, view: EvaluationView) -> str:
    colours = _colours(view.systems)
    targets = evaluation.headline_targets
    r_bars, mae_bars = _bars(evaluation, view, colours)
    confidence = f"{evaluation.settings['confidence']:.0%}"
    parts = [
        f'<section id="view-{escape(view.name)}">',
        f"<h2>{escape(view.title)}</h2>",
        f'<p class="lead">{escape(view.description[:1].upper() + view.description[1:])}. '
        f"{len(view.session_ids)} sessions of {view.n_clients} clients, the same for every "
        "row.</p>",
        f"<h3>Pearson r [{confidence} CI] with the client's ratings</h3>",
        _headline_table(view, targets, "pearson", colours),
        f"<h3>MAE [{confidence} CI], on each score's own scale</h3>",
        _headline_table(view, targets, "mae", colours),
        "<h3>Agreement per score, with intervals</h3>",
        f'<div class="charts">{r_bars}{mae_bars}</div>',
        '<p class="caption">Whiskers: the bootstrap intervals. The mean-rating baseline is '
        "left out of the correlation chart (its correlations are not meaningful).</p>",
    ]
    if _plotted(view):
        parts += [
            "<h3>Predicted against client rating</h3>",
            '<p class="caption">One point per session; dashed: perfect agreement; solid: '
            "least-squares line.</p>",
            _scatter_grid(evaluation, view, colours),
            "<h3>Calibration</h3>",
            '<p class="caption">Mean client rating per decile of predictions (fewer bins '
            "for small samples); on the dashed diagonal a prediction means what it says. "
            "Dashed curves are reference rows.</p>",
            _calibration(evaluation, view, colours),
        ]
    parts += [
        "<h3>Distribution of ratings</h3>",
        '<p class="caption">Grey bars: the clients\' ratings; lines: the predicted scores '
        "over the same bins.</p>",
        _distributions(evaluation, view, colours),
        "<details open><summary>Every metric of the headline scores</summary>",
        _detail_table(evaluation, view, colours),
        "</details>",
        "<details><summary>Every item (predictions rounded half up and clipped to the "
        "item's scale for exact, within ±1 and rounded MAE)</summary>",
        _items_table(evaluation, view),
        "</details>",
        _distinctness_table(view),
        f"<details{' open' if len(view.paired) <= 24 else ''}><summary>Paired bootstrap tests "
        f"({len(view.paired)})</summary>",
        '<p class="caption">A − B on the same resamples; for errors a negative difference '
        "means A is better. Verdict at the "
        f"{1 - evaluation.settings['confidence']:.2g} level.</p>",
        _paired_table(view),
        "</details>",
    ]
    parts += [f'<p class="note">{escape(note)}</p>' for note in view.notes]
    parts.append("</section>")
    return "".join(parts)


def _rationales_html(rationales: dict[str, Any]) -> str:
    rows = []
    variants: dict[str, str] = {}
    for system, entry in rationales.items():
        faith = entry.get("quote_faithfulness", {})
        variants["quote faithfulness"] = faith.get("variant", "")
        references = entry.get("against_references")
        if references is None:
            scored = "no reference rationales given"
        else:
            cells = []
            for language, result in references.items():
                for name, metric in result.get("metrics", {}).items():
                    variants[f"{name} ({language})"] = metric["variant"]
                cells.append(
                    f"{escape(language)}: "
                    + ", ".join(
                        f"{escape(name)} {_fmt(m['value'])}"
                        for name, m in result.get("metrics", {}).items()
                    )
                    + f" (n={result.get('n')})"
                )
            scored = "<br>".join(cells) or escape(entry.get("note", "no pairs"))
        unmatched = faith.get("unmatched") or []
        example = (
            f"<br><small>not found, e.g.: {escape(repr(unmatched[0]))}</small>" if unmatched else ""
        )
        rows.append(
            f"<tr><td>{escape(system)}</td><td>{entry.get('n_rationales', 0)}</td>"
            f"<td>{_fmt(faith.get('share', math.nan))} ({faith.get('n_found', 0)} of "
            f"{faith.get('n_quotes', 0)}){example}</td><td>{scored}</td></tr>"
        )
    variant_list = "".join(
        f"<li><b>{escape(name)}</b>: {escape(text)}</li>" for name, text in variants.items()
    )
    return (
        "<section><h2>Rationales</h2>"
        "<table><tr><th>system</th><th>rationales</th><th>quotes found verbatim</th>"
        f"<th>against reference rationales</th></tr>{''.join(rows)}</table>"
        f"<p>Exact variants:</p><ul>{variant_list}</ul></section>"
    )


def render_html(evaluation: Evaluation, title: str | None = None) -> str:
    """The whole report as one self-contained HTML document (inline SVG, no scripts)."""
    instrument = evaluation.instrument
    gold = evaluation.gold
    title = title or f"Evaluation on {instrument.name}"
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")  # noqa: UP017
    definitions = "".join(
        f"<li><b>{escape(metric_label(k))}</b> (<code>{k}</code>): {escape(v)}.</li>"
        for k, v in metric_definitions().items()
    )
    sections = "".join(_view_html(evaluation, view) for view in evaluation.views.values())
    notes = "".join(f'<p class="note">{escape(note)}</p>' for note in evaluation.notes)
    rationales = _rationales_html(evaluation.rationales) if evaluation.rationales else ""
    has_mean = any(
        s.name == "baseline/mean-rating" for v in evaluation.views.values() for s in v.systems
    )
    dagger = (
        "<p>† The mean-rating baseline predicts one value per fold: its correlations only "
        "reflect differences between the folds' training means.</p>"
        if has_mean
        else ""
    )
    source = f" ({escape(str(gold['source']))})" if gold.get("source") else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="lead">Instrument <code>{escape(instrument.id)}</code>. Gold: '
        f"{gold['n_rated']} sessions of {gold['n_clients']} clients rated by their "
        f"client{source}. Intervals: {escape(evaluation.interval_text())}. Made by care "
        f"{escape(__version__)} on {generated}; predictions were read from files, no model "
        "was queried.</p>"
        f"{notes}{sections}{coverage_html(evaluation.trust)}{rationales}"
        f"<section><h2>Metric definitions</h2><ul>{definitions}"
        f"<li><b>Intervals</b>: {escape(evaluation.interval_text())}.</li></ul>{dagger}"
        "</section></body></html>\n"
    )


def write_reports(evaluation: Evaluation, out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.html``, ``report.md`` and ``report.json`` into ``out_dir``.

    Returns:
        ``{"html": path, "markdown": path, "json": path}``.
    """
    folder = check_output_dir(out_dir)
    paths = {
        "html": folder / "report.html",
        "markdown": folder / "report.md",
        "json": folder / "report.json",
    }
    write_text_atomic(paths["html"], render_html(evaluation))
    write_text_atomic(paths["markdown"], evaluation_markdown(evaluation, full=True))
    write_text_atomic(paths["json"], evaluation.to_json() + "\n")
    return paths
