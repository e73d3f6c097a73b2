"""A test double backend for unit tests of the LLM assessor's logic (the real engines are
tested in test_backend_transformers.py and test_backend_openai_server.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from care.backends.base import (
    Backend,
    BackendError,
    ContinuationScores,
    Generation,
    GenerationOptions,
    Message,
    ScoringOptions,
    TransientBackendError,
    Usage,
)
from care.data.session import Session, Turn

# A short session for tests of the real backends (short prompts keep CPU tests fast).
OPTIONS = ("1", "2", "3", "4", "5")
SESSION = Session(
    id="short",
    language="en",
    turns=[
        Turn(index=0, role="counselor", text="What would you like to talk about tonight?"),
        Turn(index=1, role="client", text="My exams are close and I can't sleep."),
        Turn(index=2, role="counselor", text="Let's find one small step for this week."),
        Turn(index=3, role="client", text="Okay. It helps to say it out loud."),
    ],
)


class ScriptedBackend(Backend):
    """Answers with ``answer(messages, options)``; records every call.

    ``transient_failures`` makes the first N calls raise a transient error (a 429);
    ``failure`` makes every call raise that (deterministic) error. Likelihood scoring returns
    ``scores`` (continuation to log-probability; continuations not in it get -20).
    """

    provider = "scripted"

    def __init__(
        self,
        model: str = "double",
        answer: Callable[[Sequence[Message], GenerationOptions], str] | None = None,
        logprobs: dict[str, float] | None = None,
        transient_failures: int = 0,
        remote: bool = False,
        scores: dict[str, float] | None = None,
        failure: BackendError | None = None,
    ) -> None:
        super().__init__(model)
        self.answer = answer or (lambda messages, options: '3\nYou said "it helps".')
        self.logprobs = logprobs
        self.transient_failures = transient_failures
        self.remote = remote
        self.scores = scores or {}
        self.failure = failure
        self.calls: list[tuple[list[Message], GenerationOptions | ScoringOptions]] = []

    @property
    def is_remote(self) -> bool:
        return self.remote

    def _fail(self) -> None:
        if self.failure is not None:
            raise self.failure
        if self.transient_failures > 0:
            self.transient_failures -= 1
            raise TransientBackendError("HTTP 429: rate limited")

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Generation:
        self.calls.append((list(messages), options))
        self._fail()
        text = self.answer(messages, options)
        logprobs = self.logprobs if options.score_options else None
        prompt = sum(len(m["content"].split()) for m in messages)
        return Generation(text, logprobs, Usage(prompt, len(text.split()), 0), "stop")

    def score_continuations(
        self, messages: Sequence[Message], options: ScoringOptions
    ) -> ContinuationScores:
        self.calls.append((list(messages), options))
        self._fail()
        logprobs = {c: self.scores.get(c, -20.0) for c in options.continuations}
        prompt = sum(len(m["content"].split()) for m in messages)
        return ContinuationScores(
            logprobs, dict.fromkeys(options.continuations, 1), Usage(prompt, 0, 0)
        )
