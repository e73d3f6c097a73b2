"""K-fold cross-validation of CARE's SFT (``care cv``), as in the paper.

Sessions are split into folds by client (no client on both sides), stratified by the
session's mean rating. For every fold the model is fine-tuned on the other folds
(:func:`care.train.sft.train_sft`), every saved checkpoint is assessed on the held-out
fold with the LLM assessor, and the checkpoint with the highest Pearson r of predicted vs
true item ratings is kept. Per-fold metrics and their mean ± SD are reported.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from care.assessors.base import rating_matrix, resolve_instrument
from care.data.corpus import Corpus
from care.data.session import Session
from care.instruments import Instrument
from care.output import write_text_atomic
from care.stats import fold_summary, grouped_kfold, mae, pearson
from care.train.sft import SFTOptions, resolve_base, train_sft
from care.train.sft_data import RationaleSet, build_sft_examples, write_sft_data


def checkpoints(model_dir: Path) -> list[Path]:
    """The saved checkpoints of a training run, oldest first."""
    found = (model_dir / "checkpoints").glob("checkpoint-*")
    return sorted((p for p in found if p.is_dir()), key=lambda p: int(p.name.split("-")[-1]))


def _pairs(
    sessions: Sequence[Session], predicted: Any, instrument: Instrument, item_ids: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    from care.backends.base import expected_score

    by_session = predicted.by_session()
    truth: list[float] = []
    guess: list[float] = []
    for session in sessions:
        rating = session.rating(instrument.id, instrument.rater)
        assessment = by_session.get(session.id)
        if rating is None or assessment is None:
            continue
        for item_id in item_ids:
            true = rating.values.get(item_id)
            item = assessment.items.get(item_id)
            if true is None or item is None:
                continue
            # An unreadable answer counts at its expected score over the options' logits.
            value = item.value if item.value is not None else expected_score(item.probabilities)
            if value is None:
                continue
            truth.append(float(true))
            guess.append(float(value))
    return np.asarray(truth), np.asarray(guess)


def evaluate_checkpoint(
    base: str,
    checkpoint: Path,
    sessions: Sequence[Session],
    instrument: Instrument,
    item_ids: list[str],
    *,
    method: str = "lora",
    assessor_options: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Pearson r, MAE and n of the checkpoint's item ratings on ``sessions`` (an unreadable
    answer counts at its expected score from the option probabilities)."""
    from care.assessors.llm import LLMAssessor

    options = {"threads": 1} | dict(assessor_options or {})
    backend_options = {"threads": options.pop("threads")}
    if method == "full":
        model = f"transformers/{checkpoint}"
    else:
        model = f"transformers/{resolve_base(base)}"
        backend_options["adapter"] = str(checkpoint)
    assessor = LLMAssessor(
        model, instrument, items=item_ids, backend_options=backend_options, **options
    )
    predicted = assessor.fit(Corpus(list(sessions))).assess(sessions)
    truth, guess = _pairs(sessions, predicted, instrument, item_ids)
    r = pearson(truth, guess) if len(truth) >= 2 else math.nan
    error = mae(truth, guess) if len(truth) else math.nan
    return {"r": float(r), "mae": float(error), "n": float(len(truth))}


def best_checkpoint(scores: list[dict[str, float]]) -> int:
    """The index of the highest r (NaN counts lowest; the earliest wins a tie)."""
    keys = [-math.inf if math.isnan(s["r"]) else s["r"] for s in scores]
    return int(np.argmax(keys))


def cross_validate_sft(
    corpus: Corpus | Sequence[Session],
    instrument: str | Instrument,
    base: str,
    out: str | Path,
    options: SFTOptions,
    *,
    folds: int = 5,
    seed: int = 0,
    rationales: RationaleSet | None = None,
    score_only: bool = False,
    allow_missing_rationales: bool = False,
    max_prompt_tokens: int | None = None,
    assessor_options: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the cross-validation; writes ``out/fold-K/`` and ``out/cv.json``, returns the
    report (``folds``: per fold its clients, checkpoints' scores and best checkpoint;
    ``summary``: ``{metric: [mean, sd]}``)."""
    say = progress or (lambda _text: None)
    instrument = resolve_instrument(instrument, "wai-sr-client")
    corpus = corpus if isinstance(corpus, Corpus) else Corpus(list(corpus))
    sessions, values = rating_matrix(corpus, instrument, instrument.rater)
    item_ids = [
        item.id for k, item in enumerate(instrument.items) if not np.isnan(values[:, k]).all()
    ]
    groups = [session.client_id or session.id for session in sessions]
    with np.errstate(all="ignore"):
        stratify = np.nanmean(values, axis=1)
    splits = grouped_kfold(groups, folds, seed, stratify=stratify)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    build = {
        "rationales": rationales,
        "score_only": score_only,
        "allow_missing_rationales": allow_missing_rationales,
        "max_prompt_tokens": max_prompt_tokens,
    }
    report_folds: list[dict[str, Any]] = []
    for k, (train_idx, test_idx) in enumerate(splits):
        fold_dir = out / f"fold-{k + 1}"
        train_sessions = [sessions[i] for i in train_idx]
        test_sessions = [sessions[i] for i in test_idx]
        for name, part in (("train", train_sessions), ("validation", test_sessions)):
            examples, data_report = build_sft_examples(part, instrument, **build)  # type: ignore[arg-type]
            write_sft_data(examples, data_report, fold_dir / name, format="chat")
        say(f"fold {k + 1}/{folds}: training on {len(train_sessions)} sessions")
        result = train_sft(base, fold_dir / "train" / "train.jsonl", fold_dir / "model", options)
        scores: list[dict[str, float]] = []
        saved = checkpoints(fold_dir / "model")
        for checkpoint in saved:
            say(f"fold {k + 1}/{folds}: assessing {checkpoint.name}")
            scores.append(
                evaluate_checkpoint(
                    base,
                    checkpoint,
                    test_sessions,
                    instrument,
                    item_ids,
                    method=options.method,
                    assessor_options=assessor_options,
                )
            )
        best = best_checkpoint(scores) if scores else None
        report_folds.append(
            {
                "fold": k + 1,
                "train_sessions": [s.id for s in train_sessions],
                "validation_sessions": [s.id for s in test_sessions],
                "train_clients": sorted({groups[i] for i in train_idx}),
                "validation_clients": sorted({groups[i] for i in test_idx}),
                "steps": result.steps,
                "losses": result.losses,
                "checkpoints": [
                    {"checkpoint": str(c), **s} for c, s in zip(saved, scores, strict=True)
                ],
                "best_checkpoint": str(saved[best]) if best is not None else None,
                "metrics": scores[best] if best is not None else {},
            }
        )
        say(f"fold {k + 1}/{folds}: best {report_folds[-1]['best_checkpoint']}")
    summary = fold_summary(
        [{k: v for k, v in f["metrics"].items() if k != "n"} for f in report_folds]
    )
    report = {
        "instrument": instrument.id,
        "items": item_ids,
        "base": base,
        "folds_n": folds,
        "seed": seed,
        "options": asdict(options),
        "folds": report_folds,
        "summary": {name: list(pair) for name, pair in summary.items()},
    }
    write_text_atomic(out / "cv.json", json.dumps(report, indent=2, default=str))
    return report
