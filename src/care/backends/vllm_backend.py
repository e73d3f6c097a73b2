"""``vllm/<path-or-id>``: vLLM's offline engine, for GPU machines.

vLLM is imported only when this backend is used (it needs its own environment and a GPU:
``pip install 'care-alliance[vllm]'``). Automatic prefix caching is on, so CARE's per-item
prompts of a session share the transcript's KV cache; :meth:`generate_batch` submits all
prompts at once and vLLM schedules them. JSON answers use guided decoding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from care.backends.base import Backend, Generation, GenerationOptions, Message, Usage
from care.backends.openai_backend import option_logprobs_from_tokens
from care.errors import MissingDependencyError


class VLLMOptions(BaseModel):
    """Options of the vllm backend (unknown options are refused)."""

    model_config = ConfigDict(extra="forbid")

    dtype: str = Field("auto", description="Weights' dtype.")
    max_model_len: int | None = Field(None, description="Context length.")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    tensor_parallel_size: int = Field(1, ge=1)
    enable_prefix_caching: bool = Field(True, description="Automatic prefix caching.")
    top_logprobs: int = Field(10, ge=0, le=20)
    adapter: str | None = Field(None, description="A LoRA adapter directory.")


class VLLMBackend(Backend):
    """vLLM offline engine (see the module docstring)."""

    provider = "vllm"

    def __init__(self, model: str, **options: Any) -> None:
        super().__init__(model, **options)
        self.config = self.parse_options(VLLMOptions, options)
        self._engine: Any = None

    @property
    def engine(self) -> Any:
        """The ``vllm.LLM`` engine (created on first use)."""
        if self._engine is None:
            try:
                import vllm
            except ImportError as error:
                raise MissingDependencyError("vllm", "vllm", "the vllm backend") from error
            self._engine = vllm.LLM(
                model=self.model,
                dtype=self.config.dtype,
                max_model_len=self.config.max_model_len,
                gpu_memory_utilization=self.config.gpu_memory_utilization,
                tensor_parallel_size=self.config.tensor_parallel_size,
                enable_prefix_caching=self.config.enable_prefix_caching,
                enable_lora=self.config.adapter is not None,
            )
        return self._engine

    def _sampling(self, options: GenerationOptions) -> Any:
        import vllm

        extra: dict[str, Any] = {}
        if options.json_schema is not None:
            from vllm.sampling_params import GuidedDecodingParams

            extra["guided_decoding"] = GuidedDecodingParams(json=options.json_schema)
        return vllm.SamplingParams(
            max_tokens=options.max_tokens,
            temperature=options.temperature,
            seed=options.seed,
            stop=list(options.stop) if options.stop else None,
            logprobs=self.config.top_logprobs if options.score_options else None,
            **extra,
        )

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Generation:
        """One chat (vLLM reuses cached prefixes across calls)."""
        return self.generate_batch([messages], options)[0]

    def generate_batch(
        self, batch: Sequence[Sequence[Message]], options: GenerationOptions
    ) -> list[Generation]:
        """All chats submitted at once."""
        engine = self.engine
        kwargs: dict[str, Any] = {}
        if self.config.adapter:
            from vllm.lora.request import LoRARequest

            kwargs["lora_request"] = LoRARequest("adapter", 1, self.config.adapter)
        outputs = engine.chat([list(m) for m in batch], self._sampling(options), **kwargs)
        results = []
        for output in outputs:
            completion = output.outputs[0]
            option_logprobs = None
            if options.score_options and completion.logprobs:
                tokens = []
                for token_id, step in zip(completion.token_ids, completion.logprobs, strict=False):
                    chosen = step.get(token_id)
                    alternatives = [(lp.decoded_token or "", lp.logprob) for lp in step.values()]
                    tokens.append(((chosen.decoded_token or "") if chosen else "", alternatives))
                option_logprobs = option_logprobs_from_tokens(tokens, options.score_options)
            results.append(
                Generation(
                    completion.text.strip(),
                    option_logprobs,
                    Usage(
                        len(output.prompt_token_ids or []),
                        len(completion.token_ids),
                        int(getattr(output, "num_cached_tokens", 0) or 0),
                    ),
                    completion.finish_reason,
                )
            )
        return results
