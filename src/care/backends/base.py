"""The one backend interface: messages in; text, option log-probabilities and usage out.

A backend is chosen by a ``provider/model`` string (``transformers/gemma3-270m``,
``openai/gpt-4o-mini``, ``vllm/meta-llama/Llama-3.1-8B-Instruct``,
``llamacpp/path/to/model.gguf``) through :func:`care.backends.registry.get_backend`.
Engine SDKs are imported only when their backend is used.
"""

from __future__ import annotations

import ipaddress
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from care.errors import CareError, ParameterError

OptionsT = TypeVar("OptionsT", bound=BaseModel)

Message = dict[str, str]


class BackendError(CareError):
    """An engine failed in a way that retrying will not fix (bad model, bad request)."""


class TransientBackendError(BackendError):
    """An engine failed in a way that may pass: a timeout, a rate limit (429), a 5xx."""


class GenerationOptions(BaseModel):
    """How to generate one answer. Unknown fields are refused (``extra="forbid"``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int = Field(256, ge=1, description="Most tokens to generate.")
    temperature: float = Field(0.0, ge=0.0, description="0 means greedy (CARE's argmax).")
    score_options: tuple[str, ...] | None = Field(
        None,
        description="Option strings (e.g. '1'..'5') whose log-probabilities as the first "
        "token of the answer are returned, where the engine gives log-probabilities.",
    )
    json_schema: dict[str, Any] | None = Field(
        None, description="Constrain the answer to this JSON schema where the engine can."
    )
    stop: tuple[str, ...] | None = Field(None, description="Stop strings.")
    seed: int | None = Field(0, description="Sampling seed where the engine takes one.")
    reuse_prefix: bool = Field(
        True,
        description="Reuse the computation of a prompt prefix shared with the previous "
        "prompt (KV cache, prompt cache) where the engine can; False gives the naive cost.",
    )


@dataclass
class Usage:
    """Token counts of one generation.

    Attributes:
        prompt_tokens: Tokens in the prompt.
        completion_tokens: Tokens generated.
        cached_tokens: Prompt tokens whose computation was reused from an earlier prompt
            (prefix reuse); ``prompt_tokens - cached_tokens`` were computed.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    @property
    def computed_prompt_tokens(self) -> int:
        """Prompt tokens the engine actually computed."""
        return self.prompt_tokens - self.cached_tokens

    def add(self, other: Usage) -> None:
        """Add ``other``'s counts to these."""
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.cached_tokens += other.cached_tokens

    def to_dict(self) -> dict[str, int]:
        """Plain dictionary, as stored."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens,
        }


@dataclass
class Generation:
    """One answer.

    Attributes:
        text: The generated text.
        option_logprobs: Option string to the log-probability of the answer starting with
            it, for the options asked for; None where the engine gives no log-probabilities.
        usage: Token counts.
        finish_reason: ``"stop"``, ``"length"``, ... where known.
    """

    text: str
    option_logprobs: dict[str, float] | None = None
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None


class Backend(ABC):
    """Base class of every backend.

    Subclasses take the model name (the part after ``provider/``) and keyword options, and
    implement :meth:`generate`. :meth:`generate_batch` may be overridden to batch.
    """

    #: The provider prefix, e.g. ``"transformers"``.
    provider: str = "backend"

    def __init__(self, model: str, **options: Any) -> None:
        self.model = model
        self.options = options

    def parse_options(self, schema: type[OptionsT], options: dict[str, Any]) -> OptionsT:
        """Validate backend ``options`` against their pydantic ``schema`` (unknown options
        refused), as a :class:`ParameterError` naming the option and the allowed ones."""
        try:
            return schema(**options)
        except ValidationError as error:
            first = error.errors()[0]
            raise ParameterError(
                f"invalid {self.provider} backend options: {first['msg']} ({first['loc']})",
                field="backend options",
                fix=f"use only {sorted(schema.model_fields)}",
            ) from error

    @property
    def name(self) -> str:
        """``provider/model``, recorded with every result."""
        return f"{self.provider}/{self.model}"

    @property
    def is_remote(self) -> bool:
        """Whether text sent to this backend leaves the machine."""
        return False

    @abstractmethod
    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Generation:
        """Answer ``messages`` (a chat: dicts with ``role`` and ``content``)."""

    def generate_batch(
        self, batch: Sequence[Sequence[Message]], options: GenerationOptions
    ) -> list[Generation]:
        """Answer several chats; the default answers them one by one, in order (which lets
        an engine with prefix reuse reuse the shared transcript)."""
        return [self.generate(messages, options) for messages in batch]

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Free the engine's resources."""


def is_loopback_url(url: str | None) -> bool:
    """Whether ``url`` points at this machine (localhost, 127.0.0.0/8, ::1)."""
    if not url:
        return False
    host = urlparse(url if "//" in url else f"//{url}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def option_probabilities(
    option_logprobs: dict[str, float] | None, values: Sequence[int]
) -> dict[str, float] | None:
    """Normalised probabilities over the options from their log-probabilities (None when
    no option has a finite log-probability)."""
    if not option_logprobs:
        return None
    finite = {
        str(value): option_logprobs[str(value)]
        for value in values
        if str(value) in option_logprobs and math.isfinite(option_logprobs[str(value)])
    }
    if not finite:
        return None
    top = max(finite.values())
    weights = {key: math.exp(logprob - top) for key, logprob in finite.items()}
    total = sum(weights.values())
    return {str(value): round(weights.get(str(value), 0.0) / total, 6) for value in values}


def expected_score(probabilities: dict[str, float] | None) -> float | None:
    """The probability-weighted score over the options."""
    if not probabilities:
        return None
    return round(sum(float(key) * p for key, p in probabilities.items()), 4)
