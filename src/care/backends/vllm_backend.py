"""``vllm/<path-or-id>``: vLLM's offline engine, for GPU machines.

vLLM is imported only when this backend is used (it needs its own environment and a GPU:
``pip install 'care-alliance[vllm]'``; the code follows vLLM 0.28-0.33, see
``tests/data/vllm_api.json``).

* Prompts are rendered and tokenized by care, exactly as the transformers backend and
  ``care train sft`` do (:mod:`care.backends.hf_prompt`), and sent as token ids with
  ``LLM.generate``: a model without a chat template (a base model fine-tuned in care's
  ``Answer:`` format) works too.
* Automatic prefix caching is on, so CARE's per-item prompts of a session share the
  transcript's KV cache; ``reuse_prefix=False`` skips reading the cache (the naive cost).
  :meth:`generate_batch` submits all prompts at once and vLLM schedules them.
* Option log-probabilities are requested for the options' own tokens
  (``SamplingParams.logprob_token_ids``): every option is scored exactly, wherever it ranks,
  as in the transformers backend.
* JSON answers use structured outputs (``StructuredOutputsParams(json=schema)``).
* ``adapter=DIR`` serves a LoRA adapter; ``max_lora_rank`` comes from its config. A
  directory holding only an adapter (``care train sft --method lora``) may also be given as
  the model: its base model is read from ``adapter_config.json``.
* ``max_model_len``: by default the longest prompt of the first batch plus the answer
  budget, at least 8192 tokens and at most the model's own context (Llama 3.1's 131k context
  would otherwise reserve KV cache that a 24-48 GB card does not have).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from care.backends.base import Backend, BackendError, Generation, GenerationOptions, Message, Usage
from care.backends.hf_prompt import encode_prompt, option_token_ids, stop_token_ids
from care.errors import MissingDependencyError, ModelError

#: The LoRA ranks vLLM accepts for ``max_lora_rank`` (``vllm.config.lora.MaxLoRARanks``).
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
#: Most token ids one request may ask log-probabilities for (``MAX_LOGPROB_TOKEN_IDS``).
MAX_LOGPROB_TOKEN_IDS = 128
#: The smallest context the engine is opened with when ``max_model_len`` is not given.
MIN_CONTEXT = 8192
CONTEXT_STEP = 1024


class VLLMOptions(BaseModel):
    """Options of the vllm backend (unknown options are refused)."""

    model_config = ConfigDict(extra="forbid")

    dtype: str = Field("auto", description="Weights' dtype.")
    max_model_len: int | None = Field(
        None,
        ge=16,
        description="Context length of the engine; default: the longest prompt of the first "
        "batch plus the answer budget (at least 8192, at most the model's own).",
    )
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    tensor_parallel_size: int = Field(1, ge=1)
    enable_prefix_caching: bool = Field(True, description="Automatic prefix caching.")
    adapter: str | None = Field(None, description="A LoRA adapter directory.")
    max_lora_rank: int | None = Field(
        None, ge=1, description="Largest LoRA rank served; default: the adapter's own rank."
    )


def adapter_rank(adapter: str | Path) -> int | None:
    """The largest LoRA rank in an adapter directory's ``adapter_config.json`` (``r`` and any
    ``rank_pattern``), or None where the file is not there (a hub id)."""
    path = Path(adapter) / "adapter_config.json"
    if not path.is_file():
        return None
    config = json.loads(path.read_text(encoding="utf-8"))
    ranks = [int(config.get("r") or 0), *map(int, (config.get("rank_pattern") or {}).values())]
    return max(ranks) or None


def lora_rank_setting(rank: int) -> int:
    """The smallest ``max_lora_rank`` vLLM accepts that serves an adapter of ``rank``."""
    for allowed in VLLM_LORA_RANKS:
        if allowed >= rank:
            return allowed
    raise ModelError(
        f"a LoRA rank of {rank} is more than vLLM serves ({VLLM_LORA_RANKS[-1]})",
        field="adapter",
        fix="merge the adapter into its base model (care train merge) and serve the result",
    )


def choose_max_model_len(needed: int, model_context: int | None) -> int:
    """The engine's context for prompts of up to ``needed`` tokens with their answers:
    ``needed`` rounded up to a multiple of 1024, at least :data:`MIN_CONTEXT`, at most the
    model's own context."""
    if model_context is not None and needed > model_context:
        raise BackendError(
            f"a prompt and its answer need {needed} tokens, more than the model's context of "
            f"{model_context}",
            fix="shorten the sessions (care sft-data --max-prompt-tokens drops whole turns) or "
            "lower --max-new-tokens",
        )
    length = max(MIN_CONTEXT, math.ceil(needed / CONTEXT_STEP) * CONTEXT_STEP)
    return min(length, model_context) if model_context else length


def model_context(config: Any) -> int | None:
    """The context a transformers model config was trained for (``max_position_embeddings``
    of its text model), where it says."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    value = getattr(text, "max_position_embeddings", None)
    return int(value) if value else None


def engine_arguments(
    model: str, tokenizer: str, config: VLLMOptions, max_model_len: int, lora_rank: int | None
) -> dict[str, Any]:
    """Keyword arguments of ``vllm.LLM`` (its own parameters and ``EngineArgs`` fields)."""
    arguments: dict[str, Any] = {
        "model": model,
        "tokenizer": tokenizer,
        "dtype": config.dtype,
        "max_model_len": max_model_len,
        "gpu_memory_utilization": config.gpu_memory_utilization,
        "tensor_parallel_size": config.tensor_parallel_size,
        "enable_prefix_caching": config.enable_prefix_caching,
    }
    if lora_rank is not None:
        arguments.update(enable_lora=True, max_loras=1, max_lora_rank=lora_rank)
    return arguments


def sampling_arguments(
    options: GenerationOptions, option_ids: Sequence[int], stop_ids: set[int]
) -> dict[str, Any]:
    """Keyword arguments of ``vllm.SamplingParams`` for ``options`` (the JSON schema, if
    any, goes separately into ``StructuredOutputsParams(json=...)``)."""
    arguments: dict[str, Any] = {
        "max_tokens": options.max_tokens,
        "temperature": options.temperature,
        "seed": options.seed,
        "stop": list(options.stop) if options.stop else None,
        "stop_token_ids": sorted(stop_ids) or None,
    }
    if option_ids:
        if len(option_ids) > MAX_LOGPROB_TOKEN_IDS:
            raise BackendError(
                f"{len(option_ids)} option tokens are more than vLLM scores in one request "
                f"({MAX_LOGPROB_TOKEN_IDS})",
                fix="use fewer options",
            )
        # Exactly these tokens' log-probabilities at every generated position (``logprobs``
        # must then be unset or equal to their number).
        arguments["logprob_token_ids"] = sorted(option_ids)
    if not options.reuse_prefix:
        arguments["skip_reading_prefix_cache"] = True
    return arguments


def _logsumexp(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return -math.inf
    top = max(finite)
    return top + math.log(math.fsum(math.exp(v - top) for v in finite))


def option_logprobs_of(
    token_ids: Sequence[int],
    positions: Sequence[dict[int, Any] | None] | None,
    option_ids: dict[str, list[int]],
) -> dict[str, float] | None:
    """Each option's log-probability at the answer's option position: the first generated
    token that is one of the options' tokens (else the first token), summed over the
    option's token variants. ``positions`` is vLLM's per-token ``{token_id: Logprob}``."""
    if not option_ids or not positions:
        return None
    wanted = {i for ids in option_ids.values() for i in ids}
    step = next((k for k, t in enumerate(token_ids) if t in wanted), 0)
    if step >= len(positions) or positions[step] is None:
        return None
    at = positions[step]
    return {
        option: _logsumexp([float(at[i].logprob) for i in ids if i in at])
        for option, ids in option_ids.items()
    }


class VLLMBackend(Backend):
    """vLLM offline engine (see the module docstring)."""

    provider = "vllm"

    def __init__(self, model: str, **options: Any) -> None:
        super().__init__(model, **options)
        self.config = self.parse_options(VLLMOptions, options)
        from care.backends.transformers_backend import split_adapter_dir

        self._base, self._adapter, self._tokenizer_path = split_adapter_dir(
            model, self.config.adapter
        )
        self._engine: Any = None
        self._tokenizer: Any = None
        self.max_model_len: int | None = self.config.max_model_len

    @property
    def tokenizer(self) -> Any:
        """The model's Hugging Face tokenizer (loaded without the engine)."""
        if self._tokenizer is None:
            try:
                from transformers import AutoTokenizer
            except ImportError as error:
                raise MissingDependencyError("transformers", "vllm", "the vllm backend") from error
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(self._tokenizer_path)
            except (OSError, ValueError) as error:
                raise ModelError(
                    f"cannot load the tokenizer of {self._tokenizer_path!r}: "
                    f"{str(error).splitlines()[0]}",
                    file=self._tokenizer_path,
                    fix="give a local model directory or a reachable hub id",
                ) from error
        return self._tokenizer

    def lora_rank(self) -> int | None:
        """``max_lora_rank`` for the engine, or None without an adapter."""
        if self._adapter is None:
            return None
        rank = self.config.max_lora_rank or adapter_rank(self._adapter)
        return lora_rank_setting(rank) if rank else None

    def _model_context(self) -> int | None:
        try:
            from transformers import AutoConfig

            return model_context(AutoConfig.from_pretrained(self._base))
        except (ImportError, OSError, ValueError):
            return None

    def engine_for(self, needed: int) -> Any:
        """The ``vllm.LLM`` engine, created on first use with a context for prompts and
        answers of ``needed`` tokens (unless ``max_model_len`` was given)."""
        if self._engine is None:
            try:
                import vllm
            except ImportError as error:
                raise MissingDependencyError("vllm", "vllm", "the vllm backend") from error
            if self.max_model_len is None:
                self.max_model_len = choose_max_model_len(needed, self._model_context())
            self._engine = vllm.LLM(
                **engine_arguments(
                    self._base,
                    self._tokenizer_path,
                    self.config,
                    self.max_model_len,
                    self.lora_rank(),
                )
            )
        return self._engine

    @property
    def engine(self) -> Any:
        """The ``vllm.LLM`` engine (created on first use)."""
        return self.engine_for(MIN_CONTEXT)

    def _sampling(self, options: GenerationOptions) -> tuple[Any, dict[str, list[int]]]:
        import vllm

        option_ids = option_token_ids(self.tokenizer, options.score_options or ())
        flat = sorted({i for ids in option_ids.values() for i in ids})
        arguments = sampling_arguments(options, flat, stop_token_ids(self.tokenizer))
        if options.json_schema is not None:
            from vllm.sampling_params import StructuredOutputsParams

            arguments["structured_outputs"] = StructuredOutputsParams(json=options.json_schema)
        return vllm.SamplingParams(**arguments), option_ids

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Generation:
        """One chat (vLLM reuses cached prefixes across calls)."""
        return self.generate_batch([messages], options)[0]

    def generate_batch(
        self, batch: Sequence[Sequence[Message]], options: GenerationOptions
    ) -> list[Generation]:
        """All chats submitted at once, as token ids rendered by care."""
        prompts = [encode_prompt(self.tokenizer, messages) for messages in batch]
        longest = max(len(ids) for ids in prompts)
        if self.max_model_len is not None and longest >= self.max_model_len:
            raise BackendError(
                f"a prompt of {longest} tokens does not fit the engine's context of "
                f"{self.max_model_len}",
                field="max_model_len",
                fix="give the backend option max_model_len, or shorten the sessions",
            )
        engine = self.engine_for(longest + options.max_tokens)
        from vllm.inputs import TokensPrompt

        sampling, option_ids = self._sampling(options)
        kwargs: dict[str, Any] = {"use_tqdm": False}
        if self._adapter:
            from vllm.lora.request import LoRARequest

            kwargs["lora_request"] = LoRARequest(
                lora_name="adapter", lora_int_id=1, lora_path=self._adapter
            )
        outputs = engine.generate(
            [TokensPrompt(prompt_token_ids=ids) for ids in prompts], sampling, **kwargs
        )
        results = []
        for ids, output in zip(prompts, outputs, strict=True):
            completion = output.outputs[0]
            token_ids = list(completion.token_ids)
            results.append(
                Generation(
                    completion.text.strip(),
                    option_logprobs_of(token_ids, completion.logprobs, option_ids),
                    Usage(len(ids), len(token_ids), int(output.num_cached_tokens or 0)),
                    completion.finish_reason,
                )
            )
        return results

    def close(self) -> None:
        """Drop the engine (vLLM frees its GPU memory when the engine is collected)."""
        self._engine = None
