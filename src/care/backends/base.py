"""The one backend interface: messages in; text, option log-probabilities and usage out.

A backend is chosen by a ``provider/model`` string (``transformers/gemma3-270m``,
``openai/gpt-4o-mini``, ``vllm/meta-llama/Llama-3.1-8B-Instruct``,
``llamacpp/path/to/model.gguf``) through :func:`care.backends.registry.get_backend`.
Engine SDKs are imported only when their backend is used.

Two kinds of request:

* :meth:`Backend.generate` (and :meth:`Backend.generate_batch`): an answer is generated;
* :meth:`Backend.score_continuations` (and :meth:`Backend.score_batch`): nothing is
  generated; each of a few continuations (the options ``"1"``..``"5"``) is scored by the
  sum of its tokens' log-probabilities after the prompt (likelihood scoring).

Errors: :class:`TransientBackendError` (timeouts, 429, 5xx) may pass and are retried;
every other :class:`BackendError` (a context overflow, a bad request, a bad model) is
deterministic and fails at once.
"""

from __future__ import annotations

import ipaddress
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
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


class ContextOverflowError(BackendError):
    """The prompt (with the fewest answer tokens asked for) does not fit the model's context
    window. Deterministic: raised before the engine is called, never retried."""


class ScoringUnsupportedError(BackendError):
    """This backend, or the server behind it, cannot score continuations by likelihood."""


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
    min_tokens: int | None = Field(
        None,
        ge=1,
        description="Fewest new tokens worth generating. When the context window leaves fewer "
        "than max_tokens after the prompt, max_tokens is lowered to fit if at least "
        "min_tokens remain; otherwise ContextOverflowError. None: max_tokens must fit.",
    )
    answer_prefix: str = Field(
        "",
        description="Text that opens the answer: the prompt is the chat template's "
        "generation prompt followed by this text, and the model continues it (the returned "
        "text excludes it). Used to generate a rationale after a chosen option.",
    )


class ScoringOptions(BaseModel):
    """How to score continuations by likelihood (:meth:`Backend.score_continuations`).

    The scored prompt is exactly the one :meth:`Backend.generate` would answer, followed by
    ``answer_prefix``: ``messages`` rendered with the model's chat template and its
    generation prompt (the assistant header; the plain ``...\n\nAnswer:\n`` format for a
    tokenizer without a chat template), as ``care train sft`` renders its training prompts.
    Tokens, as ``care train sft`` tokenizes a prompt and its answer:

    * prompt ids: the rendered prompt, tokenized alone (special tokens added only without a
      chat template, whose text carries its own);
    * answer ids of a continuation ``c``: ``tokenizer(answer_prefix + c)`` without special
      tokens; ``c``'s own tokens are those after the longest common prefix of these ids with
      ``tokenizer(answer_prefix)`` (all of them when the prefix is empty);
    * ``c``'s score: the sum over ``c``'s own tokens of log P(token | prompt ids and the answer
      ids before it), in nats, from the raw logits (no temperature, penalties or other
      logits processors).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    continuations: tuple[str, ...] = Field(
        ..., min_length=1, description="The continuations to score, e.g. ('1', ..., '5')."
    )
    answer_prefix: str = Field(
        "", description="Text between the generation prompt and each continuation."
    )
    reuse_prefix: bool = Field(
        True,
        description="Reuse the computation of a prefix shared with the previous prompt (and "
        "the prompt's across continuations) where the engine can; False computes each "
        "continuation's whole sequence from scratch (the naive cost; same scores).",
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
        max_tokens: The answer budget used, where the backend lowered ``max_tokens`` to fit
            the context window (see ``GenerationOptions.min_tokens``); else None.
    """

    text: str
    option_logprobs: dict[str, float] | None = None
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    max_tokens: int | None = None


@dataclass
class ContinuationScores:
    """The likelihood of each continuation after one prompt (see :class:`ScoringOptions`).

    Attributes:
        logprobs: Continuation to the sum of its tokens' log-probabilities (nats, <= 0), for
            every continuation asked for, in the order asked. ``-inf`` only where an engine
            that sees just its top alternatives did not see the continuation (then
            ``exact`` is False).
        token_counts: Continuation to the number of its own tokens.
        usage: ``prompt_tokens``: token positions the engine covered for this request (the
            prompt once, plus each continuation's tokens fed after it); ``cached_tokens``:
            those whose computation was reused (the shared transcript, the prompt across
            continuations); ``completion_tokens``: always 0, nothing is generated.
        exact: Whether every log-probability was computed exactly (False for servers that
            only return their top alternatives at one position).
    """

    logprobs: dict[str, float]
    token_counts: dict[str, int]
    usage: Usage = field(default_factory=Usage)
    exact: bool = True


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

    def score_continuations(
        self, messages: Sequence[Message], options: ScoringOptions
    ) -> ContinuationScores:
        """Score each of ``options.continuations`` after ``messages`` by likelihood, with no
        generation (see :class:`ScoringOptions` for the exact prompt, tokens and score).

        Raises :class:`ContextOverflowError` before calling the engine when the prompt and
        the longest continuation do not fit the context window, and
        :class:`ScoringUnsupportedError` where the engine cannot score. The default raises
        the latter.
        """
        raise ScoringUnsupportedError(
            f"the {self.provider} backend cannot score options by likelihood",
            field="--scoring",
            fix="use --scoring generate, or a transformers, llamacpp, vllm or openai model",
        )

    def score_batch(
        self, batch: Sequence[Sequence[Message]], options: ScoringOptions
    ) -> list[ContinuationScores]:
        """Score several prompts' continuations; the default scores them one by one, in
        order (so that consecutive prompts of a session reuse the shared transcript)."""
        return [self.score_continuations(messages, options) for messages in batch]

    def context_window(self) -> int | None:
        """The model's context window in tokens, where known (None: the engine checks)."""
        return None

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int | None:
        """The tokens of ``messages``' prompt, where the backend can count them locally."""
        return None

    def answer_budget(self, prompt_tokens: int, options: GenerationOptions) -> int:
        """The new tokens to ask for: ``options.max_tokens``, lowered to fit the context
        window down to ``options.min_tokens``. Raises :class:`ContextOverflowError` (naming
        the counts, never the text) when even that does not fit."""
        window = self.context_window()
        if window is None:
            return options.max_tokens
        room = window - prompt_tokens
        if room >= options.max_tokens:
            return options.max_tokens
        least = min(options.min_tokens or options.max_tokens, options.max_tokens)
        if room >= least:
            return room
        raise ContextOverflowError(
            f"the prompt has {prompt_tokens} tokens and the answer needs at least {least}, "
            f"over the context window of {window} tokens of {self.name}",
            field="--n-ctx",
            fix="raise the context window (--n-ctx, where the model was trained for more), "
            "use shorter sessions (care sft-data --max-prompt-tokens shows a cut), or use "
            "--mode per-item or --scoring likelihood, which need fewer answer tokens",
        )

    def forget_prefix(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Drop any computation kept for prefix reuse, so that the next prompt starts cold
        (benchmarks compare modes from the same start)."""

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


def continuation_ids(
    tokenize: Callable[[str], list[int]], answer_prefix: str, continuation: str
) -> tuple[list[int], list[int]]:
    """``(answer ids before the continuation, the continuation's own ids)`` as
    :class:`ScoringOptions` defines them; ``tokenize`` adds no special tokens."""
    prefix = tokenize(answer_prefix) if answer_prefix else []
    full = tokenize(answer_prefix + continuation)
    common = 0
    while common < min(len(prefix), len(full)) and prefix[common] == full[common]:
        common += 1
    if common == len(full):  # the continuation merged into the prefix's last token
        common = max(0, len(full) - 1)
    if not full:
        raise ScoringUnsupportedError(
            f"the continuation {continuation!r} has no tokens", field="continuations"
        )
    return full[:common], full[common:]


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
