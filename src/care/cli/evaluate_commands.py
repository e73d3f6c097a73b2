"""``care evaluate``: how well do predictions agree with what the clients said?"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from care.cli.options import input_options, loader_arguments
from care.cli.paths import OUTPUT_DIR
from care.errors import ParameterError
from care.stats.metrics import METRICS

# The metrics' names, for --paired-metric (care.stats.metrics needs numpy only, so
# starting the command line does not import pandas or scipy).
METRIC_NAMES = tuple(METRICS)


def _named(values: tuple[str, ...], option: str) -> list[tuple[str | None, Path]]:
    """``[NAME=]PATH`` values as (name or None, path)."""
    out: list[tuple[str | None, Path]] = []
    for value in values:
        name, sep, rest = value.partition("=")
        if sep and name.strip() and rest and not Path(value).exists():
            out.append((name.strip(), Path(rest)))
        elif not value.strip():
            raise ParameterError(
                "an empty value was given", field=option, fix=f"write {option} RESULTS.jsonl"
            )
        else:
            out.append((None, Path(value)))
    return out


def _read_systems(
    entries: list[tuple[str | None, Path]], instrument: str | None, option: str
) -> tuple[dict, dict[str, str], str | None]:
    """Read results files and run stores; return name -> assessments, name -> file, and
    the instrument (that of the first file when not given)."""
    from care.evaluate.predictions import read_predictions

    systems: dict = {}
    sources: dict[str, str] = {}
    for given, path in entries:
        runs = read_predictions(path, instrument, option=option)
        instrument = instrument or runs[0][1][0].instrument
        for found, assessments in runs:
            name = found if given is None else given if len(runs) == 1 else f"{given}/{found}"
            base, number = name, 2
            while name in systems:
                name = f"{base} ({path.name})" if number == 2 else f"{base} #{number}"
                number += 1
            systems[name] = assessments
            sources[name] = str(path)
    return systems, sources, instrument


@click.command()
@click.option(
    "--gold",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="Sessions with the clients' ratings (any format care reads); repeatable. Counselor "
    "and observer ratings in them become reference rows.",
)
@click.option(
    "--pred",
    "preds",
    multiple=True,
    metavar="[NAME=]RESULTS",
    help="A system's predictions: a results file (`care assess --out`, JSON Lines) or a run "
    "store (SQLite; one system per run in it); repeatable. NAME= names the system "
    "(default: the model recorded in the file).",
)
@click.option(
    "--pred-cut",
    "pred_cuts",
    multiple=True,
    metavar="[NAME=]RESULTS",
    help="Results made on sessions cut before their closing turns (e.g. `care assess --cut`), "
    "for the process-only view; repeatable.",
)
@click.option(
    "--cut-end",
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    default=None,
    help="Add the process-only view: every session cut before its last CUT_END of turns "
    "(0.2 keeps the first 80%). Baselines are refitted on the cut sessions; systems need "
    "--pred-cut results (evaluation never re-queries a model). Default: taken from the "
    "--pred-cut results' meta.cut.",
)
@click.option(
    "--folds",
    "folds_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Session-to-fold file (CSV with session_id,fold columns, or JSON) for per-fold mean "
    "± SD; default: meta.fold in the results, where every record has one.",
)
@click.option(
    "--instrument",
    default=None,
    help="Instrument to score (id or YAML/JSON file); default: that of the predictions.",
)
@click.option(
    "--out-dir",
    type=OUTPUT_DIR,
    default=None,
    help="Write report.html (self-contained, with plots), report.md and report.json here. "
    "Without it, the Markdown headline tables are printed.",
)
@click.option(
    "--resamples",
    default=1000,
    show_default=True,
    type=click.IntRange(0),
    help="Bootstrap resamples per interval and paired test (0: no intervals).",
)
@click.option(
    "--confidence",
    default=0.95,
    show_default=True,
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    help="Coverage of the intervals.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed.")
@click.option(
    "--bootstrap-unit",
    type=click.Choice(["client", "session"]),
    default="client",
    show_default=True,
    help="Resample whole clients (cluster bootstrap) or single sessions.",
)
@click.option(
    "--baseline-folds",
    default=5,
    show_default=True,
    type=click.IntRange(2, 100),
    help="Folds of the baselines' client-grouped cross-validation when the systems' folds "
    "are unknown.",
)
@click.option(
    "--paired-metric",
    "paired_metrics",
    multiple=True,
    type=click.Choice(METRIC_NAMES),
    default=("pearson", "mse"),
    show_default=True,
    help="Metric compared by the paired bootstrap tests; repeatable.",
)
@click.option(
    "--reference-rationales",
    type=click.Path(path_type=Path),
    default=None,
    help="Reference rationales (JSON Lines with session_id and rationales {dimension: text}; "
    "a results file works) for BLEU, ROUGE and BERTScore of the systems' rationales.",
)
@click.option(
    "--bertscore-model",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of a locally saved Hugging Face encoder for BERTScore (needs "
    "care-alliance[bertscore]); nothing is downloaded. Default: no BERTScore.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report instead.")
@input_options
def evaluate(
    gold: tuple[Path, ...],
    preds: tuple[str, ...],
    pred_cuts: tuple[str, ...],
    cut_end: float | None,
    folds_file: Path | None,
    instrument: str | None,
    out_dir: Path | None,
    resamples: int,
    confidence: float,
    seed: int,
    bootstrap_unit: str,
    baseline_folds: int,
    paired_metrics: tuple[str, ...],
    reference_rationales: Path | None,
    bertscore_model: Path | None,
    as_json: bool,
    **options: object,
) -> None:
    """Compare systems' predictions with the clients' own ratings, with reference rows.

    Scores every item, dimension and the total with Pearson r, Spearman rho, MSE and MAE,
    each with a bootstrap 95% CI over resampled clients; per item also exact accuracy,
    accuracy within 1 and the MAE of rounded predictions. Beside the systems: the
    mean-rating and length-only baselines (cross-validated on the gold sessions, grouped by
    client) and, where the gold data have them, the counselor's and observers' ratings.
    Paired bootstrap tests compare each system with the others and the baselines.

    \b
        care evaluate --gold rated.jsonl --pred lite=lite.jsonl --pred llm=llm.jsonl \\
            --pred-cut lite=lite-cut.jsonl --cut-end 0.2 --out-dir report/
    """
    from care.data.io import load_corpus
    from care.evaluate.html import write_reports
    from care.evaluate.markdown import evaluation_markdown
    from care.evaluate.predictions import read_folds, read_rationale_references
    from care.evaluate.report import evaluate as run_evaluation
    from care.instruments import get_instrument

    if not preds and not pred_cuts:
        raise ParameterError(
            "no predictions given",
            field="--pred",
            fix="pass a results file written by `care assess --out` with --pred",
        )
    if bertscore_model is not None and reference_rationales is None:
        raise ParameterError(
            "BERTScore compares rationales with references, but no references were given",
            field="--bertscore-model",
            fix="add --reference-rationales FILE, or leave out --bertscore-model",
        )
    console = Console(stderr=True)
    wanted = get_instrument(instrument).id if instrument else None
    systems, sources, wanted = _read_systems(_named(preds, "--pred"), wanted, "--pred")
    cut_systems, cut_sources, wanted = _read_systems(
        _named(pred_cuts, "--pred-cut"), wanted, "--pred-cut"
    )
    folds = read_folds(folds_file) if folds_file is not None else None
    references = (
        read_rationale_references(reference_rationales)
        if reference_rationales is not None
        else None
    )
    corpus = load_corpus(list(gold), **loader_arguments(**options))  # type: ignore[arg-type]
    with console.status("evaluating"):
        evaluation = run_evaluation(
            corpus,
            systems,
            instrument=wanted,
            cut_end=cut_end,
            cut_predictions=cut_systems or None,
            folds=folds,
            n_resamples=resamples,
            confidence=confidence,
            seed=seed,
            n_splits=baseline_folds,
            bootstrap_unit=bootstrap_unit,  # type: ignore[arg-type]
            paired_metrics=paired_metrics,
            reference_rationales=references,
            bertscore_model=bertscore_model,
            sources={**sources, **cut_sources},
            gold_source=", ".join(str(path) for path in gold),
        )
    if as_json:
        click.echo(evaluation.to_json())
    else:
        click.echo(evaluation_markdown(evaluation, full=False), nl=False)
    if out_dir is not None:
        paths = write_reports(evaluation, out_dir)
        console.print(f"wrote {', '.join(str(path) for path in paths.values())}")


COMMANDS = [evaluate]
