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
        self._context: int | None = None

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

    def _sampling(self, options: GenerationOptions) -> tuple[dict[str, Any], dict[str, list[int]]]:
        """``SamplingParams`` keyword arguments, and the options' token ids."""
        option_ids = option_token_ids(self.tokenizer, options.score_options or ())
        flat = sorted({i for ids in option_ids.values() for i in ids})
        arguments = sampling_arguments(options, flat, stop_token_ids(self.tokenizer))
        if options.json_schema is not None:
            from vllm.sampling_params import StructuredOutputsParams

            arguments["structured_outputs"] = StructuredOutputsParams(json=options.json_schema)
        return arguments, option_ids

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Generation:
        """One chat (vLLM reuses cached prefixes across calls)."""
        return self.generate_batch([messages], options)[0]

    def generate_batch(
        self, batch: Sequence[Sequence[Message]], options: GenerationOptions
    ) -> list[Generation]:
        """All chats submitted at once, as token ids rendered by care (then the tokens of
        ``options.answer_prefix``, where given, which the answer continues)."""
        prefix = getattr(options, "answer_prefix", "")
        opened = self._tokenize(prefix) if prefix else []
        prompts = [encode_prompt(self.tokenizer, messages) + opened for messages in batch]
        longest = max(len(ids) for ids in prompts)
        if self.max_model_len is not None and longest >= self.max_model_len:
            raise BackendError(
                f"a prompt of {longest} tokens does not fit the engine's context of "
                f"{self.max_model_len}",
                field="max_model_len",
                fix="give --n-ctx (the backend option max_model_len), or shorten the sessions",
            )
        budget = getattr(self, "answer_budget", None)  # lowers max_tokens to fit the window
        budgets = [budget(len(ids), options) if budget else options.max_tokens for ids in prompts]
        engine = self.engine_for(max(len(ids) + n for ids, n in zip(prompts, budgets, strict=True)))
        from vllm.inputs import TokensPrompt

        arguments, option_ids = self._sampling(options)
        requests = [TokensPrompt(prompt_token_ids=ids) for ids in prompts]
        outputs = self._submit(engine, requests, [{**arguments, "max_tokens": n} for n in budgets])
        results = []
        for ids, n, output in zip(prompts, budgets, outputs, strict=True):
            completion = output.outputs[0]
            token_ids = list(completion.token_ids)
            generation = Generation(
                completion.text.strip(),
                option_logprobs_of(token_ids, completion.logprobs, option_ids),
                Usage(len(ids), len(token_ids), int(output.num_cached_tokens or 0)),
                completion.finish_reason,
            )
            if n < options.max_tokens:
                generation.max_tokens = n  # the budget used, lowered to fit the window
            results.append(generation)
        return results

    # -- likelihood scoring -----------------------------------------------------------------

    def context_window(self) -> int | None:
        """The engine's context (``max_model_len``) once known, else the model's own."""
        if self.max_model_len is None and self._context is None:
            self._context = self._model_context() or 0
        return self.max_model_len or self._context or None

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int | None:
        """The prompt's tokens, counted with the model's tokenizer."""
        return len(encode_prompt(self.tokenizer, messages))

    def _tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def score_continuations(self, messages: Sequence[Message], options: Any) -> Any:
        """Each continuation's summed log-probability after the prompt
        (:class:`~care.backends.base.ScoringOptions`); see :meth:`score_batch`."""
        return self.score_batch([messages], options)[0]

    def score_batch(self, batch: Sequence[Sequence[Message]], options: Any) -> list[Any]:
        """Score every prompt's continuations, all requests submitted at once.

        Where every continuation is one token after the same answer prefix (CARE's options
        ``1``..``5``), one request per prompt generates a single token and reads the
        options' log-probabilities at it (``logprob_token_ids``), with the shared transcript
        from the prefix cache. Otherwise each continuation is appended to the prompt and
        its tokens' prompt log-probabilities are summed (``prompt_logprobs=0``; vLLM then
        computes the whole prompt again). Raw log-probabilities either way.
        """
        from care.backends.base import ContextOverflowError, ContinuationScores, continuation_ids

        tails = {
            c: continuation_ids(self._tokenize, options.answer_prefix, c)
            for c in options.continuations
        }
        prompts = [encode_prompt(self.tokenizer, messages) for messages in batch]
        needed = max(map(len, prompts)) + max(len(b) + len(o) for b, o in tails.values())
        window = self.context_window()
        if window is not None and needed > window:
            raise ContextOverflowError(
                f"a prompt and its longest continuation need {needed} tokens, over the "
                f"context window of {window} tokens of {self.name}",
                field="--n-ctx",
                fix="raise --n-ctx (vLLM's max_model_len, up to the model's own context) or "
                "use shorter sessions",
            )
        engine = self.engine_for(needed)
        from vllm.inputs import TokensPrompt

        counts = {c: len(own) for c, (_, own) in tails.items()}
        befores = {tuple(before) for before, _ in tails.values()}
        if len(befores) == 1 and all(n == 1 for n in counts.values()):
            before = list(next(iter(befores)))
            wanted = sorted({own[0] for _, own in tails.values()})
            arguments = scoring_arguments(wanted, options.reuse_prefix)
            requests = [TokensPrompt(prompt_token_ids=ids + before) for ids in prompts]
            outputs = self._submit(engine, requests, arguments)
            results = []
            for ids, output in zip(prompts, outputs, strict=True):
                position = output.outputs[0].logprobs[0]
                logprobs = {c: _logprob_at(position, own[0]) for c, (_, own) in tails.items()}
                usage = Usage(len(ids) + len(before), 0, int(output.num_cached_tokens or 0))
                results.append(ContinuationScores(logprobs, counts, usage))
            return results
        order = [(k, c) for k in range(len(prompts)) for c in tails]
        requests = [
            TokensPrompt(prompt_token_ids=prompts[k] + tails[c][0] + tails[c][1]) for k, c in order
        ]
        outputs = self._submit(engine, requests, {"max_tokens": 1, "prompt_logprobs": 0})
        scores: list[dict[str, float]] = [{} for _ in prompts]
        usages = [Usage() for _ in prompts]
        for (k, c), request, output in zip(order, requests, outputs, strict=True):
            tokens = request["prompt_token_ids"]
            start = len(tokens) - counts[c]
            scores[k][c] = math.fsum(
                _logprob_at(output.prompt_logprobs[i], tokens[i]) for i in range(start, len(tokens))
            )
            usages[k].add(Usage(len(tokens), 0, int(output.num_cached_tokens or 0)))
        return [
            ContinuationScores({c: s[c] for c in tails}, counts, usage)
            for s, usage in zip(scores, usages, strict=True)
        ]

    def _submit(
        self, engine: Any, requests: list[Any], arguments: dict[str, Any] | list[dict[str, Any]]
    ) -> list[Any]:
        """``LLM.generate`` on all requests at once (one ``SamplingParams`` for all, or one
        per request), with the adapter where there is one."""
        import vllm

        kwargs: dict[str, Any] = {"use_tqdm": False}
        if self._adapter:
            from vllm.lora.request import LoRARequest

            kwargs["lora_request"] = LoRARequest(
                lora_name="adapter", lora_int_id=1, lora_path=self._adapter
            )
        if isinstance(arguments, dict):
            return engine.generate(requests, vllm.SamplingParams(**arguments), **kwargs)
        if all(a == arguments[0] for a in arguments):  # one object for the whole batch
            return engine.generate(requests, vllm.SamplingParams(**arguments[0]), **kwargs)
        sampling = [vllm.SamplingParams(**a) for a in arguments]
        return engine.generate(requests, sampling, **kwargs)

    def close(self) -> None:
        """Drop the engine (vLLM frees its GPU memory when the engine is collected)."""
        self._engine = None


def scoring_arguments(token_ids: Sequence[int], reuse_prefix: bool) -> dict[str, Any]:
    """``SamplingParams`` of a one-token request that returns exactly ``token_ids``'
    log-probabilities at the answer position."""
    arguments: dict[str, Any] = {
        "max_tokens": 1,
        "temperature": 0.0,
        "logprob_token_ids": sorted(token_ids),
    }
    if not reuse_prefix:
        arguments["skip_reading_prefix_cache"] = True
    return arguments


def _logprob_at(position: dict[int, Any] | None, token: int) -> float:
    entry = (position or {}).get(token)
    return float(entry.logprob) if entry is not None else -math.inf
