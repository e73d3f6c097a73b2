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

Scoring:

* ``generate`` (default): the model writes its answer, which is read (and re-asked);
* ``likelihood``: nothing is generated; each option is scored as a continuation of the
  answer's opening (see :mod:`care.assessors.likelihood`): probabilities over the options,
  their argmax as ``value``, the expected score; one forward pass per item, no parse
  failures. ``rationales=True`` then generates the reason line after the chosen option.

With a run store (given to the runner), every item is written as soon as it is rated, and
items already stored are not asked again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any

from care.assessors.base import Assessor, resolve_instrument
from care.assessors.parsing import (
    AnswerParseError,
    parse_item_answer,
    parse_one_pass_answer,
)
from care.backends.client import ModelClient
from care.data.corpus import Corpus
from care.data.session import Session
from care.errors import CareError, ParameterError
from care.evidence import verify_quotes
from care.identity import ResultKey
from care.instruments import Instrument
from care.prompts import ANSWER_FORMATS, PromptTemplate, get_template, prompt_language
from care.results import ItemRating, SessionAssessment

logger = logging.getLogger(__name__)

MODES = ("per-item", "one-pass", "naive")
SCORINGS = ("generate", "likelihood")
#: Fewest answer tokens per item worth generating when the context window is tight.
MIN_ANSWER_TOKENS = 16


class LLMAssessor(Assessor):
    """Rate sessions with a language model, as CARE does.

    The model client (:class:`~care.backends.client.ModelClient`) owns the remote gate,
    redaction and retries; this class prompts, parses and re-asks. Resuming and storing are
    the runner's (:func:`care.assessors.run.run`): with a run store, every item is saved as
    soon as it is rated and items already stored are not asked again.

    Args:
        model: ``"provider/model"`` (e.g. ``"transformers/gemma3-270m"``,
            ``"openai/gpt-4o-mini"``), a :class:`~care.backends.base.Backend`, or a
            :class:`~care.backends.client.ModelClient`.
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
        store: A :class:`~care.store.RunStore` that :meth:`iter_assess` runs with (the
            runner reuses finished results and saves fresh ones).
        allow_remote: Allow a backend that sends text off this machine.
        redact: Redact names and contact details before prompting; default: only for remote
            backends (always for them).
        backend_options: Options for the backend (e.g. ``base_url``, ``adapter``).
        items: Rate only these item ids (default: every item of the instrument).
        scoring: ``generate`` (read the generated answer) or ``likelihood`` (score the
            options as continuations; ``mode`` one-pass is then not available).
        rationales: With ``likelihood``, also generate each item's reason line after the
            chosen option (``max_new_tokens`` at most).
    """

    name = "llm"
    requires_fit = False
    checkpoints_items = True

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
        scoring: str = "generate",
        rationales: bool = False,
    ) -> None:
        self.model = model
        self.scoring = scoring
        self.rationales = rationales
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
        self._client: ModelClient | None = None

    # -- set-up -----------------------------------------------------------------------------

    def _check_params(self) -> None:
        if self.mode not in MODES:
            raise ParameterError(
                f"the mode must be one of {list(MODES)}; got {self.mode!r}",
                field="--mode",
                fix="use per-item (CARE's prompts with prefix reuse), one-pass or naive",
            )
        if self.scoring not in SCORINGS:
            raise ParameterError(
                f"the scoring must be one of {list(SCORINGS)}; got {self.scoring!r}",
                field="--scoring",
                fix="use generate (read the answer) or likelihood (score the options)",
            )
        if self.scoring == "likelihood" and self.mode == "one-pass":
            raise ParameterError(
                "likelihood scoring scores each item at its own answer position; one-pass "
                "has a single answer",
                field="--mode",
                fix="use --mode per-item (or naive) with --scoring likelihood",
            )
        if self.rationales and self.scoring != "likelihood":
            raise ParameterError(
                "--rationales is for likelihood scoring (generate mode always writes them)",
                field="--rationales",
                fix="add --scoring likelihood, or leave --rationales out",
            )
        if self.answer_format not in ANSWER_FORMATS:
            raise ParameterError(
                f"the answer format must be one of {list(ANSWER_FORMATS)}; got "
                f"{self.answer_format!r}",
                field="answer_format",
                fix="use lines (CARE's two-line answer) or json",
            )
        if not isinstance(self.max_reasks, int) or self.max_reasks < 0:
            raise ParameterError(
                f"max_reasks must be an integer >= 0; got {self.max_reasks!r}", field="max_reasks"
            )

    @property
    def client(self) -> ModelClient:
        """The model client (the backend with the remote gate, redaction and retries)."""
        if self._client is None:
            if isinstance(self.model, ModelClient):
                self._client = self.model
            else:
                self._client = ModelClient(
                    self.model,
                    allow_remote=self.allow_remote,
                    redact=self.redact,
                    max_retries=self.max_retries,
                    retry_backoff=self.retry_backoff,
                    backend_options=self.backend_options,
                )
        return self._client

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
        return self.client.backend

    @property
    def redacts(self) -> bool:
        """Whether transcripts are redacted before prompting."""
        return self.client.redacts

    @property
    def has_succeeded(self) -> bool:
        """Whether a generation has worked (a failure before that means a wrong model)."""
        return self.client.has_succeeded

    def perspective_(self) -> str:
        """The prompt perspective: the given one, else the instrument's rater."""
        return self.perspective or self.instrument_.rater

    def template(self, language: str) -> PromptTemplate:
        """The prompt template used for sessions in ``language``."""
        return get_template(self.perspective_(), self.language or language)

    def prompt_version(self, language: str = "en") -> str:
        """The prompt version recorded with (and keying) results in ``language``; likelihood
        scoring adds ``:likelihood`` (``:likelihood+rationale`` with rationales)."""
        version = self.template(language).prompt_version(self.mode, self.answer_format)
        if self.scoring == "likelihood":
            version += ":likelihood+rationale" if self.rationales else ":likelihood"
        return version

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

    # -- identity ---------------------------------------------------------------------------

    def session_language(self, session: Session) -> str:
        """The language a session is prompted in."""
        return prompt_language(session, self.language)

    def result_key(self, session: Session) -> ResultKey:
        """Instrument, model and the prompt version of the session's language."""
        return ResultKey(
            self.instrument_.id,
            self.model_name,
            self.prompt_version(self.session_language(session)),
        )

    def wanted_items(self) -> list[str]:
        """The item ids rated, in instrument order."""
        wanted = [item.id for item in self.instrument_.items]
        if self.items is not None:
            chosen = set(self.items)
            wanted = [item_id for item_id in wanted if item_id in chosen]
        return wanted

    def reuse(self, stored: SessionAssessment) -> SessionAssessment | None:
        """A stored session covers this run if it holds every item asked for."""
        wanted = self.wanted_items()
        if not set(wanted) <= set(stored.items):
            return None
        stored.items = {item_id: stored.items[item_id] for item_id in wanted}
        return stored

    def is_complete(self, assessment: SessionAssessment) -> bool:
        """Final unless an item failed in the engine (those are retried by a re-run)."""
        statuses = assessment.meta.get("item_status", {})
        return all(status != "backend_error" for status in statuses.values())

    # -- assessing --------------------------------------------------------------------------

    def iter_assess(
        self, sessions: Iterable[Session], batch_size: int = 1
    ) -> Iterator[SessionAssessment]:
        """Assess sessions one by one through the runner (with ``store``, if given)."""
        from care.assessors.run import run

        self.check_fitted()
        self._check_params()
        yield from run(self, sessions, store=self.store, batch_size=batch_size)

    def assess_batch(self, sessions: list[Session], store: Any = None) -> list[SessionAssessment]:
        self._check_params()
        return [self.assess_session(session, store) for session in sessions]

    def _assess_batch(self, sessions: list[Session]) -> list[SessionAssessment]:
        return self.assess_batch(sessions)

    def assess_session(self, session: Session, store: Any = None) -> SessionAssessment:
        """Assess one session, reusing and saving its items in ``store`` (a run store)."""
        instrument = self.instrument_
        language = self.session_language(session)
        template = self.template(language)
        key = self.result_key(session)
        wanted = self.wanted_items()
        rows = store.item_rows(session.id, **key.store_fields()) if store is not None else []
        results: dict[str, tuple[ItemRating, dict[str, Any]]] = {
            rating.item_id: (rating, info)
            for rating, info in rows
            if info["status"] != "backend_error"
        }
        todo = [item_id for item_id in wanted if item_id not in results]
        prompted, redactions = self.client.prepare(session) if todo else (session, 0)
        if todo:
            started = time.perf_counter()
            if self.scoring == "likelihood":
                fresh = (
                    (item_id, self._rate_by_likelihood(prompted, instrument, template, item_id))
                    for item_id in todo
                )
            elif self.mode == "one-pass":
                fresh = self._rate_one_pass(prompted, instrument, template, todo)
            else:
                fresh = (
                    (item_id, self._rate_item(prompted, instrument, template, item_id))
                    for item_id in todo
                )
            for item_id, (rating, info) in fresh:
                results[item_id] = (rating, info)
                if store is not None:
                    store.put_item(rating, language=language, **info, **key.store_fields())
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
        return SessionAssessment(
            session_id=session.id,
            instrument=instrument.id,
            model=self.model_name,
            model_version=key.version,
            items=items,
            language=language,
            meta={
                "mode": self.mode,
                "scoring": self.scoring,
                "prompt_version": key.version,
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
        items = len(instrument.items) if one_pass else 1
        return GenerationOptions(
            max_tokens=self.max_new_tokens * items,
            min_tokens=min(self.max_new_tokens, MIN_ANSWER_TOKENS) * items,
            temperature=0.0,
            score_options=tuple(str(v) for v in values) if score and not one_pass else None,
            json_schema=schema,
            reuse_prefix=self.mode != "naive",
        )

    def generate(self, messages: list[dict[str, str]], options: Any) -> Any:
        """One generation through the model client (transient errors retried)."""
        return self.client.generate(messages, options)

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

    # -- likelihood -------------------------------------------------------------------------

    def _rate_by_likelihood(
        self, session: Session, instrument: Instrument, template: PromptTemplate, item_id: str
    ) -> tuple[ItemRating, dict[str, Any]]:
        from care.assessors import likelihood
        from care.backends.base import BackendError

        messages = template.item_messages(session, instrument, item_id, self.answer_format)
        options = likelihood.item_options(template, instrument, item_id)
        reuse = self.mode != "naive"
        try:
            scores = self.client.score(
                messages, likelihood.scoring_options(options, self.answer_format, reuse)
            )
        except BackendError as error:
            return self._backend_failure(session, item_id, error)
        rating, info = likelihood.rating_from_scores(session, item_id, options, scores)
        if self.rationales and rating.value is not None:
            try:
                likelihood.write_rationale(
                    self.generate, messages, rating, info, template, instrument, session,
                    answer_format=self.answer_format, max_new_tokens=self.max_new_tokens,
                    reuse=reuse,
                )  # fmt: skip
            except BackendError as error:
                return self._backend_failure(session, item_id, error)
        return rating, info

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
