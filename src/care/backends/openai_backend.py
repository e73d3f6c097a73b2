"""``openai/<model>``: any OpenAI-compatible chat server (vLLM, llama.cpp server, Ollama, a
hosted API), with ``base_url``.

A ``base_url`` on this machine (localhost, 127.0.0.0/8, ::1) is local; anything else,
including the default OpenAI API, is remote and needs the user's explicit opt-in
(``--allow-remote``); transcripts are redacted before they are sent.

Option log-probabilities come from the server's ``top_logprobs`` at the answer's option
token (where the server returns them); JSON answers are constrained with
``response_format={"type": "json_schema", ...}``. Timeouts, 429 and 5xx answers raise
:class:`~care.backends.base.TransientBackendError`, which the assessor retries with backoff.
Servers with automatic prefix caching (vLLM, llama.cpp) reuse the shared transcript; the
usage's ``cached_tokens`` is read where the server reports it.

Needs ``pip install 'care-alliance[llm]'`` (the ``openai`` package).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from care.backends.base import (
    Backend,
    BackendError,
    Generation,
    GenerationOptions,
    Message,
    TransientBackendError,
    Usage,
    is_loopback_url,
)
from care.errors import MissingDependencyError, ParameterError


class OpenAIOptions(BaseModel):
    """Options of the openai backend (unknown options are refused)."""

    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(None, description="Server URL, e.g. http://127.0.0.1:8000/v1.")
    api_key: str | None = Field(
        None, description="API key; default $OPENAI_API_KEY (not needed by local servers)."
    )
    timeout: float = Field(120.0, gt=0, description="Seconds to wait for one answer.")
    top_logprobs: int = Field(10, ge=0, le=20, description="Alternatives asked per token.")
    extra_body: dict[str, Any] | None = Field(None, description="Extra request fields.")


class OpenAIBackend(Backend):
    """OpenAI-compatible chat completions (see the module docstring)."""

    provider = "openai"

    def __init__(self, model: str, **options: Any) -> None:
        super().__init__(model, **options)
        self.config = self.parse_options(OpenAIOptions, options)
        self._client: Any = None
        self._logprobs_supported = True

    @property
    def is_remote(self) -> bool:
        return not is_loopback_url(self.config.base_url)

    @property
    def client(self) -> Any:
        """The ``openai.OpenAI`` client (created on first use)."""
        if self._client is None:
            try:
                import openai
            except ImportError as error:
                raise MissingDependencyError("openai", "llm", "the openai backend") from error
            key = self.config.api_key or os.environ.get("OPENAI_API_KEY")
            if not key:
                if self.is_remote:
                    raise ParameterError(
                        "no API key for the remote OpenAI-compatible server",
                        field="OPENAI_API_KEY",
                        fix="set OPENAI_API_KEY, or serve a model locally and pass --base-url",
                    )
                key = "not-needed"
            self._client = openai.OpenAI(
                base_url=self.config.base_url,
                api_key=key,
                timeout=self.config.timeout,
                max_retries=0,  # the assessor retries with backoff
            )
        return self._client

    def _request(self, messages: Sequence[Message], options: GenerationOptions) -> dict:
        request: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
        }
        if options.seed is not None:
            request["seed"] = options.seed
        if options.stop:
            request["stop"] = list(options.stop)
        if options.score_options and self._logprobs_supported and self.config.top_logprobs:
            request["logprobs"] = True
            request["top_logprobs"] = self.config.top_logprobs
        if options.json_schema is not None:
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": options.json_schema},
            }
        if self.config.extra_body:
            request["extra_body"] = self.config.extra_body
        return request

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Generation:
        """One chat completion."""
        import openai

        request = self._request(messages, options)
        try:
            response = self.client.chat.completions.create(**request)
        except (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError) as error:
            raise TransientBackendError(f"{type(error).__name__}: {error}") from error
        except openai.APIStatusError as error:
            if error.status_code >= 500:
                raise TransientBackendError(f"HTTP {error.status_code}: {error}") from error
            if "logprobs" in request and "logprob" in str(error).lower():
                self._logprobs_supported = False
                return self.generate(messages, options)
            raise BackendError(
                f"the server refused the request (HTTP {error.status_code}): {error}",
                field="--model",
                fix="check the model name and the server's URL (--base-url)",
            ) from error
        choice = response.choices[0]
        text = choice.message.content or ""
        usage = Usage()
        if response.usage is not None:
            details = getattr(response.usage, "prompt_tokens_details", None)
            usage = Usage(
                response.usage.prompt_tokens or 0,
                response.usage.completion_tokens or 0,
                (getattr(details, "cached_tokens", None) or 0) if details else 0,
            )
        option_logprobs = None
        if options.score_options and choice.logprobs is not None:
            option_logprobs = option_logprobs_from_tokens(
                [
                    (entry.token, [(alt.token, alt.logprob) for alt in entry.top_logprobs or []])
                    for entry in choice.logprobs.content or []
                ],
                options.score_options,
            )
        return Generation(text.strip(), option_logprobs, usage, choice.finish_reason)


def option_logprobs_from_tokens(
    tokens: Sequence[tuple[str, Sequence[tuple[str, float]]]], options: Sequence[str]
) -> dict[str, float] | None:
    """Option log-probabilities from per-token alternatives: at the first generated token
    that is an option (else the first token), each option's log-probability summed over its
    spellings (``"3"``, ``" 3"``); options not among the alternatives get ``-inf``."""
    if not tokens:
        return None
    wanted = set(options)
    position = next((i for i, (token, _) in enumerate(tokens) if token.strip() in wanted), 0)
    found: dict[str, list[float]] = {option: [] for option in options}
    for token, logprob in tokens[position][1]:
        key = token.strip().lstrip("▁Ġ")
        if key in found:
            found[key].append(logprob)
    if not any(found.values()):
        return None
    return {
        option: math.log(sum(math.exp(v) for v in values)) if values else -math.inf
        for option, values in found.items()
    }
