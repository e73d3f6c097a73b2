"""The built-in default assessor: fast, CPU-only, explainable, English and Chinese."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from care.assessors.base import Assessor
from care.assessors.degenerate import consistent_evidence, session_warnings
from care.assessors.lite.conformal import fit_lite_trust, model_signals
from care.assessors.lite.model import LiteConfig, LiteModel
from care.assessors.lite.predictor import LitePredictor
from care.assessors.lite.signals import LITE_SIGNAL_NAMES
from care.assessors.trust import (
    DEFAULT_LEVEL,
    TrustModel,
    check_level,
    no_domain,
    no_intervals,
)
from care.data.corpus import Corpus
from care.data.language import LANGUAGES, session_language
from care.data.session import Session
from care.errors import DataError, ModelError, ParameterError
from care.identity import ResultKey
from care.instruments import Instrument, get_instrument
from care.results import Evidence, ItemRating, SessionAssessment

SHIPPED_LANGUAGES = ("en", "zh")
PROXY_NOTE = (
    "Goal, task and bond here are proxies learned from KokoroChat clients' feedback "
    "ratings (0-5), not WAI-SR ratings. Train on your own WAI-rated sessions for WAI "
    "scores: care train lite --data my_sessions.jsonl --instrument wai-sr-client"
)

NO_TRUST = (
    "the model file holds no calibration (trained with --no-cv or by an older care): "
    "retrain it with `care train lite`, or give --calibration from `care calibrate`"
)


def shipped_model_path(language: str, cut: bool = False) -> Path:
    """Path of the model shipped with care for ``language`` (whole or cut sessions).

    Raises:
        ModelError: care ships no model for ``language``; the path is built only from
            :data:`SHIPPED_LANGUAGES`, never from a session's own value.
    """
    if language not in SHIPPED_LANGUAGES:
        plain = isinstance(language, str) and language.isalpha() and len(language) <= 8
        raise ModelError(
            f"care ships no built-in model for language {language!r}"
            if plain
            else "care ships no built-in model for this language value",
            field="language",
            fix=f"assess sessions in one of {list(SHIPPED_LANGUAGES)}, or train a model "
            "with `care train lite` and pass it with --model",
        )
    language = SHIPPED_LANGUAGES[SHIPPED_LANGUAGES.index(language)]
    name = f"care-lite-{language}{'-cut' if cut else ''}.npz"
    return Path(str(resources.files("care") / "models" / name))


def load_shipped_model(language: str, cut: bool = False) -> LiteModel:
    """The model shipped with care for ``language``."""
    path = shipped_model_path(language, cut)
    if not path.is_file():
        raise ModelError(
            f"care ships no built-in model for language '{language}'",
            file=str(path),
            fix=f"assess sessions in one of {list(SHIPPED_LANGUAGES)}, or train a model "
            "with `care train lite` and pass it with --model",
        )
    return LiteModel.load(path)


class LiteAssessor(Assessor):
    """The built-in model: TF-IDF blocks of who said what, when, plus length; a linear
    model whose scores decompose exactly into the turns' shares, which are the evidence.

    Args:
        model: None for the models shipped with care (chosen per session language), a
            path to a model file, a :class:`LiteModel`, or a mapping from language to
            model.
        cut: Use the models trained on the first 80% of turns (for sessions assessed
            before their end).
        evidence_per_direction: How many turns to quote per dimension on each side (raised
            the score / lowered it).
        config: Training configuration used by :meth:`fit`.
        level: Level of the prediction intervals (e.g. 0.9).
        calibration: A :class:`~care.assessors.trust.TrustModel` from ``care calibrate``
            to use instead of the one stored in the model file.
    """

    name = "care-lite"
    requires_fit = False

    def __init__(
        self,
        model: str | Path | LiteModel | dict[str, LiteModel] | None = None,
        cut: bool = False,
        evidence_per_direction: int = 2,
        config: LiteConfig | None = None,
        level: float = DEFAULT_LEVEL,
        calibration: TrustModel | None = None,
    ) -> None:
        self.model = model
        self.cut = cut
        self.evidence_per_direction = evidence_per_direction
        self.config = config
        self.level = check_level(level)
        self.calibration = calibration
        self._predictors: dict[str, LitePredictor] = {}
        self._trust: dict[str, TrustModel | None] = {}

    @property
    def version(self) -> str:
        return ",".join(
            f"{language}:{predictor.model.release}"
            for language, predictor in sorted(self._predictors.items())
        )

    def fit(
        self, corpus: Corpus, instrument: str | Instrument | None = None, rater: str = "client"
    ) -> LiteAssessor:
        """Train one model per language present in ``corpus`` on its client ratings."""
        from care.assessors.lite.conformal import cross_validate_with_signals
        from care.assessors.lite.fit import calibrated, train

        if rater != "client":
            raise DataError(
                f"the built-in model learns from client ratings, not {rater} ratings",
                field="rater",
                fix="fit on client ratings",
            )
        base = self.config or LiteConfig()
        if instrument is not None:
            instrument_id = instrument.id if isinstance(instrument, Instrument) else instrument
            base = replace(base, instrument=str(instrument_id))
        if self.cut and base.cut is None:
            base = replace(base, cut=0.8)
        models: dict[str, LiteModel] = {}
        languages = {session.language or session_language(session) for session in corpus}
        for language in sorted(lang for lang in languages if lang):
            config = replace(base, language=language)
            rated = [
                s
                for s in corpus
                if (s.language or session_language(s)) == language
                and s.rating(config.instrument, "client") is not None
            ]
            n_splits = min(5, len({s.client_id or s.id for s in rated}))
            calibration = None
            trust = None
            if n_splits >= 2:
                cv, signals = cross_validate_with_signals(rated, config, n_splits=n_splits)
                predicted, calibration = calibrated(cv)
                name = f"care-lite-{language}" + ("-cut" if config.cut else "")
                trust = fit_lite_trust(
                    get_instrument(config.instrument),
                    cv.item_ids,
                    cv.truth,
                    predicted,
                    signals,
                    cv.folds,
                    name,
                ).to_dict()
            models[language] = train(rated, config, calibration=calibration, trust=trust)
        self.models_ = models
        self._predictors = {language: LitePredictor(m) for language, m in models.items()}
        self.fitted_ = True
        return self

    def result_key(self, session: Session) -> ResultKey:
        """The instrument, name and weights' release of the model for the session's language
        (the cut models have their own names)."""
        model = self._predictor_for(session).model
        return ResultKey(model.config.instrument, model.name, model.release)

    def reuse(self, stored: SessionAssessment) -> SessionAssessment | None:
        """A stored result, if its intervals were made at this level."""
        return stored if (stored.intervals or {}).get("level") == self.level else None

    def check_instrument(self, sessions: Sequence[Session], instrument: str | None) -> None:
        """Refuse an instrument the models for ``sessions`` were not trained for.

        Raises:
            ParameterError: Names the instrument the model predicts and how to train one.
        """
        if instrument is None:
            return
        from care.instruments import get_instrument

        wanted = get_instrument(instrument).id
        for session in sessions:
            trained = self._predictor_for(session).model.config.instrument
            if wanted != trained:
                raise ParameterError(
                    f"the model predicts '{trained}', not '{wanted}'",
                    field="--instrument",
                    fix=f"train a model for it (care train lite --data RATED_SESSIONS "
                    f"--instrument {wanted} --out model.npz) and pass --model model.npz",
                )

    def _predictor_for(self, session: Session) -> LitePredictor:
        language = session.language or session_language(session) or "en"
        try:
            return self.predictor(language)
        except ModelError as error:
            if self.model is not None:
                raise  # a model file of the user's: its own error says what is wrong
            shown = f"'{language}'" if language in LANGUAGES else "a language care does not know"
            raise ModelError(
                f"session '{session.id}' is in {shown}: {error.problem.message}",
                file=error.problem.file,
                field="language",
                fix=error.problem.fix,
            ) from None

    def check_languages(self, sessions: Sequence[Session]) -> None:
        """Load the model of every language among ``sessions`` before any is assessed, so a
        session in a language without a model stops the run before it starts.

        Raises:
            ModelError: No model for a session's language; names the session.
        """
        seen: set[str] = set()
        for session in sessions:
            language = session.language or session_language(session) or "en"
            if language not in seen:
                seen.add(language)
                self._predictor_for(session)

    def predictor(self, language: str) -> LitePredictor:
        """The predictor for sessions in ``language`` (loaded on first use)."""
        if language in self._predictors:
            return self._predictors[language]
        model = self.model
        if model is None:
            loaded = load_shipped_model(language, self.cut)
        elif isinstance(model, dict):
            if language not in model:
                raise ModelError(
                    f"no model for language '{language}'",
                    fix=f"give models for {sorted(model)} only, or add one for '{language}'",
                )
            loaded = model[language]
        elif isinstance(model, LiteModel):
            loaded = model
        else:
            loaded = LiteModel.load(model)
        if isinstance(model, str | Path | LiteModel) and loaded.config.language != language:
            raise DataError(
                f"the model was trained on language '{loaded.config.language}' but a session "
                f"is in '{language}'",
                field="language",
                fix="assess sessions of the model's language, or use the built-in models",
            )
        self._predictors[language] = LitePredictor(loaded)
        return self._predictors[language]

    def _assess_batch(self, sessions: list[Session]) -> list[SessionAssessment]:
        by_language: dict[str, list[int]] = {}
        for position, session in enumerate(sessions):
            language = session.language or session_language(session) or "en"
            by_language.setdefault(language, []).append(position)
        results: list[SessionAssessment | None] = [None] * len(sessions)
        for language, positions in by_language.items():
            predictor = self.predictor(language)
            chosen = [sessions[position] for position in positions]
            for position, assessment in zip(
                positions, self._assess_language(chosen, language, predictor), strict=True
            ):
                results[position] = assessment
        return [result for result in results if result is not None]

    def _assess_language(
        self, sessions: Sequence[Session], language: str, predictor: LitePredictor
    ) -> list[SessionAssessment]:
        model = predictor.model
        batch = predictor.turn_matrix(sessions, language)
        prediction = predictor.predict(batch)
        evidence = predictor.evidence(batch, prediction, self.evidence_per_direction)
        instrument = predictor.instrument
        trust = self.trust_model(language)
        signals = None
        if trust is not None:
            signals = model_signals(predictor, batch, prediction)[
                :, [LITE_SIGNAL_NAMES.index(name) for name in trust.signal_names]
            ]
        results = []
        for session, row_values, session_evidence in zip(
            sessions, prediction.values, evidence, strict=True
        ):
            items = {
                item_id: ItemRating(
                    session_id=session.id, item_id=item_id, value=round(float(value), 3)
                )
                for item_id, value in zip(model.item_ids, row_values, strict=True)
            }
            assessment = SessionAssessment(
                session_id=session.id,
                instrument=instrument.id,
                model=model.name,
                model_version=model.release,
                items=items,
                language=language,
                meta=self._meta(model),
            )
            scores = assessment.dimension_scores(instrument)
            warnings = session_warnings(session)
            if warnings:
                assessment.meta["warnings"] = warnings
            scale = instrument.scale
            for dimension, found in session_evidence.items():
                # an instrument without dimensions has its total as the one "dimension"
                score = (
                    scores[dimension] if dimension in scores else assessment.total_score(instrument)
                )
                pieces = consistent_evidence(score, scale.min, scale.max, found)
                assessment.evidence[dimension] = pieces
                assessment.rationales[dimension] = rationale(
                    dimension, score, instrument, pieces, session
                )
            if trust is None or signals is None:
                assessment.intervals = no_intervals(self.level, NO_TRUST)
                assessment.domain = no_domain(NO_TRUST)
            results.append(assessment)
        if trust is not None and signals is not None:
            trust.annotate_many(results, signals, self.level)
        return results

    def trust_model(self, language: str) -> TrustModel | None:
        """The intervals, percentiles and domain reference for sessions in ``language``:
        the ``calibration`` given, else the model file's (None if it has none)."""
        if language not in self._trust:
            model = self.predictor(language).model
            stored = model.trust
            if self.calibration is not None:
                self.calibration.check_model(model.name)
                self._trust[language] = self.calibration
            else:
                self._trust[language] = None if stored is None else TrustModel.from_dict(stored)
        return self._trust[language]

    @staticmethod
    def _meta(model: LiteModel) -> dict[str, Any]:
        meta: dict[str, Any] = {"cut": model.config.cut}
        if model.config.instrument == "kokorochat-feedback":
            meta["note"] = PROXY_NOTE
        return meta


def rationale(
    dimension: str,
    score: float,
    instrument: Instrument,
    evidence: list[Evidence],
    session: Session,
) -> str:
    """A short explanation of one dimension's score built from its evidence."""
    scale = instrument.scale
    text = f"{dimension.capitalize()} {score:.2f} on {scale.min}-{scale.max}."
    if score <= scale.min:
        text += " The lowest score the scale allows."
    elif score >= scale.max:
        text += " The highest score the scale allows."
    raising = [piece for piece in evidence if (piece.contribution or 0) > 0]
    lowering = [piece for piece in evidence if (piece.contribution or 0) < 0]
    for label, pieces in (("Raised most by", raising), ("Lowered most by", lowering)):
        if pieces:
            quoted = "; ".join(
                f"#{piece.turn_index} {session.turns[piece.turn_index].role} "
                f"\u201c{piece.quote}\u201d ({piece.contribution:+.2f})"
                for piece in pieces
            )
            text += f" {label} {quoted}."
    return text
