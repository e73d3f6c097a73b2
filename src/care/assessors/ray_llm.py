"""Language-model assessors on Ray Data's LLM support (``ray.data.llm``).

With ``--engine ray``, ``--model openai/MODEL --base-url URL`` and ``--model vllm/MODEL`` do not
run the LLM assessor inside actors; the items become rows of a Ray Dataset and go through one
of Ray Data's LLM processors, which batch, pipeline and scale the requests:

* ``openai/...``: an :class:`~ray.data.llm.HttpRequestProcessorConfig` processor sending
  CARE's per-item prompts to any OpenAI-compatible server (vLLM, llama.cpp, a hosted API),
  ``concurrency`` requests at a time (``--workers``), each retried ``max_retries`` times with
  exponential backoff on timeouts, refused connections, 429 and 5xx;
* ``vllm/...``: a :class:`~ray.data.llm.vLLMEngineProcessorConfig` processor: ``replicas``
  vLLM engines (``--workers``) of ``tensor_parallel_size`` GPUs each, prefix caching on
  (the transcript is the shared prefix of a session's items) except in ``naive`` mode.

The rows are made and read with the LLM assessor's own parts, so an item is prompted,
scored and parsed exactly as ``--engine local`` does it: the prompt template, the generation
options, the answer parser, the quote check, the option probabilities. The rules of the local
engine hold: a remote server needs ``allow_remote`` and then gets redacted transcripts
(redaction on request otherwise); an engine error becomes the item's recorded failure, never
a score, and never a message with transcript text. Differences: the ``per-item`` and
``naive`` modes only (one-pass answers are one row per session and need the local engine),
and an unreadable answer is recorded as a parse failure at once (the local engine re-asks).

A session's items travel together (the dataset keeps its order), and the driver puts each
session together once its last item is back, then writes it through the output as the local
engine does.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from care.assessors.ray_engine import (
    RayRunReport,
    SessionFailure,
    configure_data,
    connect,
    failure_reason,
)
from care.assessors.run import RunCounts, Sink
from care.data.io.native import session_from_record, session_to_record
from care.data.io.ray_dataset import ray_module, session_dataset, sessions_of_rows
from care.data.io.stream import SessionSource, plan_sources
from care.errors import DataError, ParameterError, Problem
from care.identity import ResultKey
from care.results import Evidence, ItemRating, SessionAssessment

PROCESSOR_PROVIDERS = ("openai", "vllm")
_ENGINE_FAILURE = {"status": "backend_error", "expected": None, "attempts": 1, "usage": None}
RETRYABLE_STATUS = (408, 429, 500, 502, 503, 504)


def processor_kind(spec: str | None) -> str | None:
    """``"http"`` for ``openai/...``, ``"vllm"`` for ``vllm/...``, else None (such models run
    in the actor pool of :mod:`care.assessors.ray_engine`)."""
    if not spec or "/" not in spec:
        return None
    provider = spec.split("/", 1)[0]
    return {"openai": "http", "vllm": "vllm"}.get(provider)


# ----------------------------------------------------------------- the assessor's parts
_ASSESSORS: dict[str, Any] = {}


def _assessor(spec: str, options: dict[str, Any]) -> Any:
    """The LLM assessor for ``spec`` (one per worker process), for its prompt and parsing
    parts; it never generates here."""
    cache_key = json.dumps([spec, options], sort_keys=True, default=str)
    if cache_key not in _ASSESSORS:
        from care.assessors.registry import get_assessor

        _ASSESSORS[cache_key] = get_assessor(spec, **options)
    return _ASSESSORS[cache_key]


def _model_id(spec: str) -> str:
    return spec.split("/", 1)[1]


# -------------------------------------------------------------------- rows of items
class ItemRows:
    """A Ray Data actor: turns input rows into one row per item to ask (prompt messages and
    the session as prompted, for the quote check), leaving out finished sessions; problems,
    failures and sessions finished under another key go to the :class:`Notes` actor."""

    def __init__(
        self,
        spec: str,
        options: dict[str, Any],
        finished: Any,
        sources: dict[str, SessionSource],
        read_options: dict[str, Any],
        notes: Any,
    ) -> None:
        ray = ray_module()
        self.spec = spec
        self.options = options
        self.finished = ray.get(finished) if isinstance(finished, ray.ObjectRef) else finished
        self.sources = sources
        self.read_options = read_options
        self.notes = notes

    def __call__(self, batch: Any) -> dict[str, list[Any]]:
        assessor = _assessor(self.spec, self.options)
        out: dict[str, list[Any]] = {"session_id": [], "item_id": [], "n_items": [], "task": []}
        notes: list[tuple[str, str, Any]] = []
        wanted = assessor.wanted_items()
        instrument = assessor.instrument_
        for session, problems in sessions_of_rows(
            batch.to_pylist(), self.sources, **self.read_options
        ):
            if problems:
                notes.extend(("problem", "", problem.__dict__) for problem in problems)
                continue
            if session is None:
                continue
            try:
                key = assessor.result_key(session)
                if session.id in self.finished:
                    notes.append(("skipped", session.id, key.as_dict()))
                    continue
                prompted, redactions = assessor.client.prepare(session)
                language = assessor.session_language(session)
                template = assessor.template(language)
                tasks = [
                    {
                        "messages": template.item_messages(
                            prompted, instrument, item_id, assessor.answer_format
                        ),
                        "language": language,
                        "version": key.version,
                        "redactions": redactions,
                        "session": session_to_record(prompted),
                    }
                    for item_id in wanted
                ]
            except Exception as error:
                notes.append(("failure", session.id, failure_reason(error)))
                continue
            for item_id, task in zip(wanted, tasks, strict=True):
                out["session_id"].append(session.id)
                out["item_id"].append(item_id)
                out["n_items"].append(len(wanted))
                out["task"].append(json.dumps(task, ensure_ascii=False))
        if notes:
            self.notes.add.remote(notes)
        return out


def _notes_class() -> Any:
    ray = ray_module()

    @ray.remote(num_cpus=0)
    class Notes:
        """What the item-row workers found besides items, collected for the driver."""

        def __init__(self) -> None:
            self.notes: list[tuple[str, str, Any]] = []

        def add(self, notes: list[tuple[str, str, Any]]) -> None:
            self.notes.extend(notes)

        def take(self) -> list[tuple[str, str, Any]]:
            taken, self.notes = self.notes, []
            return taken

    return Notes


# ------------------------------------------------------------------ the HTTP processor
class _Response:
    """A stand-in HTTP response that carries an engine error to the answer parser (so an
    item whose requests all failed is recorded as failed, and the run goes on)."""

    status = 200
    reason = "OK"

    def __init__(self, error: str) -> None:
        self._body = {"care_engine_error": error}

    async def json(self) -> dict[str, Any]:
        return self._body

    async def __aenter__(self) -> _Response:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class RetryingSession:
    """An ``aiohttp`` client session for Ray's HTTP stage: retries timeouts, refused
    connections, 429 and 5xx with exponential backoff, and turns a request that still fails
    into an error answer rather than an exception (whose message would hold the prompt)."""

    def __init__(self, max_retries: int, backoff: float, timeout: float) -> None:
        import aiohttp

        self.max_retries = max_retries
        self.backoff = backoff
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))

    async def __aenter__(self) -> RetryingSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._session.close()

    def post(self, url: str, **kwargs: Any) -> Any:
        return self._post(url, kwargs)

    async def _post(self, url: str, kwargs: dict[str, Any]) -> Any:
        import aiohttp

        delay = self.backoff
        problem = "no answer"
        for attempt in range(self.max_retries + 1):
            if attempt:
                await asyncio.sleep(delay)
                delay *= 2
            try:
                response = await self._session.post(url, **kwargs)
            except (TimeoutError, aiohttp.ClientError) as error:
                problem = type(error).__name__
                continue
            if response.status in RETRYABLE_STATUS:
                problem = f"HTTP {response.status}"
                response.release()
                continue
            if response.status >= 400:
                problem = f"the server refused the request (HTTP {response.status})"
                response.release()
                return _Response(problem)
            return response
        return _Response(f"{problem} after {self.max_retries + 1} tries")


def _http_payload(spec: str, options: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    assessor = _assessor(spec, options)
    task = json.loads(row["task"])
    request = assessor.backend._request(  # the openai backend's own request, as sent locally
        task["messages"], assessor._options(assessor.instrument_, score=True)
    )
    request.update(request.pop("extra_body", None) or {})
    return {"payload": request}


def _http_generation(response: dict[str, Any], score_options: Sequence[str] | None) -> Any:
    """A :class:`~care.backends.base.Generation` from a chat completion's JSON, read as the
    openai backend reads the client's objects."""
    from care.backends.base import Generation, Usage
    from care.backends.openai_backend import option_logprobs_from_tokens

    choice = (response.get("choices") or [{}])[0]
    text = ((choice.get("message") or {}).get("content") or "").strip()
    usage = response.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    counts = Usage(
        usage.get("prompt_tokens") or 0,
        usage.get("completion_tokens") or 0,
        details.get("cached_tokens") or 0,
    )
    logprobs = None
    content = (choice.get("logprobs") or {}).get("content")
    if score_options and content:
        logprobs = option_logprobs_from_tokens(
            [
                (entry["token"], [(alt["token"], alt["logprob"]) for alt in entry["top_logprobs"]])
                for entry in content
            ],
            score_options,
        )
    return Generation(text, logprobs, counts, choice.get("finish_reason"))


# ------------------------------------------------------------------ the vLLM processor
def _vllm_request(spec: str, options: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    assessor = _assessor(spec, options)
    task = json.loads(row["task"])
    generation = assessor._options(assessor.instrument_, score=True)
    sampling: dict[str, Any] = {
        "temperature": generation.temperature,
        "max_tokens": generation.max_tokens,
    }
    if generation.score_options:
        sampling["logprobs"] = 20
    if generation.json_schema is not None:
        sampling["structured_outputs"] = {"json": generation.json_schema}
    return {"messages": task["messages"], "sampling_params": sampling}


def _vllm_generation(row: dict[str, Any], score_options: Sequence[str] | None) -> Any:
    from care.backends.base import Generation, Usage
    from care.backends.openai_backend import option_logprobs_from_tokens

    logprobs = None
    if score_options and row.get("logprobs"):
        tokens = []
        for token_id, alternatives in zip(row["generated_tokens"], row["logprobs"], strict=False):
            chosen = alternatives.get(token_id) or alternatives.get(str(token_id)) or {}
            tokens.append(
                (
                    chosen.get("decoded_token") or "",
                    [
                        (alt.get("decoded_token") or "", alt["logprob"])
                        for alt in alternatives.values()
                    ],
                )
            )
        logprobs = option_logprobs_from_tokens(tokens, score_options)
    usage = Usage(row.get("num_input_tokens") or 0, row.get("num_generated_tokens") or 0, 0)
    return Generation((row.get("generated_text") or "").strip(), logprobs, usage, None)


# -------------------------------------------------------------------- reading answers
def _rated(spec: str, options: dict[str, Any], kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """The item's rating and info (as the LLM assessor records them) from the engine's
    answer; runs in the processor's postprocess."""
    from care.assessors.parsing import AnswerParseError, parse_item_answer
    from care.backends.base import expected_score, option_probabilities
    from care.evidence import verify_quotes

    assessor = _assessor(spec, options)
    task = json.loads(row["task"])
    item_id = row["item_id"]
    instrument = assessor.instrument_
    generation_options = assessor._options(instrument, score=True)
    keep = {name: row[name] for name in ("session_id", "item_id", "n_items", "task")}
    # (vLLM's failed rows never get here: they bypass the postprocess, see _assemble.)
    engine_error = (
        (row.get("http_response") or {}).get("care_engine_error") if kind == "http" else None
    )
    if engine_error:
        rating = ItemRating(row["session_id"], item_id, None, error=f"engine error: {engine_error}")
        return {**keep, "rated": _rated_json(rating, _ENGINE_FAILURE)}
    if kind == "http":
        generation = _http_generation(row["http_response"], generation_options.score_options)
    else:
        generation = _vllm_generation(row, generation_options.score_options)
    values = instrument.scale_for(item_id).values
    labels = instrument.option_labels(task["language"], item_id)
    probabilities = option_probabilities(generation.option_logprobs, values)
    info = {
        "expected": expected_score(probabilities),
        "attempts": 1,
        "usage": generation.usage.to_dict(),
    }
    try:
        answer = parse_item_answer(
            generation.text, values, labels, require_reason=assessor.require_reason
        )
    except AnswerParseError as error:
        rating = ItemRating(
            row["session_id"],
            item_id,
            None,
            probabilities=probabilities,
            raw_output=generation.text,
            error=f"no readable answer after 1 tries: {error}",
        )
        return {**keep, "rated": _rated_json(rating, {**info, "status": "parse_failure"})}
    prompted, _ = session_from_record(task["session"])
    rating = ItemRating(
        row["session_id"],
        item_id,
        float(answer.value),
        probabilities=probabilities,
        rationale=answer.reason,
        evidence=verify_quotes(answer.reason, prompted),
        raw_output=generation.text,
    )
    return {**keep, "rated": _rated_json(rating, {**info, "status": "ok"})}


def _rated_json(rating: ItemRating, info: dict[str, Any]) -> str:
    from dataclasses import asdict

    return json.dumps({"rating": asdict(rating), "info": info}, ensure_ascii=False)


# ---------------------------------------------------------------------- the driver
def _assemble(
    assessor: Any, session_id: str, rows: list[dict[str, Any]], key: ResultKey
) -> SessionAssessment:
    """The session's assessment from its rated items, as the LLM assessor builds it."""
    items: dict[str, ItemRating] = {}
    infos: dict[str, dict[str, Any]] = {}
    task = json.loads(rows[0]["task"])
    for row in rows:
        if not row.get("rated"):
            # The engine stage failed on this row (vLLM's should_continue_on_error): its
            # message may quote the prompt, so only the fact is recorded.
            failed = ItemRating(
                session_id,
                row["item_id"],
                None,
                error="engine error: the engine failed on this item (re-running retries it)",
            )
            row = {**row, "rated": _rated_json(failed, _ENGINE_FAILURE)}
        rated = json.loads(row["rated"])
        rating = rated["rating"]
        rating["evidence"] = [Evidence(**piece) for piece in rating["evidence"]]
        items[row["item_id"]] = ItemRating(**rating)
        infos[row["item_id"]] = rated["info"]
    wanted = assessor.wanted_items()
    usage = {"prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0}
    for info in infos.values():
        for name, count in (info.get("usage") or {}).items():
            usage[name] = usage.get(name, 0) + count
    return SessionAssessment(
        session_id=session_id,
        instrument=key.instrument,
        model=key.model,
        model_version=key.version,
        items={item_id: items[item_id] for item_id in wanted},
        language=task["language"],
        meta={
            "mode": assessor.mode,
            "prompt_version": key.version,
            "expected_scores": {
                item_id: infos[item_id]["expected"]
                for item_id in wanted
                if infos[item_id].get("expected") is not None
            },
            "item_status": {item_id: infos[item_id]["status"] for item_id in wanted},
            "usage": usage,
            "redacted": assessor.redacts,
            "redactions": task["redactions"],
        },
    )


def _processor(
    kind: str,
    spec: str,
    options: dict[str, Any],
    *,
    workers: int,
    batch_size: int,
    tensor_parallel_size: int,
    engine_options: dict[str, Any] | None,
) -> Any:
    from ray.data.llm import (
        HttpRequestProcessorConfig,
        build_processor,
        vLLMEngineProcessorConfig,
    )

    assessor = _assessor(spec, options)
    postprocess = functools.partial(_rated, spec, options, kind)
    if kind == "http":
        backend = assessor.backend
        base_url = (backend.config.base_url or "https://api.openai.com/v1").rstrip("/")
        key = backend.config.api_key or os.environ.get("OPENAI_API_KEY")
        config = HttpRequestProcessorConfig(
            url=f"{base_url}/chat/completions",
            headers={"Authorization": f"Bearer {key}"} if key else None,
            concurrency=workers,
            batch_size=batch_size,
            max_retries=0,  # RetryingSession retries, without raising the prompt
            session_factory=functools.partial(
                RetryingSession, assessor.max_retries, assessor.retry_backoff, 600.0
            ),
        )
        preprocess = functools.partial(_http_payload, spec, options)
    else:
        engine = {
            "tensor_parallel_size": tensor_parallel_size,
            "enable_prefix_caching": assessor.mode != "naive",
            **(engine_options or {}),
        }
        config = vLLMEngineProcessorConfig(
            model_source=_model_id(spec),
            engine_kwargs=engine,
            concurrency=workers,
            batch_size=batch_size,
            should_continue_on_error=True,
        )
        preprocess = functools.partial(_vllm_request, spec, options)
    return build_processor(config, preprocess=preprocess, postprocess=postprocess)


def run_llm_on_ray(
    inputs: Sequence[str | Path],
    *,
    spec: str,
    options: dict[str, Any] | None = None,
    sink: Sink | None = None,
    finished: dict[str, ResultKey] | None = None,
    address: str | None = None,
    workers: int | None = None,
    batch_size: int = 16,
    tensor_parallel_size: int = 1,
    engine_options: dict[str, Any] | None = None,
    read_options: dict[str, Any] | None = None,
    counts: RunCounts | None = None,
    report: RayRunReport | None = None,
    on_progress: Callable[[RunCounts], None] | None = None,
) -> Iterator[SessionAssessment]:
    """Assess the sessions of ``inputs`` with a language model through a ``ray.data.llm``
    processor (see the module docstring); the arguments are those of
    :func:`~care.assessors.ray_engine.run_on_ray`, plus:

    Args:
        workers: Concurrent HTTP requests (``openai/...``), or vLLM replicas
            (``vllm/...``); default 1 vLLM replica, 4 requests.
        batch_size: Items per processor batch.
        tensor_parallel_size: GPUs per vLLM replica.
        engine_options: More vLLM engine arguments (e.g. ``max_model_len``).

    Raises:
        ParameterError: The mode is one-pass, or a remote server was not allowed.
    """
    kind = processor_kind(spec)
    if kind is None:
        raise ParameterError(
            f"{spec} does not run on Ray Data's LLM processors",
            field="--model",
            fix="use openai/MODEL with --base-url, or vllm/MODEL",
        )
    ray = ray_module()
    options = dict(options or {})
    assessor = _assessor(spec, options)
    if assessor.mode == "one-pass":
        raise ParameterError(
            "--engine ray runs the per-item and naive modes (one row per item)",
            field="--mode",
            fix="use --mode per-item, or --engine local for one-pass",
        )
    if kind == "http":
        assessor.client.check()  # the remote gate, before any work
    read_options = dict(read_options or {})
    sources = plan_sources(
        inputs, format=read_options.pop("format", None), encoding=read_options.get("encoding")
    )
    started = connect(address, None)
    counts = counts if counts is not None else RunCounts()
    report = report if report is not None else RayRunReport()
    try:
        configure_data(ray)
        notes = _notes_class().remote()
        parsed = {
            "language": read_options.pop("language", None),
            "encoding": read_options.pop("encoding", None),
            "merge_consecutive": read_options.pop("merge_consecutive", False),
            "options": read_options,
        }
        items = session_dataset(sources).map_batches(
            ItemRows,
            batch_size=8,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=1),
            num_cpus=0.5,
            fn_constructor_kwargs={
                "spec": spec,
                "options": options,
                "finished": ray.put(dict(finished or {})),
                "sources": {str(source.path): source for source in sources},
                "read_options": parsed,
                "notes": notes,
            },
        )
        processor = _processor(
            kind,
            spec,
            options,
            workers=workers or (1 if kind == "vllm" else 4),
            batch_size=batch_size,
            tensor_parallel_size=tensor_parallel_size,
            engine_options=engine_options,
        )
        pending: dict[str, list[dict[str, Any]]] = {}
        for batch in processor(items).iter_batches(batch_size=None, batch_format="pyarrow"):
            _take_notes(ray.get(notes.take.remote()), sink, counts, report, on_progress)
            for row in batch.to_pylist():
                rows = pending.setdefault(row["session_id"], [])
                rows.append(row)
                if len(rows) < row["n_items"]:
                    continue
                del pending[row["session_id"]]
                key = ResultKey(
                    assessor.instrument_.id, assessor.model_name, json.loads(row["task"])["version"]
                )
                assessment = _assemble(assessor, row["session_id"], rows, key)
                if sink is not None:
                    sink.write(assessment.to_record())
                counts.assessed += 1
                if on_progress is not None:
                    on_progress(counts)
                yield assessment
        _take_notes(ray.get(notes.take.remote()), sink, counts, report, on_progress)
    finally:
        if started:
            ray.shutdown()


def _take_notes(
    notes: list[tuple[str, str, Any]],
    sink: Sink | None,
    counts: RunCounts,
    report: RayRunReport,
    on_progress: Callable[[RunCounts], None] | None,
) -> None:
    for kind, session_id, payload in notes:
        if kind == "problem":
            report.problems.append(Problem(**payload))
        elif kind == "failure":
            report.failures.append(SessionFailure(session_id, payload))
        elif kind == "skipped":
            if sink is None or not sink.is_finished(session_id, ResultKey(**payload)):
                raise DataError(  # pragma: no cover - the workers skip only what the sink holds
                    f"session '{session_id}' was skipped but is not in the output",
                    fix="re-run the command",
                )
            counts.skipped += 1
            if on_progress is not None:
                on_progress(counts)
