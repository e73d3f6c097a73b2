"""The model client: what every caller of a language model goes through.

A :class:`ModelClient` wraps a :class:`~care.backends.base.Backend` (as inspect_ai's ``Model``
wraps a provider's ``ModelAPI``) and owns the rules that must hold for every caller, the LLM
assessor, the rationale drafter and anything else that prompts a model:

* **the remote gate**: a backend that sends text off this machine is refused unless the
  caller allowed it (``allow_remote``);
* **redaction**: names and contact details are removed from a session before it is put in
  a prompt, always for remote backends and on request for local ones;
* **retries**: transient engine errors (timeouts, 429, 5xx) are retried with exponential
  backoff; other engine errors fail at once.

The backend is built on first use, so creating a client costs nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from care.backends.base import (
    Backend,
    BackendError,
    ContinuationScores,
    Generation,
    GenerationOptions,
    Message,
    ScoringOptions,
    TransientBackendError,
)
from care.data.session import Session
from care.errors import ParameterError

logger = logging.getLogger(__name__)
T = TypeVar("T")


class ModelClient:
    """A backend with the remote gate, redaction and retries.

    Args:
        model: ``"provider/model"`` (e.g. ``"llamacpp/gemma3-270m"``) or a backend instance.
        allow_remote: Allow a backend that sends text off this machine.
        redact: Redact sessions before prompting; default (None): only for remote backends
            (always for them, whatever is given).
        max_retries: How many times a transient engine error is retried.
        retry_backoff: First backoff in seconds (doubled after each retry).
        backend_options: Options for the backend (e.g. ``base_url``, ``adapter``).
    """

    def __init__(
        self,
        model: str | Backend,
        *,
        allow_remote: bool = False,
        redact: bool | None = None,
        max_retries: int = 4,
        retry_backoff: float = 1.0,
        backend_options: dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
            raise ParameterError(
                f"max_retries must be an integer >= 0; got {max_retries!r}", field="max_retries"
            )
        self.model = model
        self.allow_remote = allow_remote
        self.redact = redact
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.backend_options = backend_options
        self._backend: Backend | None = None
        #: True once a generation has worked: a failure before that means a wrong model or URL.
        self.has_succeeded = False

    @property
    def name(self) -> str:
        """The model name recorded with every result (``provider/model``)."""
        return self.model if isinstance(self.model, str) else self.model.name

    @property
    def backend(self) -> Backend:
        """The backend, built on first use; a remote one needs ``allow_remote``."""
        if self._backend is None:
            if isinstance(self.model, str):
                from care.backends.registry import get_backend

                backend = get_backend(self.model, **(self.backend_options or {}))
            else:
                backend = self.model
            if backend.is_remote and not self.allow_remote:
                raise ParameterError(
                    f"the model {self.name} is not on this machine, and sending "
                    "transcripts to it was not allowed",
                    field="--allow-remote",
                    fix="pass --allow-remote (names and contact details are redacted first; "
                    "see `care redact`), or serve the model on 127.0.0.1",
                )
            self._backend = backend
        return self._backend

    def check(self) -> None:
        """Build the backend now, so a refused remote model stops a run before any work."""
        self.backend  # noqa: B018 - building it applies the remote gate

    @property
    def redacts(self) -> bool:
        """Whether sessions are redacted before they are put in a prompt."""
        return bool(self.redact) or bool(self.backend.is_remote)

    def prepare(self, session: Session) -> tuple[Session, int]:
        """The session as it may be prompted (redacted where the rules say), and how many
        redactions were made."""
        if not self.redacts:
            return session, 0
        from care.redaction import redact_session

        redacted, found = redact_session(session)
        return redacted, len(found)

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Generation:
        """One generation, retrying transient engine errors with exponential backoff."""
        return self._call(self.backend.generate, messages, options)

    def score(self, messages: Sequence[Message], options: ScoringOptions) -> ContinuationScores:
        """Likelihood scores of ``options.continuations`` (nothing generated), retrying
        transient engine errors as :meth:`generate` does."""
        return self._call(self.backend.score_continuations, messages, options)

    def _call(self, request: Callable[..., T], *args: Any) -> T:
        delay = self.retry_backoff
        for attempt in range(self.max_retries + 1):
            try:
                result = request(*args)
            except TransientBackendError as error:
                if attempt == self.max_retries:
                    raise
                logger.warning("transient engine error (%s); retrying in %.1fs", error, delay)
                time.sleep(delay)
                delay *= 2
                continue
            except BackendError:
                raise
            self.has_succeeded = True
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Free the engine's resources (if it was built)."""
        if self._backend is not None:
            self._backend.close()
