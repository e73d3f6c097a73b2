"""``care train lite``: train the built-in kind of model on your own rated sessions."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np
from rich.console import Console

from care import __version__
from care.cli.options import input_options, loader_arguments, rated_data_option
from care.cli.paths import OUTPUT_DIR, OUTPUT_FILE
from care.cli.train_sft_commands import sft
from care.data.corpus import Corpus
from care.errors import ParameterError
from care.output import write_text_atomic

if TYPE_CHECKING:
    from care.assessors.lite.fit import CrossValidation
    from care.assessors.lite.model import LiteConfig
    from care.instruments import Instrument


@click.group()
def train() -> None:
    """Train models on rated sessions."""


train.add_command(sft)


@train.command("merge")
@click.option("--base", required=True, help="Base model the adapter was trained on.")
@click.option(
    "--adapter", required=True, type=click.Path(path_type=Path), help="LoRA adapter directory."
)
@click.option("--out", required=True, type=OUTPUT_DIR, help="Where to write the model.")
def merge(base: str, adapter: Path, out: Path) -> None:
    """Merge a LoRA adapter into BASE; assess with `care assess --model transformers/OUT`."""
    from care.train.merge import merge_adapter

    merge_adapter(base, adapter, out)
    click.echo(
        f"wrote the merged model to {out}; assess with: care assess --model transformers/{out}"
    )


@train.command("lite")
@rated_data_option
@click.option(
    "--instrument",
    default="kokorochat-feedback",
    show_default=True,
    help="Instrument whose client ratings the model learns (id or YAML/JSON file).",
)
@click.option(
    "--out",
    type=OUTPUT_FILE,
    required=True,
    help="Where to write the model (.npz).",
)
@click.option(
    "--cut",
    type=click.FloatRange(0.1, 1.0, min_open=False),
    default=None,
    help="Train on the first CUT fraction of each session's turns (e.g. 0.8): a model for "
    "sessions assessed before their end.",
)
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2, 20))
@click.option(
    "--no-cv",
    is_flag=True,
    help="Skip cross-validation (no calibration, no report, and so no intervals, "
    "percentiles or domain check in the model).",
)
@click.option("--alpha", default=3.0, show_default=True, type=click.FloatRange(min=0.0))
@click.option("--min-df", default=3, show_default=True, type=click.IntRange(1))
@click.option("--max-features", default=40000, show_default=True, type=click.IntRange(100))
@click.option("--seed", default=123, show_default=True, type=int)
@click.option(
    "--tokenizer",
    type=click.Choice(["1", "2"]),
    default="2",
    show_default=True,
    help="1: words (English) or Han characters (Chinese) only; 2: also punctuation marks and "
    "the bigrams that open and close each turn.",
)
@click.option(
    "--tfidf-baseline/--no-tfidf-baseline",
    default=True,
    show_default=True,
    help="Also cross-validate the plain TF-IDF baseline (client and counselor n-grams plus "
    "length) on the same folds, and report it beside the model (about half as much time "
    "again).",
)
@click.option(
    "--report",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the cross-validation report as JSON.",
)
@click.option(
    "--cv-out",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the cross-validated (out-of-fold, calibrated) predictions as results "
    "JSON Lines, each with its fold, for `care evaluate`.",
)
@click.option("--name", default=None, help="Model name recorded with results.")
@input_options
def train_lite(
    data: tuple[Path, ...],
    instrument: str,
    out: Path,
    cut: float | None,
    folds: int,
    no_cv: bool,
    alpha: float,
    min_df: int,
    max_features: int,
    seed: int,
    tokenizer: str,
    tfidf_baseline: bool,
    report: Path | None,
    cv_out: Path | None,
    name: str | None,
    **options: object,
) -> None:
    """Train a built-in-style model (TF-IDF blocks + length, ridge) on client ratings.

    Runs K-fold cross-validation grouped by client first (unless --no-cv), prints Pearson r
    with cluster-bootstrap 95% CIs beside the plain TF-IDF and length-only baselines on the
    same folds, calibrates the outputs
    on the cross-validated predictions, then fits on all sessions. The shipped models are
    reproduced by:

    \b
        care train lite --data ../shared/data/kokorochat/kokorochat_english.jsonl.gz
        --out care-lite-en.npz
    """
    from care.assessors.lite.conformal import cross_validate_with_signals, fit_lite_trust
    from care.assessors.lite.fit import calibrated
    from care.assessors.lite.fit import train as train_model
    from care.assessors.lite.model import LiteConfig
    from care.assessors.trust_report import format_trust_report
    from care.data.io import load_corpus
    from care.instruments import get_instrument
    from care.train.report import cv_report, format_cv_report

    console = Console(stderr=True)
    resolved = get_instrument(instrument)
    corpus = load_corpus(list(data), **loader_arguments(**options))  # type: ignore[arg-type]
    model_language = _model_language(corpus, options.get("language"))  # type: ignore[arg-type]
    config = replace(
        LiteConfig(),
        language=model_language,
        instrument=resolved.id,
        alpha=alpha,
        min_df=min_df,
        max_features=max_features,
        cut=cut,
        seed=seed,
        tokenizer=int(tokenizer),
    )
    calibration = None
    trust = None
    info: dict = {"training_data": [str(path) for path in data]}
    if not no_cv:
        with console.status("cross-validating") as status:
            cv, signals = cross_validate_with_signals(
                corpus,
                config,
                n_splits=folds,
                progress=lambda text: status.update(text),
                tfidf_baseline=tfidf_baseline,
            )
        predicted, calibration = calibrated(cv)
        summary = cv_report(cv, predicted, resolved)
        info["cross_validation"] = {k: v for k, v in summary.items() if k != "items"}
        click.echo(format_cv_report(summary))
        model_name = name or f"care-lite-{config.language}{'-cut' if config.cut else ''}"
        trust = fit_lite_trust(
            resolved, cv.item_ids, cv.truth, predicted, signals, cv.folds, model_name
        )
        click.echo(format_trust_report(trust))
        if report is not None:
            write_text_atomic(report, json.dumps(summary, indent=2))
        if cv_out is not None:
            write_cv_predictions(cv, predicted, corpus, resolved, config, cv_out, signals)
    with console.status("fitting on all sessions"):
        model = train_model(
            corpus,
            config,
            name=name,
            calibration=calibration,
            info=info,
            trust=None if trust is None else trust.to_dict(),
        )
    model.save(out)
    click.echo(f"wrote {model.name} ({model.info['n_sessions']} sessions) to {out}")


def write_cv_predictions(
    cv: CrossValidation,
    predicted: np.ndarray,
    corpus: Corpus,
    instrument: Instrument,
    config: LiteConfig,
    path: Path,
    signals: np.ndarray | None = None,
) -> None:
    """Write out-of-fold predictions as results records (meta: fold, cut); with the
    sessions' ``signals``, each with intervals, percentiles and domain flag fitted on the
    other folds only."""
    from care.assessors.baselines import assessments_from_matrix
    from care.assessors.lite.conformal import held_out_trust_models
    from care.results import Assessments

    model_name = f"care-lite-{config.language}{'-cut' if config.cut else ''}"
    name = f"{model_name} (cross-validated)"
    sessions = [corpus[session_id] for session_id in cv.session_ids]
    results = assessments_from_matrix(sessions, predicted, instrument, name, __version__)
    trust = {}
    if signals is not None:
        trust = held_out_trust_models(
            instrument, cv.item_ids, cv.truth, predicted, signals, cv.folds, model_name
        )
    for row, (result, fold) in enumerate(zip(results, cv.folds, strict=True)):
        result.meta = {"fold": int(fold), "cut": config.cut, "cross_validated": True}
        if int(fold) in trust:
            trust[int(fold)].annotate(result, signals[row])  # type: ignore[index]
    Assessments(results).to_jsonl(path)


def _model_language(corpus: Corpus, language: str | None) -> str:
    """The model's language: ``--language`` if given, else the corpus's only language."""
    if language:
        return language
    languages = {lang for lang in corpus.languages() if lang}
    if len(languages) != 1:
        raise ParameterError(
            f"the sessions are in {sorted(languages) or 'no detectable language'}; a model "
            "is trained for one language",
            field="--language",
            fix="pass --language to choose (sessions in other languages are left out)",
        )
    return languages.pop()


COMMANDS = [train]
