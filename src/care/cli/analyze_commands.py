"""``care analyze``: what drives alliance across a corpus."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from care.cli.options import input_options, loader_arguments
from care.cli.paths import OUTPUT_DIR
from care.errors import DataError, ParameterError
from care.results import Assessments
from care.results_io import is_run_store

if TYPE_CHECKING:
    from care.analyze.ppi_corpus import RatedSample


def _read_results(path: Path, model: str | None) -> Assessments:
    """A results file (``care assess --out``) or a run store (``--store``), evidence kept."""
    assessments = Assessments.read(path, model=model, option="--results")
    models = sorted({a.model for a in assessments})
    if model is None and len(models) > 1 and is_run_store(path):
        raise ParameterError(
            f"the run store holds results of several models: {', '.join(models)}",
            file=str(path),
            field="--model",
            fix="choose one with --model",
        )
    return assessments


def _rated_sample(
    path: Path, assessments: Assessments, built_in: bool, loading: dict[str, Any]
) -> RatedSample:
    """The --rated sessions with their predictions: from the results, or (without
    --results) assessed now with the built-in model where they are not analysed ones."""
    from care.analyze.ppi_corpus import RatedSample
    from care.data import Corpus, load_corpus

    rated = list(load_corpus([path], **loading))
    known = assessments.by_session()
    missing = [session for session in rated if session.id not in known]
    found = Assessments(known[session.id] for session in rated if session.id in known)
    if missing and not built_in:
        raise DataError(
            f"{len(missing)} of the {len(rated)} rated sessions have no result in --results "
            "(joined by session id)",
            file=str(path),
            fix="assess the rated sessions with the same assessor and add their results to "
            "the --results file",
        )
    if missing:
        from care.assessors.lite import LiteAssessor

        click.echo(
            f"assessing {len(missing)} rated sessions with the built-in model (care-lite)",
            err=True,
        )
        for result in LiteAssessor().assess(Corpus(missing)):
            found.append(result)
    return RatedSample(rated, found)


def _labels(value: str | None) -> tuple[str | None, str | None] | None:
    if value is None:
        return None
    counselor, _, client = value.partition(",")
    if not counselor.strip():
        raise ParameterError(
            f"--labels expects COUNSELOR_KEY[,CLIENT_KEY], got {value!r}",
            field="--labels",
            fix="write for example --labels behaviour,talk_type or --labels strategy",
        )
    return counselor.strip(), client.strip() or None


@click.command()
@click.argument("sessions", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--results",
    type=click.Path(path_type=Path),
    default=None,
    help="Results of any assessor: a `care assess --out` file or a run store (--store). "
    "Default: assess the sessions now with the built-in model.",
)
@click.option("--model", "model_name", default=None, help="Run stores: the model to analyze.")
@click.option(
    "--trajectories",
    default=20,
    show_default=True,
    type=click.IntRange(0, 100000),
    help="Sessions (drawn at random) whose within-session trajectory is computed; 0: none.",
)
@click.option(
    "--window-every",
    default=10,
    show_default=True,
    type=click.IntRange(1, 100000),
    help="Turns between windows of a within-session trajectory.",
)
@click.option(
    "--drop-threshold",
    default=0.15,
    show_default=True,
    type=click.FloatRange(0, None),
    help="Smallest fall of a score between windows that is flagged as a drop.",
)
@click.option(
    "--labels",
    default=None,
    metavar="COUNSELOR_KEY[,CLIENT_KEY]",
    help="Turn meta keys of counselor and client labels for the interaction patterns; "
    "default: found in the data (strategy, behaviour / talk_type, ...).",
)
@click.option(
    "--target",
    default="total",
    show_default=True,
    help="Score regressed on the interaction patterns: total or a dimension.",
)
@click.option("--themes", "n_themes", default=8, show_default=True, type=click.IntRange(2, 50))
@click.option("--bootstrap", default=1000, show_default=True, type=click.IntRange(100, 100000))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--rated",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="Sessions with the clients' ratings (a random subset of SESSIONS or a sample of "
    "the same population): prediction-powered estimates of the corpus means, counselor means "
    "and pattern coefficients beside the naive and rated-only ones.",
)
@click.option(
    "--ci-level",
    default=0.95,
    show_default=True,
    type=click.FloatRange(0.5, 0.999),
    help="Coverage of the --rated intervals.",
)
@click.option(
    "--min-rated",
    default=20,
    show_default=True,
    type=click.IntRange(2, None),
    help="Fewest rated sessions for a counselor's --rated estimate.",
)
@click.option(
    "--out-dir",
    type=OUTPUT_DIR,
    default=Path("analysis"),
    show_default=True,
    help="Where report.html, analysis.json and one CSV per table are written.",
)
@input_options
def analyze(
    sessions: tuple[Path, ...],
    results: Path | None,
    model_name: str | None,
    trajectories: int,
    window_every: int,
    drop_threshold: float,
    labels: str | None,
    target: str,
    n_themes: int,
    bootstrap: int,
    seed: int,
    rated: Path | None,
    ci_level: float,
    min_rated: int,
    out_dir: Path,
    input_format: str | None,
    encoding: str | None,
    speakers: tuple[str, ...],
    language: str | None,
    merge_consecutive: bool,
    columns: tuple[str, ...],
) -> None:
    """Analyze a corpus: score distributions, counselor profiles, client trajectories,
    within-session dynamics, interaction patterns and themes of low alliance."""
    from care.analyze.ppi_html import ppi_summary
    from care.analyze.report import analyze as run_analysis
    from care.analyze.report import write_analysis
    from care.data import load_corpus

    label_keys = _labels(labels)
    loading = loader_arguments(
        input_format, encoding, speakers, language, merge_consecutive, columns
    )
    corpus = load_corpus(list(sessions), **loading)
    if results is None:
        from care.assessors.lite import LiteAssessor

        click.echo(
            f"No --results given: assessing {len(corpus)} sessions with the built-in model "
            "(care-lite).",
            err=True,
        )
        assessments = LiteAssessor().assess(corpus)
    else:
        assessments = _read_results(results, model_name)
    table_scores = {"total", *assessments[0].dimension_scores()} if len(assessments) else set()
    if target not in table_scores:
        raise ParameterError(
            f"--target must be one of {', '.join(sorted(table_scores))}, got {target!r}",
            field="--target",
            fix="name total or a dimension of the instrument",
        )
    rated_sample = (
        None if rated is None else _rated_sample(rated, assessments, results is None, loading)
    )
    analysis = run_analysis(
        list(corpus),
        assessments,
        trajectories=trajectories,
        window_every=window_every,
        drop_threshold=drop_threshold,
        labels=label_keys,
        target=target,
        n_themes=n_themes,
        n_resamples=bootstrap,
        seed=seed,
        rated=rated_sample,
        ci_level=ci_level,
        min_rated=min_rated,
    )
    paths = write_analysis(analysis, out_dir)
    n_counselors = analysis.profiles["counselor_id"].nunique() if len(analysis.profiles) else 0
    n_windowed = analysis.windows["session_id"].nunique() if len(analysis.windows) else 0
    click.echo(
        f"{len(analysis.sessions)} sessions, {n_counselors} counselor profiles, "
        f"{len(analysis.drops)} drops in {n_windowed} "
        f"trajectories, {len(analysis.themes.themes)} themes"
    )
    for note in analysis.patterns.notes:
        click.echo(f"patterns: {note}")
    if analysis.ppi is not None:
        for line in ppi_summary(analysis.ppi):
            click.echo(line)
    click.echo(f"wrote {paths['html']} and tables in {out_dir}")


COMMANDS = [analyze]
