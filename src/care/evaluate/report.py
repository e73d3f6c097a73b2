"""How good is an assessor, against whom, with what certainty: ``care evaluate``'s engine.

:func:`evaluate` compares one or more systems' predictions (results files written by
``care assess --out``; evaluation never re-queries a model) with the ratings the clients
gave, and puts reference rows beside them:

* ``baseline/mean-rating`` and ``baseline/length``: the two baselines of
  :mod:`care.assessors.baselines`, fitted and scored by K-fold cross-validation grouped by
  client on the evaluated gold sessions themselves (each fold's predictions come from a
  fit on the other folds), so they are honest out-of-sample rows. They use the systems'
  folds when those are known and cover every evaluated session, else their own
  client-grouped folds.
* ``human/counselor (...)`` and ``human/observer (...)``: where the gold sessions carry
  ratings by the counselor or an observer, their dimension scores and total are compared
  with the client's, matched by dimension name. Correlations are always reported; MSE and
  MAE only when both instruments use the same scale.

What is scored (the *targets*): every item of the instrument, every dimension score,
the total, and items with a scale of their own (KokoroChat's 0-100 ``overall``) beside
the dimensions. Dimension and total scores are derived from the item values by the
instrument's key (:meth:`~care.instruments.Instrument.dimension_scores`), for the
predictions and the client's ratings alike: a score is missing when one of its items is.

Metrics: Pearson r, Spearman rho, MSE and MAE for every target, and, per item, exact
accuracy, accuracy within 1 point and the MAE of predictions rounded half up and clipped to
the item's scale (:mod:`care.stats`). Each comes with a 95% percentile
bootstrap interval over resampled clients (or sessions). With folds (``--folds`` or
``meta["fold"]`` in the results), the per-fold values are summarised as mean ± SD.
:func:`~care.stats.paired_bootstrap` tests each system against every other
system and every baseline.

Every system is scored on the same sessions: those rated by their client on the
instrument and predicted by every system.

The process-only view (``cut_end=0.2``) scores predictions made on sessions cut before
their last 20% of turns (closing thanks carry much of the easy signal). The evaluator
cannot make such predictions itself: pass results produced on cut sessions (``care assess
--cut`` records ``meta["cut"] = 0.8``) as ``cut_predictions``. The baselines are refitted
on the cut gold sessions (:meth:`~care.data.Session.truncated` with ``1 - cut_end``).
Without cut predictions the view shows the baselines only, and says so.

The engine's parts: :mod:`care.evaluate.targets` (what is scored, with which metrics),
:mod:`care.evaluate.predictions` (reading results files, run stores, folds and reference
rationales), :mod:`care.evaluate.systems` (the rows: systems, baselines, human raters),
this module (which sessions and rows, for which views), :mod:`care.evaluate.scoring`
(scoring a view), :mod:`care.evaluate.evaluation` (what was found, as data) and
:mod:`care.evaluate.markdown` / :mod:`care.evaluate.html` (the reports, plain functions
over the evaluation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from care.data.corpus import Corpus
from care.data.language import session_language
from care.data.session import Session
from care.errors import DataError, ParameterError
from care.evaluate.coverage import coverage_report
from care.evaluate.evaluation import Evaluation, EvaluationView
from care.evaluate.predictions import assessment_rationales
from care.evaluate.scoring import score_view
from care.evaluate.systems import (
    SystemPredictions,
    cross_validated_baselines,
    folds_for_baselines,
    human_raters,
    system_from_assessments,
)
from care.evaluate.targets import Target, Unit, instrument_targets, score_frame
from care.instruments import Instrument, get_instrument
from care.results import Assessments
from care.stats import METRICS

__all__ = ["evaluate"]


def _check_settings(
    n_resamples: Any, confidence: Any, cut_end: Any, n_splits: Any, unit: Any
) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 0:
        raise ParameterError(
            f"n_resamples must be a non-negative integer, got {n_resamples!r}",
            field="--resamples",
            fix="use 1000 (the usual), fewer for a quick look, or 0 for no intervals",
        )
    if not isinstance(confidence, int | float) or not 0 < confidence < 1:
        raise ParameterError(
            f"confidence must be between 0 and 1, got {confidence!r}",
            field="--confidence",
            fix="use e.g. 0.95",
        )
    if cut_end is not None and (not isinstance(cut_end, int | float) or not 0 < cut_end < 1):
        raise ParameterError(
            f"cut_end must be a fraction between 0 and 1, got {cut_end!r}",
            field="--cut-end",
            fix="use e.g. 0.2 to leave out the last 20% of every session's turns",
        )
    if isinstance(n_splits, bool) or not isinstance(n_splits, int) or n_splits < 2:
        raise ParameterError(
            f"the baselines' number of folds must be an integer of at least 2, got {n_splits!r}",
            field="--baseline-folds",
            fix="use 5 (the default) or 10",
        )
    if unit not in ("client", "session"):
        raise ParameterError(
            f"the bootstrap unit must be 'client' or 'session', got {unit!r}",
            field="--bootstrap-unit",
            fix="resample whole clients ('client', the default) unless sessions are independent",
        )


def evaluate(
    gold: Corpus | Sequence[Session],
    predictions: Mapping[str, Assessments],
    *,
    instrument: str | Instrument | None = None,
    cut_end: float | None = None,
    cut_predictions: Mapping[str, Assessments] | None = None,
    folds: Mapping[str, int] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    n_splits: int = 5,
    bootstrap_unit: Unit = "client",
    paired_metrics: Sequence[str] = ("pearson", "mse"),
    reference_rationales: Mapping[str, Mapping[str, str]] | None = None,
    bertscore_model: str | Path | None = None,
    sources: Mapping[str, str] | None = None,
    gold_source: str = "",
) -> Evaluation:
    """Compare systems' predictions with the clients' ratings, beside reference rows.

    Args:
        gold: Sessions with their client's ratings on the instrument (and, where there
            are any, the counselor's or an observer's).
        predictions: System name to its assessments (read with
            :meth:`~care.results.Assessments.read`).
        instrument: The instrument to score; default: that of the predictions.
        cut_end: Also build the process-only view, with sessions cut before their last
            ``cut_end`` of turns (e.g. 0.2).
        cut_predictions: System name to assessments made on sessions cut that way.
        folds: Session id to fold, for every system (else each system's
            ``meta["fold"]``, where all its records have one).
        n_resamples: Bootstrap resamples per interval and paired test; 0 skips them.
        confidence: Coverage of the intervals.
        seed: Random seed of the resampling and of the baselines' folds.
        n_splits: Folds of the baselines' cross-validation when the systems' folds are
            unknown.
        bootstrap_unit: Resample whole ``"client"``s (the default) or ``"session"``s.
        paired_metrics: Metrics compared by the paired bootstrap tests.
        reference_rationales: Session id to rationale key to reference text, for BLEU,
            ROUGE and BERTScore of the systems' rationales.
        bertscore_model: Folder of a local model for BERTScore (optional).
        sources: System name to the file it was read from (for messages).
        gold_source: Where the gold sessions were read from (for messages).

    Returns:
        An :class:`Evaluation`.

    Raises:
        DataError: If the gold sessions carry no client ratings on the instrument, or a
            system shares no rated session with them.
        ParameterError: For invalid settings.
    """
    _check_settings(n_resamples, confidence, cut_end, n_splits, bootstrap_unit)
    for metric in paired_metrics:
        if metric not in METRICS:
            raise ParameterError(
                f"unknown metric {metric!r} for the paired tests",
                field="--paired-metric",
                fix=f"use one of {', '.join(METRICS)}",
            )
    sources = dict(sources or {})
    gold_sessions = list(gold)
    gold_file = gold_source or None
    resolved = _resolve_instrument(instrument, predictions, cut_predictions, sources)
    rated = [s for s in gold_sessions if s.rating(resolved.id, "client") is not None]
    if not rated:
        raters = sorted({(r.instrument, r.rater) for s in gold_sessions for r in s.ratings})
        found = ", ".join(f"{i} by the {r}" for i, r in raters) or "no ratings at all"
        raise DataError(
            f"no gold session carries client ratings on '{resolved.id}' (the instrument of the "
            f"predictions); the gold sessions have {found}",
            file=gold_file,
            field="ratings",
            fix="pass the rated sessions the predictions were made for as --gold, or results "
            "on the instrument the clients rated",
        )
    if not predictions and not cut_predictions:
        raise ParameterError(
            "no predictions to evaluate",
            field="--pred",
            fix="pass at least one results file with --pred (written by `care assess --out`)",
        )
    if cut_predictions and cut_end is None:
        cut_end = _cut_from_meta(cut_predictions, sources)
    notes: list[str] = []
    settings = {
        "n_resamples": n_resamples,
        "confidence": confidence,
        "seed": seed,
        "bootstrap_unit": bootstrap_unit,
        "baseline_folds": n_splits,
        "cut_end": cut_end,
        "paired_metrics": list(paired_metrics),
        "folds_from": "file" if folds is not None else "results meta['fold'] where present",
    }
    targets = instrument_targets(resolved)
    truth_all = score_frame({s.id: s.rating(resolved.id, "client").values for s in rated}, resolved)  # type: ignore[union-attr]

    systems = [
        system_from_assessments(name, a, resolved, sources.get(name, name))
        for name, a in predictions.items()
    ]
    _apply_folds(systems, folds, notes)
    for system, assessments in zip(systems, predictions.values(), strict=True):
        cuts = {a.meta.get("cut") for a in assessments if "cut" in a.meta}
        cuts.discard(None)
        if cuts:
            notes.append(
                f"{system.name}: its predictions were made on sessions cut to their first "
                f"{', '.join(f'{c:.0%}' for c in sorted(cuts))} of turns, and are scored here "
                "against ratings of the whole session"
            )
    eval_ids = _evaluation_sessions(rated, systems, sources, gold_file)
    if not systems:
        notes.append(
            "no whole-session predictions were given (--pred): the whole-session view shows "
            "the reference rows only"
        )
    common = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    views: dict[str, EvaluationView] = {}

    hint = next((s.folds for s in systems if s.folds is not None), None)
    if folds is not None:
        hint = pd.Series(dict(folds), dtype=int)
    by_id = {s.id: s for s in rated}
    evaluated = [by_id[i] for i in eval_ids]
    baseline_folds, fold_source = folds_for_baselines(evaluated, hint, n_splits, seed)
    full_rows = list(systems)
    if baseline_folds is not None:
        full_rows += cross_validated_baselines(evaluated, resolved, baseline_folds, fold_source)
    else:
        notes.append("no baselines: cross-validating them needs sessions of at least 2 clients")
    full_rows += human_raters(evaluated, resolved)
    if eval_ids:
        views["full"] = score_view(
            "full",
            "Whole sessions",
            "predictions on whole sessions against the client's post-session ratings",
            eval_ids,
            truth_all,
            [by_id[i].client_id for i in eval_ids],
            full_rows,
            targets,
            bootstrap_unit,
            paired_metrics,
            **common,
        )

    if cut_end is not None:
        views["process"] = _process_view(
            rated,
            resolved,
            truth_all,
            targets,
            cut_end,
            cut_predictions or {},
            folds,
            hint,
            n_splits,
            bootstrap_unit,
            paired_metrics,
            sources,
            gold_file,
            common,
        )

    rationales = _rationale_report(
        systems, {s.id: s for s in gold_sessions}, eval_ids, reference_rationales, bertscore_model
    )
    gold_info = {
        "source": gold_source,
        "n_sessions": len(gold_sessions),
        "n_rated": len(rated),
        "n_clients": len({s.client_id or f"session:{s.id}" for s in rated}),
        "instrument": resolved.id,
    }
    clients = {s.id: s.client_id for s in rated}
    trust = coverage_report(predictions, truth_all, eval_ids, clients, resolved, **common)
    return Evaluation(resolved, targets, views, settings, gold_info, rationales, notes, trust)


def _resolve_instrument(
    instrument: str | Instrument | None,
    predictions: Mapping[str, Assessments],
    cut_predictions: Mapping[str, Assessments] | None,
    sources: Mapping[str, str],
) -> Instrument:
    if isinstance(instrument, Instrument):
        wanted = instrument
    elif instrument is not None:
        wanted = get_instrument(instrument)
    else:
        first = next(
            (
                a
                for group in (predictions, cut_predictions or {})
                for ass in group.values()
                for a in ass
            ),
            None,
        )
        if first is None:
            raise ParameterError(
                "no predictions to evaluate",
                field="--pred",
                fix="pass at least one results file with --pred (written by `care assess --out`)",
            )
        wanted = get_instrument(first.instrument)
    for group in (predictions, cut_predictions or {}):
        for name, assessments in group.items():
            for position, assessment in enumerate(assessments):
                if assessment.instrument != wanted.id:
                    raise DataError(
                        f"the prediction is on instrument '{assessment.instrument}', not "
                        f"'{wanted.id}'",
                        file=sources.get(name, name),
                        record=f"record {position + 1} (session {assessment.session_id!r})",
                        field="instrument",
                        fix=f"evaluate one instrument at a time: pass only results on "
                        f"'{wanted.id}' (or choose another with --instrument)",
                    )
    return wanted


def _cut_from_meta(cut_predictions: Mapping[str, Assessments], sources: Mapping[str, str]) -> float:
    kept = {a.meta.get("cut") for ass in cut_predictions.values() for a in ass}
    if len(kept) == 1:
        value = next(iter(kept))
        if isinstance(value, int | float) and 0 < value < 1:
            return round(1.0 - float(value), 6)
    name = next(iter(cut_predictions))
    raise ParameterError(
        "the cut predictions do not say how their sessions were cut (meta.cut)",
        file=sources.get(name, name),
        field="--cut-end",
        fix="pass --cut-end (e.g. 0.2 for predictions made on the first 80% of turns)",
    )


def _apply_folds(
    systems: Sequence[SystemPredictions], folds: Mapping[str, int] | None, notes: list[str]
) -> None:
    if folds is None:
        return
    series = pd.Series(dict(folds), dtype=int)
    for system in systems:
        missing = [i for i in system.values.index if i not in series.index]
        if missing:
            notes.append(
                f"{system.name}: the folds file has no fold for {len(missing)} of its sessions "
                f"(e.g. {missing[0]!r}); per-fold summaries use the sessions it has"
            )
        system.folds = series.reindex(system.values.index).dropna().astype(int)


def _evaluation_sessions(
    rated: Sequence[Session],
    systems: Sequence[SystemPredictions],
    sources: Mapping[str, str],
    gold_file: str | None,
) -> list[str]:
    """The rated sessions every system predicted, in gold order."""
    rated_ids = [s.id for s in rated]
    keep = set(rated_ids)
    for system in systems:
        predicted = set(system.values.index)
        overlap = keep & predicted
        if not predicted & set(rated_ids):
            example_pred = next(iter(system.values.index), "?")
            raise DataError(
                f"none of the {len(predicted)} sessions predicted by {system.name} is among "
                f"the {len(rated_ids)} rated gold sessions (e.g. predicted {example_pred!r}, "
                f"gold {rated_ids[0]!r})",
                file=sources.get(system.name, system.name),
                field="session_id",
                fix="pass as --gold the sessions the predictions were made for (the same ids)",
            )
        if not overlap:
            raise DataError(
                "the prediction files share no rated session: every system must be scored on "
                "the same sessions",
                file=sources.get(system.name, system.name),
                field="session_id",
                fix="evaluate predictions made for the same sessions together",
            )
        keep = overlap
    return [i for i in rated_ids if i in keep]


def _process_view(
    rated: Sequence[Session],
    instrument: Instrument,
    truth_all: pd.DataFrame,
    targets: Sequence[Target],
    cut_end: float,
    cut_predictions: Mapping[str, Assessments],
    folds: Mapping[str, int] | None,
    hint: pd.Series | None,
    n_splits: int,
    unit: Unit,
    paired_metrics: Sequence[str],
    sources: Mapping[str, str],
    gold_file: str | None,
    common: Mapping[str, Any],
) -> EvaluationView:
    keep_fraction = 1.0 - cut_end
    notes = []
    for name, assessments in cut_predictions.items():
        for position, assessment in enumerate(assessments):
            if "cut" not in assessment.meta:
                continue
            value = assessment.meta["cut"]
            if value is None or not math.isclose(float(value), keep_fraction, abs_tol=1e-6):
                made = (
                    "whole sessions" if value is None else f"the first {float(value):.0%} of turns"
                )
                raise DataError(
                    f"the prediction was made on {made}, but --cut-end {cut_end:g} asks for "
                    f"predictions made on the first {keep_fraction:.0%}",
                    file=sources.get(name, name),
                    record=f"record {position + 1} (session {assessment.session_id!r})",
                    field="meta.cut",
                    fix=f"pass results of sessions cut to their first {keep_fraction:.0%} "
                    "(care assess --cut) as --pred-cut, or the matching --cut-end",
                )
        if not any("cut" in a.meta for a in assessments):
            notes.append(
                f"{name}: its records do not say how the sessions were cut (meta.cut); "
                f"taken to be the first {keep_fraction:.0%} of turns as asked"
            )
    systems = [
        system_from_assessments(name, a, instrument, sources.get(name, name))
        for name, a in cut_predictions.items()
    ]
    _apply_folds(systems, folds, notes)
    eval_ids = (
        _evaluation_sessions(rated, systems, sources, gold_file)
        if systems
        else [s.id for s in rated]
    )
    if not systems:
        notes.append(
            "no predictions made on cut sessions were given (--pred-cut), so this view shows "
            "the baselines only; the evaluator cannot re-query a model to make them"
        )
    if folds is None:
        hint = next((s.folds for s in systems if s.folds is not None), hint)
    by_id = {s.id: s for s in rated}
    cut_sessions = [by_id[i].truncated(keep_fraction) for i in eval_ids]
    baseline_folds, fold_source = folds_for_baselines(
        cut_sessions, hint, n_splits, int(common["seed"])
    )
    rows = list(systems)
    if baseline_folds is not None:
        rows += cross_validated_baselines(cut_sessions, instrument, baseline_folds, fold_source)
    view = score_view(
        "process",
        f"Process only: sessions cut before their last {cut_end:.0%} of turns",
        f"every session cut to its first {keep_fraction:.0%} of turns (closing turns left "
        "out) against the client's rating of the whole session; the baselines are refitted "
        "on the cut sessions, system predictions come from results made on cut sessions",
        eval_ids,
        truth_all,
        [by_id[i].client_id for i in eval_ids],
        rows,
        targets,
        unit,
        paired_metrics,
        **common,
    )
    view.notes[:0] = notes
    return view


def _rationale_report(
    systems: Sequence[SystemPredictions],
    gold: Mapping[str, Session],
    eval_ids: Sequence[str],
    references: Mapping[str, Mapping[str, str]] | None,
    bertscore_model: str | Path | None,
) -> dict[str, Any] | None:
    from care.evaluate.bertscore import BertScorer
    from care.evaluate.rationales import score_rationales

    scorer = None
    report: dict[str, Any] = {}
    scored = set(eval_ids)
    for system in systems:
        if system.assessments is None:
            continue
        texts: list[str] = []
        transcripts: list[Session] = []
        pairs: dict[str, tuple[list[str], list[str]]] = {}
        for assessment in system.assessments:
            if assessment.session_id not in scored or assessment.session_id not in gold:
                continue
            session = gold[assessment.session_id]
            for key, text in assessment_rationales(assessment).items():
                texts.append(text)
                transcripts.append(session)
                reference = (references or {}).get(assessment.session_id, {}).get(key)
                if reference:
                    language = session.language or session_language(session) or "en"
                    hyps, refs = pairs.setdefault(language, ([], []))
                    hyps.append(text)
                    refs.append(reference)
        if not texts:
            continue
        entry: dict[str, Any] = {"n_rationales": len(texts)}
        entry["quote_faithfulness"] = score_rationales(texts, transcripts=transcripts)[
            "quote_faithfulness"
        ]
        if references is not None:
            if bertscore_model is not None and scorer is None and pairs:
                scorer = BertScorer(bertscore_model)
            entry["against_references"] = {
                language: score_rationales(hyps, refs, language=language, bertscore_model=scorer)
                for language, (hyps, refs) in sorted(pairs.items())
            }
            if not pairs:
                entry["against_references"] = {}
                entry["note"] = "no reference rationale for any of this system's rationales"
        report[system.name] = entry
    return report or None
