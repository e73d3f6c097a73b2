"""``care calibrate``: fit prediction intervals for any assessor on a rated calibration set."""

from __future__ import annotations

from pathlib import Path

import click

from care.cli.options import input_options, loader_arguments
from care.errors import DataError, ParameterError

MIN_SESSIONS = 20
"""Fewer rated sessions than this cannot bound a 90% interval usefully."""


@click.command()
@click.option(
    "--gold",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="Rated calibration sessions (any format care reads), with the clients' ratings; "
    "repeatable. Sessions like the ones you will assess, not used to train the model.",
)
@click.option(
    "--pred",
    required=True,
    type=click.Path(path_type=Path),
    help="The assessor's results on those sessions (`care assess --out`, or a run store "
    "with one run).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the calibration (JSON), for `care assess --calibration`.",
)
@click.option(
    "--level",
    default=0.9,
    show_default=True,
    type=click.FloatRange(0.5, 0.999),
    help="The level at which adaptive and constant-width intervals are compared (any level "
    "can be asked for at `care assess`).",
)
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2, 20))
@click.option("--seed", default=0, show_default=True, type=int)
@input_options
def calibrate(
    gold: tuple[Path, ...],
    pred: Path,
    out: Path,
    level: float,
    folds: int,
    seed: int,
    **options: object,
) -> None:
    """Fit split-conformal intervals, reference percentiles and a domain check on rated
    sessions and an assessor's results on them.

    The residuals between the clients' ratings and the results calibrate the intervals
    (for language models, the probability-weighted expected score of each item where the
    results carry option probabilities). Adaptive intervals, wider for sessions whose
    length profile predicts larger errors, are kept only where they are narrower at equal
    coverage on held-out folds of clients. Apply with `care assess --calibration OUT`.
    """
    import numpy as np

    from care.assessors.base import rating_matrix
    from care.assessors.trust import PROFILE_NAMES, TrustModel, point_values
    from care.assessors.trust_report import format_trust_report
    from care.data.io import load_corpus
    from care.evaluate.predictions import read_predictions
    from care.features.profile import profile_matrix
    from care.instruments import get_instrument
    from care.stats import fold_assignments

    runs = read_predictions(pred, option="--pred")
    if len(runs) != 1:
        raise ParameterError(
            f"{pred} holds {len(runs)} runs; calibrate one assessor at a time",
            field="--pred",
            fix="give a results file of one model (care assess --out)",
        )
    name, assessments = runs[0]
    models = {assessment.model for assessment in assessments}
    if len(models) != 1:
        raise DataError(
            f"the results come from {len(models)} models ({', '.join(sorted(models))})",
            file=str(pred),
            fix="calibrate the results of one model at a time",
        )
    instrument = get_instrument(assessments[0].instrument)
    corpus = load_corpus(list(gold), **loader_arguments(**options))  # type: ignore[arg-type]
    sessions, truth = rating_matrix(corpus, instrument, "client")
    by_session = assessments.by_session()
    paired = [k for k, session in enumerate(sessions) if session.id in by_session]
    if len(paired) < MIN_SESSIONS:
        raise DataError(
            f"only {len(paired)} rated sessions have results (at least {MIN_SESSIONS} are "
            "needed, a few hundred for stable 90% intervals)",
            file=str(pred),
            fix="assess the rated calibration sessions with the model (care assess --out) "
            "and give those results",
        )
    sessions = [sessions[k] for k in paired]
    item_ids = [item.id for item in instrument.items]
    predicted = np.array(
        [
            [point_values(by_session[s.id]).get(item_id, np.nan) for item_id in item_ids]
            for s in sessions
        ]
    )
    groups = [session.client_id or f"session:{session.id}" for session in sessions]
    n_splits = min(folds, len(set(groups)))
    if n_splits < 2:
        raise DataError(
            "all calibration sessions come from one client",
            field="client_id",
            fix="calibrate on sessions of several clients",
        )
    trust = TrustModel.fit(
        instrument,
        item_ids,
        truth[paired],
        predicted,
        profile_matrix(sessions),
        list(PROFILE_NAMES),
        fold_assignments(groups, n_splits=n_splits, seed=seed),
        source=f"care calibrate on {len(sessions)} rated sessions of {len(set(groups))} clients",
        model=next(iter(models)),
        level=level,
    )
    trust.save(out)
    click.echo(format_trust_report(trust))
    click.echo(f"wrote the calibration of {name} to {out}")


COMMANDS = [calibrate]
