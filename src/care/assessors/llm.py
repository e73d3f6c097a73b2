"""The LLM assessor: CARE's prompting with any model behind the backend interface.

The model, speaking as the client (or the counselor, or an observer), rates each item and
explains with quotes from the dialogue. Per item it records:

* the chosen option (CARE's argmax at temperature 0), as ``value``;
* where the engine gives log-probabilities, the probabilities of the options at the answer's
  option token (``probabilities``) and the probability-weighted expected score (in the
  session's ``meta["expected_scores"]`` and the run store), side by side with the choice;
* the rationale, and each quote in it checked against the transcript (``Evidence.verbatim``);
* the raw answer. An answer that cannot be read is re-asked ``max_reasks`` times, then stored
  as a failure with the raw output and the reason: never a default score.

Modes:

* ``per-item``: one prompt per item, the transcript first and the item last, so that engines
  with prefix reuse compute the transcript once per session;
* ``naive``: the same prompts with prefix reuse turned off (for comparison);
* ``one-pass``: one prompt that rates every item in one answer.

With a run store, every item is written as soon as it is rated, and items already stored are
not asked again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from care.assessors.base import Assessor, resolve_instrument
from care.assessors.parsing import (
    AnswerParseError,
    parse_item_answer,
    parse_one_pass_answer,
    verify_quotes,
)
from care.data.corpus import Corpus
from care.data.language import session_language
from care.data.session import Session
from care.errors import CareError, ParameterError
from care.instruments import Instrument
from care.prompts import ANSWER_FORMATS, PromptTemplate, get_template
from care.results import ItemRating, SessionAssessment

logger = logging.getLogger(__name__)

MODES = ("per-item", "one-pass", "naive")


class LLMAssessor(Assessor):
    """Rate sessions with a language model, as CARE does.

    Args:
        model: ``"provider/model"`` (e.g. ``"transformers/gemma3-270m"``,
            ``"openai/gpt-4o-mini"``) or a :class:`~care.backends.base.Backend`.
        instrument: Instrument id or instance (default ``wai-sr-client``).
        mode: ``per-item`` (shared-prefix), ``naive`` or ``one-pass``.
        answer_format: ``lines`` (CARE's two lines) or ``json`` (constrained to a JSON
            schema where the engine supports it).
        perspective: ``client``, ``counselor`` or ``observer``; default: the instrument's
            rater.
        language: Prompt language; default: each session's language.
        max_reasks: How many times an unreadable answer is asked again.
        max_retries: How many times a transient engine error (timeout, 429, 5xx) is retried,
            with exponential backoff starting at ``retry_backoff`` seconds.
        retry_backoff: First backoff in seconds.
        max_new_tokens: Most tokens per answer (one-pass answers get 12 times as many).
        require_reason: Treat an answer without a reason as unreadable.
        store: A :class:`~care.store.RunStore`; results are written to it as they finish and
            finished results are reused.
        allow_remote: Allow a backend that sends text off this machine.
        redact: Redact names and contact details before prompting; default: only for remote
            backends (always for them).
        backend_options: Options for the backend (e.g. ``base_url``, ``adapter``).
        items: Rate only these item ids (default: every item of the instrument).
    """

    name = "llm"
    requires_fit = False

    def __init__(
        self,
        model: Any,
        instrument: str | Instrument | None = None,
        mode: str = "per-item",
        answer_format: str = "lines",
        perspective: str | None = None,
        language: str | None = None,
        max_reasks: int = 2,
        max_retries: int = 4,
        retry_backoff: float = 1.0,
        max_new_tokens: int = 256,
        require_reason: bool = True,
        store: Any = None,
        allow_remote: bool = False,
        redact: bool | None = None,
        backend_options: dict[str, Any] | None = None,
        items: list[str] | None = None,
    ) -> None:
        self.model = model
        self.instrument = instrument
        self.mode = mode
        self.answer_format = answer_format
        self.perspective = perspective
        self.language = language
        self.max_reasks = max_reasks
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.max_new_tokens = max_new_tokens
        self.require_reason = require_reason
        self.store = store
        self.allow_remote = allow_remote
        self.redact = redact
        self.backend_options = backend_options
        self.items = items
        self._backend: Any = None
        # True once a generation has worked: a failure before that means a wrong model or URL.
        self.has_succeeded = False

    # -- set-up -----------------------------------------------------------------------------

    def _check_params(self) -> None:
        if self.mode not in MODES:
            raise ParameterError(
                f"the mode must be one of {list(MODES)}; got {self.mode!r}",
                field="--mode",
                fix="use per-item (CARE's prompts with prefix reuse), one-pass or naive",
            )
        if self.answer_format not in ANSWER_FORMATS:
            raise ParameterError(
                f"the answer format must be one of {list(ANSWER_FORMATS)}; got "
                f"{self.answer_format!r}",
                field="answer_format",
                fix="use lines (CARE's two-line answer) or json",
            )
        for name in ("max_reasks", "max_retries"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise ParameterError(
                    f"{name} must be an integer >= 0; got {getattr(self, name)!r}", field=name
                )

    @property
    def instrument_(self) -> Instrument:
        """The instrument rated on."""
        return resolve_instrument(self.instrument, "wai-sr-client")

    @property
    def model_name(self) -> str:
        """The model name recorded with every result."""
        return self.model if isinstance(self.model, str) else self.model.name

    @property
    def backend(self) -> Any:
        """The backend (built on first use; remote ones need ``allow_remote``)."""
        if self._backend is None:
            if isinstance(self.model, str):
                from care.backends.registry import get_backend

                self._backend = get_backend(self.model, **(self.backend_options or {}))
            else:
                self._backend = self.model
            if self._backend.is_remote and not self.allow_remote:
                raise ParameterError(
                    f"the model {self.model_name} is not on this machine, and sending "
                    "transcripts to it was not allowed",
                    field="--allow-remote",
                    fix="pass --allow-remote (names and contact details are redacted first; "
                    "see `care redact`), or serve the model on 127.0.0.1",
                )
        return self._backend

    @property
    def redacts(self) -> bool:
        """Whether transcripts are redacted before prompting."""
        return bool(self.redact) or bool(self.backend.is_remote)

    def perspective_(self) -> str:
        """The prompt perspective: the given one, else the instrument's rater."""
        return self.perspective or self.instrument_.rater

    def template(self, language: str) -> PromptTemplate:
        """The prompt template used for sessions in ``language``."""
        return get_template(self.perspective_(), self.language or language)

    def prompt_version(self, language: str = "en") -> str:
        """The prompt version recorded with (and keying) results in ``language``."""
        return self.template(language).prompt_version(self.mode, self.answer_format)

    @property
    def version(self) -> str:
        return self.prompt_version(self.language or "en")

    def fit(
        self, corpus: Corpus, instrument: str | Instrument | None = None, rater: str = "client"
    ) -> LLMAssessor:
        """A prompted model learns nothing from ratings; checks the parameters, returns self."""
        self._check_params()
        self.fitted_ = True
        return self

    # -- assessing --------------------------------------------------------------------------

    def _assess_batch(self, sessions: list[Session]) -> list[SessionAssessment]:
        self._check_params()
        return [self.assess_session(session) for session in sessions]

    def session_language(self, session: Session) -> str:
        """The language a session is prompted in."""
        return self.language or session.language or session_language(session) or "en"

    def is_done(self, session: Session) -> bool:
        """Whether the store holds this session's finished assessment."""
        if self.store is None:
            return False
        return self.store.has_assessment(
            session.id,
            instrument=self.instrument_.id,
            model=self.model_name,
            prompt_version=self.prompt_version(self.session_language(session)),
        )

    def assess_session(self, session: Session) -> SessionAssessment:
        """Assess one session (reusing and extending what the store holds)."""
        instrument = self.instrument_
        language = self.session_language(session)
        template = self.template(language)
        version = template.prompt_version(self.mode, self.answer_format)
        key = {"instrument": instrument.id, "model": self.model_name, "prompt_version": version}
        wanted = [item.id for item in instrument.items]
        if self.items is not None:
            wanted = [item_id for item_id in wanted if item_id in set(self.items)]
        if self.store is not None:
            stored = self.store.get_assessment(session.id, **key)
            if stored is not None and set(wanted) <= set(stored.items):
                stored.items = {item_id: stored.items[item_id] for item_id in wanted}
                return stored
        rows = self.store.item_rows(session.id, **key) if self.store is not None else []
        results: dict[str, tuple[ItemRating, dict[str, Any]]] = {
            rating.item_id: (rating, info)
            for rating, info in rows
            if info["status"] != "backend_error"
        }
        prompted = session
        redactions = 0
        if self.redacts:
            from care.redaction import redact_session

            prompted, found = redact_session(session)
            redactions = len(found)
        todo = [item_id for item_id in wanted if item_id not in results]
        if todo:
            started = time.perf_counter()
            if self.mode == "one-pass":
                fresh = self._rate_one_pass(prompted, instrument, template, todo)
            else:
                fresh = (
                    (item_id, self._rate_item(prompted, instrument, template, item_id))
                    for item_id in todo
                )
            for item_id, (rating, info) in fresh:
                results[item_id] = (rating, info)
                if self.store is not None:
                    self.store.put_item(rating, language=language, **info, **key)
            logger.info(
                "session %s: %d items rated in %.1fs",
                session.id,
                len(todo),
                time.perf_counter() - started,
            )
        items = {item_id: results[item_id][0] for item_id in wanted}
        infos = {item_id: results[item_id][1] for item_id in wanted}
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0}
        for info in infos.values():
            for name, count in (info.get("usage") or {}).items():
                usage[name] = usage.get(name, 0) + count
        assessment = SessionAssessment(
            session_id=session.id,
            instrument=instrument.id,
            model=self.model_name,
            model_version=version,
            items=items,
            language=language,
            meta={
                "mode": self.mode,
                "prompt_version": version,
                "expected_scores": {
                    key_: info["expected"]
                    for key_, info in infos.items()
                    if info.get("expected") is not None
                },
                "item_status": {key_: info["status"] for key_, info in infos.items()},
                "usage": usage,
                "redacted": self.redacts,
                "redactions": redactions,
            },
        )
        if self.store is not None and all(
            info["status"] != "backend_error" for info in infos.values()
        ):
            self.store.put_assessment(assessment, prompt_version=version, write_items=False)
        return assessment

    # -- one item ---------------------------------------------------------------------------

    def _options(self, instrument: Instrument, one_pass: bool = False, score: bool = True):
        from care.backends.base import GenerationOptions

        values = instrument.scale.values
        schema = None
        if self.answer_format == "json":
            answer = {
                "type": "object",
                "properties": {
                    "choice": {"type": "integer", "enum": list(values)},
                    "reason": {"type": "string"},
                },
                "required": ["choice", "reason"],
            }
            if one_pass:
                numbers = [str(n) for n in range(1, len(instrument.items) + 1)]
                schema = {
                    "type": "object",
                    "properties": dict.fromkeys(numbers, answer),
                    "required": numbers,
                }
            else:
                schema = answer
        return GenerationOptions(
            max_tokens=self.max_new_tokens * (len(instrument.items) if one_pass else 1),
            temperature=0.0,
            score_options=tuple(str(v) for v in values) if score and not one_pass else None,
            json_schema=schema,
            reuse_prefix=self.mode != "naive",
        )

    def generate(self, messages: list[dict[str, str]], options: Any) -> Any:
        """One generation, retrying transient engine errors with exponential backoff."""
        from care.backends.base import BackendError, TransientBackendError

        delay = self.retry_backoff
        for attempt in range(self.max_retries + 1):
            try:
                generation = self.backend.generate(messages, options)
                self.has_succeeded = True
                return generation
            except TransientBackendError as error:
                if attempt == self.max_retries:
                    raise
                logger.warning("transient engine error (%s); retrying in %.1fs", error, delay)
                time.sleep(delay)
                delay *= 2
            except BackendError:
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _backend_failure(
        self, session: Session, item_id: str, error: CareError
    ) -> tuple[ItemRating, dict[str, Any]]:
        if not self.has_succeeded:
            # Nothing has worked yet: the model or server is wrong, not one request.
            raise error
        rating = ItemRating(
            session_id=session.id, item_id=item_id, value=None, error=f"engine error: {error}"
        )
        return rating, {"status": "backend_error", "expected": None, "attempts": 1, "usage": None}

    def _rate_item(
        self, session: Session, instrument: Instrument, template: PromptTemplate, item_id: str
    ) -> tuple[ItemRating, dict[str, Any]]:
        from care.backends.base import (
            BackendError,
            Usage,
            expected_score,
            option_probabilities,
        )

        values = instrument.scale_for(item_id).values
        labels = instrument.option_labels(template.language, item_id)
        messages = template.item_messages(session, instrument, item_id, self.answer_format)
        usage = Usage()
        probabilities = None
        raw = ""
        reason = ""
        attempts = 0
        for attempt in range(self.max_reasks + 1):
            attempts = attempt + 1
            try:
                generation = self.generate(messages, self._options(instrument, score=attempt == 0))
            except BackendError as error:
                return self._backend_failure(session, item_id, error)
            usage.add(generation.usage)
            if attempt == 0:
                probabilities = option_probabilities(generation.option_logprobs, values)
            raw = generation.text
            try:
                answer = parse_item_answer(raw, values, labels, require_reason=self.require_reason)
            except AnswerParseError as error:
                reason = str(error)
                logger.debug("item %s: unreadable answer (%s)", item_id, reason)
                messages = [
                    *messages,
                    {"role": "assistant", "content": raw},
                    template.reask_message(reason, self.answer_format),
                ]
                continue
            rating = ItemRating(
                session_id=session.id,
                item_id=item_id,
                value=float(answer.value),
                probabilities=probabilities,
                rationale=answer.reason,
                evidence=verify_quotes(answer.reason, session),
                raw_output=raw,
            )
            return rating, {
                "status": "ok",
                "expected": expected_score(probabilities),
                "attempts": attempts,
                "usage": usage.to_dict(),
            }
        rating = ItemRating(
            session_id=session.id,
            item_id=item_id,
            value=None,
            probabilities=probabilities,
            raw_output=raw,
            error=f"no readable answer after {attempts} tries: {reason}",
        )
        return rating, {
            "status": "parse_failure",
            "expected": expected_score(probabilities),
            "attempts": attempts,
            "usage": usage.to_dict(),
        }

    # -- one pass ---------------------------------------------------------------------------

    def _rate_one_pass(
        self, session: Session, instrument: Instrument, template: PromptTemplate, todo: list[str]
    ):
        from care.backends.base import BackendError, Usage

        values = instrument.scale.values
        labels = instrument.option_labels(template.language)
        numbers = {item.id: number for number, item in enumerate(instrument.items, start=1)}
        messages = template.one_pass_messages(session, instrument, self.answer_format)
        options = self._options(instrument, one_pass=True)
        found: dict[int, Any] = {}
        problems: dict[int, str] = {}
        raw = ""
        usage = Usage()
        attempts = 0
        for attempt in range(self.max_reasks + 1):
            attempts = attempt + 1
            try:
                generation = self.generate(messages, options)
            except BackendError as error:
                for item_id in todo:
                    yield item_id, self._backend_failure(session, item_id, error)
                return
            usage.add(generation.usage)
            raw = generation.text
            answers, problems = parse_one_pass_answer(
                raw, len(instrument.items), values, labels, require_reason=self.require_reason
            )
            for number, answer in answers.items():
                found.setdefault(number, answer)
            problems = {n: p for n, p in problems.items() if n not in found}
            if not any(numbers[item_id] in problems for item_id in todo):
                break
            reason = "; ".join(problems[numbers[i]] for i in todo if numbers[i] in problems)
            messages = [
                *messages,
                {"role": "assistant", "content": raw},
                template.reask_message(reason[:500], self.answer_format, one_pass=True),
            ]
        share = {name: count // max(1, len(todo)) for name, count in usage.to_dict().items()}
        for item_id in todo:
            number = numbers[item_id]
            info = {"expected": None, "attempts": attempts, "usage": share}
            if number in found:
                answer = found[number]
                rating = ItemRating(
                    session_id=session.id,
                    item_id=item_id,
                    value=float(answer.value),
                    rationale=answer.reason,
                    evidence=verify_quotes(answer.reason, session),
                    raw_output=raw,
                )
                yield item_id, (rating, {**info, "status": "ok"})
            else:
                rating = ItemRating(
                    session_id=session.id,
                    item_id=item_id,
                    value=None,
                    raw_output=raw,
                    error=f"no readable answer after {attempts} tries: "
                    f"{problems.get(number, 'no answer')}",
                )
                yield item_id, (rating, {**info, "status": "parse_failure"})
