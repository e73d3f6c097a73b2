"""One item on Ray Data's LLM processors: its request, and how its answer is read.

The rows' requests and answers are made and read with the LLM assessor's own parts (prompt
template, generation options, the openai backend's request, the answer parser, the quote
check, the option probabilities), so an item is asked and read as ``--engine local`` does.
Used by :mod:`care.assessors.ray_llm`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from care.data.io.native import session_from_record
from care.results import ItemRating

RETRYABLE_STATUS = (408, 429, 500, 502, 503, 504)
ENGINE_FAILURE = {"status": "backend_error", "expected": None, "attempts": 1, "usage": None}

# ----------------------------------------------------------------- the assessor's parts
_ASSESSORS: dict[str, Any] = {}


def cached_assessor(spec: str, options: dict[str, Any]) -> Any:
    """The LLM assessor for ``spec`` (one per worker process), for its prompt and parsing
    parts; it never generates here."""
    cache_key = json.dumps([spec, options], sort_keys=True, default=str)
    if cache_key not in _ASSESSORS:
        from care.assessors.registry import get_assessor

        _ASSESSORS[cache_key] = get_assessor(spec, **options)
    return _ASSESSORS[cache_key]


def model_id(spec: str) -> str:
    return spec.split("/", 1)[1]


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


def http_payload(spec: str, options: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    assessor = cached_assessor(spec, options)
    task = json.loads(row["task"])
    request = assessor.backend._request(  # the openai backend's own request, as sent locally
        task["messages"], assessor._options(assessor.instrument_, score=True)
    )
    request.update(request.pop("extra_body", None) or {})
    return {"payload": request}


def http_generation(response: dict[str, Any], score_options: Sequence[str] | None) -> Any:
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
def vllm_request(spec: str, options: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    assessor = cached_assessor(spec, options)
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


def vllm_generation(row: dict[str, Any], score_options: Sequence[str] | None) -> Any:
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
def rated_row(spec: str, options: dict[str, Any], kind: str, row: dict[str, Any]) -> dict[str, Any]:
    """The item's rating and info (as the LLM assessor records them) from the engine's
    answer; runs in the processor's postprocess."""
    from care.assessors.parsing import AnswerParseError, parse_item_answer
    from care.backends.base import expected_score, option_probabilities
    from care.evidence import verify_quotes

    assessor = cached_assessor(spec, options)
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
        return {**keep, "rated": rated_json(rating, ENGINE_FAILURE)}
    if kind == "http":
        generation = http_generation(row["http_response"], generation_options.score_options)
    else:
        generation = vllm_generation(row, generation_options.score_options)
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
        return {**keep, "rated": rated_json(rating, {**info, "status": "parse_failure"})}
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
    return {**keep, "rated": rated_json(rating, {**info, "status": "ok"})}


def rated_json(rating: ItemRating, info: dict[str, Any]) -> str:
    from dataclasses import asdict

    return json.dumps({"rating": asdict(rating), "info": info}, ensure_ascii=False)
