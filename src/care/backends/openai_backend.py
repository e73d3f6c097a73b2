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
usage's ``cached_tokens`` is read where the server reports it. Any other refusal (a bad
request, a context overflow) is deterministic and fails at once.

Likelihood scoring (:meth:`OpenAIBackend.score_continuations`), two ways:

* ``top-logprobs`` (the default without ``tokenizer``): one chat completion with
  ``max_tokens=1``, ``logprobs`` and ``top_logprobs=20``: where each option is one token, its
  log-probability is read at the answer's first position. An option outside the server's top
  20 gets ``-inf`` (the scores are then marked inexact); options that are not single tokens
  cannot be scored this way (a clear error says so).
* ``echo`` (with ``tokenizer``, a local tokenizer directory whose chat template renders the
  prompt as the server's model does): one ``/completions`` request per option with
  ``echo=True``, ``logprobs=1`` and ``max_tokens=1``; the option's tokens' log-probabilities
  are read from the echoed prompt. Exact for any option, on servers that return prompt
  log-probabilities (vLLM; llama.cpp's server when started with ``--logits_all true``).

Needs ``pip install 'care-alliance[llm]'`` (the ``openai`` package).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from care.backends.base import (
    Backend,
    BackendError,
    ContinuationScores,
    Generation,
    GenerationOptions,
    Message,
    ScoringOptions,
    ScoringUnsupportedError,
    TransientBackendError,
    Usage,
    is_loopback_url,
)
from care.errors import MissingDependencyError, ParameterError

MAX_TOP_LOGPROBS = 20


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
    scoring: Literal["auto", "top-logprobs", "echo"] = Field(
        "auto",
        description="How options are scored by likelihood: auto (echo with a tokenizer, "
        "else top-logprobs), top-logprobs or echo.",
    )
    tokenizer: str | None = Field(
        None,
        description="A local tokenizer directory whose chat template renders the prompts as "
        "the server does (needed for echo scoring).",
    )


class OpenAIBackend(Backend):
    """OpenAI-compatible chat completions (see the module docstring)."""

    provider = "openai"

    def __init__(self, model: str, **options: Any) -> None:
        super().__init__(model, **options)
        self.config = self.parse_options(OpenAIOptions, options)
        self._client: Any = None
        self._logprobs_supported = True
        self._tokenizer: Any = None

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

    def _call(self, create: Any, request: dict[str, Any]) -> Any:
        """``create(**request)``, with the server's errors as transient (timeouts, lost
        connections, 429, 5xx) or deterministic (a bad request, a context overflow)."""
        import openai

        try:
            return create(**request)
        except (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError) as error:
            raise TransientBackendError(f"{type(error).__name__}: {error}") from error
        except openai.APIStatusError as error:
            if error.status_code >= 500:
                raise TransientBackendError(f"HTTP {error.status_code}: {error}") from error
            raise BackendError(
                f"the server refused the request (HTTP {error.status_code}): {error}",
                field="--model",
                fix="check the model name, the server's URL (--base-url) and that the prompt "
                "fits the server's context window",
            ) from error

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Generation:
        """One chat completion."""
        request = self._request(messages, options)
        try:
            response = self._call(self.client.chat.completions.create, request)
        except TransientBackendError:
            raise
        except BackendError as error:
            if "logprobs" in request and "logprob" in str(error).lower():
                self._logprobs_supported = False
                return self.generate(messages, options)
            raise
        choice = response.choices[0]
        text = choice.message.content or ""
        usage = self._usage(response.usage)
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

    # -- likelihood scoring -----------------------------------------------------------------

    def score_continuations(
        self, messages: Sequence[Message], options: ScoringOptions
    ) -> ContinuationScores:
        """Score the continuations through the server (see the module docstring)."""
        method = self.config.scoring
        if method == "auto":
            method = "echo" if self.config.tokenizer else "top-logprobs"
        if method == "echo":
            return self._score_echo(messages, options)
        return self._score_top_logprobs(messages, options)

    def _score_top_logprobs(
        self, messages: Sequence[Message], options: ScoringOptions
    ) -> ContinuationScores:
        if options.answer_prefix:
            raise ScoringUnsupportedError(
                "top-logprobs scoring reads the answer's first position only; this answer "
                "format opens with text before the option",
                field="--answer-format",
                fix="use --answer-format lines, or echo scoring (backend option tokenizer=DIR)",
            )
        request: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": True,
            "top_logprobs": MAX_TOP_LOGPROBS,
        }
        if self.config.extra_body:
            request["extra_body"] = self.config.extra_body
        response = self._call(self.client.chat.completions.create, request)
        content = response.choices[0].logprobs.content if response.choices[0].logprobs else None
        if not content:
            raise ScoringUnsupportedError(
                "the server returned no log-probabilities",
                field="--scoring",
                fix="start the server with log-probabilities on (llama.cpp: --logits_all true), "
                "or use --scoring generate",
            )
        seen: dict[str, list[float]] = {c: [] for c in options.continuations}
        for alternative in content[0].top_logprobs or []:
            key = alternative.token.strip().lstrip("▁Ġ")
            if key in seen:
                seen[key].append(alternative.logprob)
        unseen = [c for c, values in seen.items() if not values]
        if any(len(c) > 1 for c in unseen):
            raise ScoringUnsupportedError(
                f"options {unseen} are not single tokens among the server's top "
                f"{MAX_TOP_LOGPROBS}, so one position cannot score them",
                field="--scoring",
                fix="pass the backend option tokenizer=DIR (echo scoring), or use "
                "--scoring generate",
            )
        logprobs = {
            c: math.log(sum(math.exp(v) for v in values)) if values else -math.inf
            for c, values in seen.items()
        }
        if not any(math.isfinite(value) for value in logprobs.values()):
            raise ScoringUnsupportedError(
                "no option is among the server's most likely first tokens",
                field="--scoring",
                fix="use echo scoring (backend option tokenizer=DIR) or --scoring generate",
            )
        usage = self._usage(response.usage)
        usage.completion_tokens = 0  # the one token the API insists on is not used
        return ContinuationScores(
            logprobs, dict.fromkeys(options.continuations, 1), usage, exact=not unseen
        )

    def _render(self, messages: Sequence[Message]) -> str:
        if self._tokenizer is None:
            try:
                import transformers
            except ImportError as error:
                raise MissingDependencyError("transformers", "llm", "echo scoring") from error
            self._tokenizer = transformers.AutoTokenizer.from_pretrained(self.config.tokenizer)
        if not getattr(self._tokenizer, "chat_template", None):
            raise ScoringUnsupportedError(
                "the tokenizer has no chat template to render the prompt with",
                field="tokenizer",
                fix="give the tokenizer directory of the served chat model",
            )
        return self._tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=True
        )

    def _score_echo(
        self, messages: Sequence[Message], options: ScoringOptions
    ) -> ContinuationScores:
        if not self.config.tokenizer:
            raise ScoringUnsupportedError(
                "echo scoring needs the chat template of the served model",
                field="tokenizer",
                fix="pass the backend option tokenizer=DIR (the model's tokenizer directory)",
            )
        prompt = self._render(messages) + options.answer_prefix
        logprobs: dict[str, float] = {}
        counts: dict[str, int] = {}
        usage = Usage()
        for continuation in options.continuations:
            request: dict[str, Any] = {
                "model": self.model,
                "prompt": prompt + continuation,
                "max_tokens": 1,
                "temperature": 0.0,
                "echo": True,
                "logprobs": 1,
            }
            if self.config.extra_body:
                request["extra_body"] = self.config.extra_body
            response = self._call(self.client.completions.create, request)
            echoed = response.choices[0].logprobs
            if echoed is None or not echoed.token_logprobs:
                raise ScoringUnsupportedError(
                    "the server echoed no prompt log-probabilities",
                    field="--scoring",
                    fix="start the server with prompt log-probabilities (llama.cpp: "
                    "--logits_all true), or use top-logprobs scoring or --scoring generate",
                )
            generated = (response.usage.completion_tokens or 0) if response.usage else 0
            own = _trailing_logprobs(echoed.tokens, echoed.token_logprobs, generated, continuation)
            if own is None:
                raise ScoringUnsupportedError(
                    "the server's echoed tokens do not line up with the option's text",
                    field="--scoring",
                    fix="use top-logprobs scoring or --scoring generate",
                )
            logprobs[continuation] = math.fsum(own)
            counts[continuation] = len(own)
            usage.add(self._usage(response.usage))
        usage.completion_tokens = 0  # the one token the API insists on is not used
        return ContinuationScores(logprobs, counts, usage)

    @staticmethod
    def _usage(usage: Any) -> Usage:
        if usage is None:
            return Usage()
        details = getattr(usage, "prompt_tokens_details", None)
        return Usage(
            usage.prompt_tokens or 0,
            usage.completion_tokens or 0,
            (getattr(details, "cached_tokens", None) or 0) if details else 0,
        )


def _trailing_logprobs(
    tokens: Sequence[str], logprobs: Sequence[float | None], generated: int, text: str
) -> list[float] | None:
    """The log-probabilities of the echoed prompt's last tokens that spell ``text`` (the
    ``generated`` tokens after the prompt left out), or None where they do not."""
    end = len(tokens) - generated
    joined, own = "", []
    for index in range(end - 1, -1, -1):
        joined = tokens[index] + joined
        value = logprobs[index]
        if value is None:
            return None
        own.append(value)
        if joined == text:
            return own
        if len(joined) >= len(text):
            return None
    return None


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
