"""``llamacpp/<gguf path>``: GGUF models in-process through llama-cpp-python.

* Context: the model's own trained context length (from its GGUF metadata), or ``n_ctx``.
  Every request's token budget is checked before llama.cpp is called
  (:meth:`~care.backends.base.Backend.answer_budget`).
* Prompts: the GGUF's chat template (its ``tokenizer.chat_template``, rendered with its
  generation prompt, as transformers renders it) where it has one, else the plain format
  (user text, a blank line, ``Answer:``). Both backends thus send the same prompt text.
* Prefix reuse: llama.cpp keeps the previous prompt's evaluated tokens and reuses the longest
  shared prefix, so CARE's per-item prompts compute each transcript once; with
  ``reuse_prefix=False`` nothing is reused.
* Option log-probabilities and likelihood scoring read the logits of the evaluated tokens
  (:meth:`LlamaCppBackend.score_continuations`) — no ``logits_all`` buffer of context x
  vocabulary floats. In generate mode the options are scored at the position where the
  answer's option value starts (the first token of a two-line answer; after ``{"choice": ``
  in a JSON answer).
* JSON answers are constrained with a grammar built from the JSON schema.
* ``llamacpp/gemma3-270m`` and ``llamacpp/smollm2-135m-instruct`` use the packaged demo
  GGUFs (:mod:`care.backends.demo_models`).

Needs ``pip install 'care-alliance[llamacpp]'`` (llama-cpp-python, built from source).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from care.backends.base import (
    Backend,
    BackendError,
    ContinuationScores,
    Generation,
    GenerationOptions,
    Message,
    ScoringOptions,
    Usage,
    continuation_ids,
)
from care.backends.demo_models import DEMO_MODELS, demo_gguf_path
from care.errors import MissingDependencyError, ModelError

PLAIN_ANSWER_CUE = "Answer:\n"


class LlamaCppOptions(BaseModel):
    """Options of the llamacpp backend (unknown options are refused)."""

    model_config = ConfigDict(extra="forbid")

    n_ctx: int | None = Field(
        None, ge=256, description="Context length in tokens (default: the model's own)."
    )
    n_threads: int | None = Field(
        None, ge=1, description="CPU threads (default: $OMP_NUM_THREADS, else every core)."
    )
    n_gpu_layers: int = Field(0, description="Layers to offload to a GPU (-1: all).")


class LlamaCppBackend(Backend):
    """In-process llama.cpp (see the module docstring)."""

    provider = "llamacpp"

    def __init__(self, model: str, **options: Any) -> None:
        super().__init__(model, **options)
        self.config = self.parse_options(LlamaCppOptions, options)
        self._llama: Any = None
        self._formatter: Any = None

    def model_path(self) -> Path:
        """The GGUF file (a demo model is found in its package)."""
        if self.model in DEMO_MODELS:
            return demo_gguf_path(self.model)
        path = Path(self.model)
        if not path.is_file():
            raise ModelError(
                "no GGUF file at this path",
                file=self.model,
                fix="give llamacpp/PATH/TO/MODEL.gguf, or a demo model: "
                f"{', '.join(f'llamacpp/{name}' for name in DEMO_MODELS)}",
            )
        return path

    @property
    def llama(self) -> Any:
        """The ``llama_cpp.Llama`` instance (loaded on first use)."""
        if self._llama is None:
            try:
                import llama_cpp
                from llama_cpp import llama_chat_format
            except ImportError as error:
                raise MissingDependencyError(
                    "llama-cpp-python", "llamacpp", "the llamacpp backend"
                ) from error
            try:
                llama = llama_cpp.Llama(
                    model_path=str(self.model_path()),
                    n_ctx=self.config.n_ctx or 0,  # 0: the model's trained context
                    n_threads=self.config.n_threads or default_threads(),
                    n_gpu_layers=self.config.n_gpu_layers,
                    verbose=False,
                )
            except ValueError as error:
                raise ModelError(
                    f"llama.cpp cannot load the model: {error}",
                    file=self.model,
                    fix="give a GGUF model file that this llama.cpp version supports",
                ) from error
            template = llama.metadata.get("tokenizer.chat_template")
            if template:
                vocab = llama._model
                eos, bos = llama.token_eos(), llama.token_bos()
                self._formatter = llama_chat_format.Jinja2ChatFormatter(
                    template=template,
                    eos_token=vocab.token_get_text(eos) if eos != -1 else "",
                    bos_token=vocab.token_get_text(bos) if bos != -1 else "",
                    add_generation_prompt=True,
                )
            self._llama = llama
        return self._llama

    # -- prompts ----------------------------------------------------------------------------

    def render(self, messages: Sequence[Message]) -> str:
        """The prompt text: the GGUF's chat template with its generation prompt, else the
        plain format ending with ``Answer:``."""
        self.llama  # noqa: B018 - loads the model and its template
        if self._formatter is not None:
            return self._formatter(messages=list(messages)).prompt
        parts = []
        for message in messages:
            if message["role"] == "assistant":
                parts.append(f"{PLAIN_ANSWER_CUE}{message['content'].strip()}\n\n")
            else:
                parts.append(f"{message['content'].strip()}\n\n")
        return "".join(parts) + PLAIN_ANSWER_CUE

    def _tokenize(self, text: str) -> list[int]:
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def encode(self, messages: Sequence[Message], answer_prefix: str = "") -> list[int]:
        """The prompt's token ids (a template's text carries its own special tokens; the
        plain format gets the BOS token), then ``answer_prefix``'s."""
        text = self.render(messages)
        templated = self._formatter is not None
        ids = list(
            self.llama.tokenize(text.encode("utf-8"), add_bos=not templated, special=templated)
        )
        if answer_prefix:
            ids += self._tokenize(answer_prefix)
        return ids

    def context_window(self) -> int | None:
        """The context llama.cpp was opened with (the model's own unless ``n_ctx``)."""
        return int(self.llama.n_ctx())

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int | None:
        return len(self.encode(messages))

    # -- evaluation -------------------------------------------------------------------------

    def _evaluate(self, ids: list[int], reuse: bool) -> tuple[list[float], int]:
        """Evaluate ``ids`` (reusing the longest prefix shared with the tokens evaluated
        last, when ``reuse``); returns the last position's log-probabilities and the number
        of reused tokens."""
        llama = self.llama
        common = 0
        if reuse:
            current = llama.input_ids[: llama.n_tokens].tolist()
            limit = min(len(current), len(ids) - 1)
            while common < limit and current[common] == ids[common]:
                common += 1
        if common and not llama._ctx.kv_cache_seq_rm(-1, common, -1):
            common = 0
        llama.n_tokens = common
        try:
            llama.eval(ids[common:])
        except RuntimeError as error:
            raise BackendError(f"llama.cpp failed: {error}", fix="use shorter sessions") from error
        return self._last_logprobs(), common

    def _last_logprobs(self) -> Any:
        import llama_cpp
        import numpy as np

        llama = self.llama
        pointer = llama_cpp.llama_get_logits_ith(llama._ctx.ctx, -1)
        logits = np.ctypeslib.as_array(pointer, shape=(llama.n_vocab(),)).astype(np.float64)
        top = logits.max()
        return logits - (top + math.log(np.exp(logits - top).sum()))

    def score_continuations(
        self, messages: Sequence[Message], options: ScoringOptions
    ) -> ContinuationScores:
        """Each continuation's summed log-probability after the prompt, from the logits of
        the evaluated tokens (see :class:`~care.backends.base.ScoringOptions`)."""
        prompt = self.encode(messages)
        return self._score(prompt, options)

    def _score(self, prompt: list[int], options: ScoringOptions) -> ContinuationScores:
        tails: dict[str, tuple[list[int], int]] = {}
        for continuation in options.continuations:
            before, own = continuation_ids(self._tokenize, options.answer_prefix, continuation)
            tails[continuation] = (before + own, len(own))
        longest = max(len(tail) for tail, _ in tails.values())
        self.answer_budget(len(prompt), GenerationOptions(max_tokens=longest))
        first, cached = self._evaluate(prompt, options.reuse_prefix)
        llama = self.llama
        logprobs: dict[str, float] = {}
        fed = 0
        for continuation, (tail, own) in tails.items():
            rows = [first]
            for token in tail[:-1]:  # one position at a time: only the last logits are kept
                llama.eval([token])
                rows.append(self._last_logprobs())
                fed += 1
            llama.n_tokens = len(prompt)  # the next eval drops the continuation again
            scores = [float(rows[i][token]) for i, token in enumerate(tail)]
            logprobs[continuation] = math.fsum(scores[len(tail) - own :])
        # The logits held are no longer those of the prompt's last position: make
        # llama-cpp-python's own generation evaluate it again rather than sample from them.
        llama._requires_eval = True
        counts = {continuation: own for continuation, (_, own) in tails.items()}
        return ContinuationScores(logprobs, counts, Usage(len(prompt) + fed, 0, cached))

    # -- generation -------------------------------------------------------------------------

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Generation:
        """One answer (greedy at temperature 0), continuing ``options.answer_prefix``."""
        llama = self.llama
        ids = self.encode(messages, options.answer_prefix)
        max_tokens = self.answer_budget(len(ids), options)
        previous = llama.input_ids[: llama.n_tokens].tolist() if options.reuse_prefix else []
        if not options.reuse_prefix:
            llama.reset()
        request: dict[str, Any] = {
            "prompt": ids,
            "max_tokens": max_tokens,
            "temperature": options.temperature,
            "seed": options.seed,
            "stop": list(options.stop) if options.stop else [],
        }
        if options.json_schema is not None:
            from llama_cpp import LlamaGrammar

            request["grammar"] = LlamaGrammar.from_json_schema(
                json.dumps(options.json_schema), verbose=False
            )
        try:
            response = llama.create_completion(**request)
        except (RuntimeError, ValueError) as error:
            raise BackendError(
                f"llama.cpp failed: {error}", fix="use shorter sessions or a larger n_ctx"
            ) from error
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        cached = 0
        while cached < min(len(previous), len(ids) - 1) and previous[cached] == ids[cached]:
            cached += 1
        text = choice.get("text") or ""
        option_logprobs = None
        if options.score_options:
            start = option_value_start(text, options.score_options)
            scored = self._score(
                ids,
                ScoringOptions(
                    continuations=options.score_options,
                    answer_prefix=text[:start] if start is not None else "",
                ),
            )
            option_logprobs = scored.logprobs
        lowered = max_tokens if max_tokens < options.max_tokens else None
        return Generation(
            text.strip(),
            option_logprobs,
            Usage(len(ids), int(usage.get("completion_tokens", 0)), cached),
            choice.get("finish_reason"),
            lowered,
        )

    def forget_prefix(self) -> None:
        if self._llama is not None:
            self._llama.reset()

    def close(self) -> None:
        if self._llama is not None:
            self._llama.close()
            self._llama = None
            self._formatter = None


def default_threads() -> int:
    """``$OMP_NUM_THREADS`` where set (a machine shared with other jobs: llama.cpp's threads
    wait for each other, so more threads than free cores is slower), else every core."""
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return os.cpu_count() or 1


def option_value_start(text: str, options: Sequence[str]) -> int | None:
    """Where the chosen option's value starts in a generated answer: the first option
    string standing alone (not part of a longer number), else None (the answer's start)."""
    alternatives = "|".join(re.escape(option) for option in sorted(options, key=len, reverse=True))
    match = re.search(rf"(?<![\w.])({alternatives})(?!\w)", text)
    return match.start() if match else None
