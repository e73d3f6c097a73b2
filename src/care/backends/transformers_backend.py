"""``transformers/<path-or-id>``: local models through Hugging Face transformers.

* Any causal LM directory (or hub id, when the hub is reachable) that
  ``AutoModelForCausalLM`` loads; a PEFT adapter with ``adapter=PATH``.
* ``transformers/gemma3-270m`` and ``transformers/smollm2-135m-instruct``: the packaged demo
  models (:mod:`care.backends.demo_models`), converted once from the GGUF files their
  packages ship and cached. Far too small for real assessment; their log-probabilities are
  real.
* Prompts: the model's chat template with its generation prompt (the assistant header) where
  the tokenizer has one, else the plain format (user text, a blank line, ``Answer:``).
* Likelihood scoring (:meth:`TransformersBackend.score_continuations`): the options' log-
  probabilities from the logits at the answer's first positions, nothing generated.
* Prefix reuse: the key/value cache of the previous prompt is kept, and a new prompt that
  shares its beginning (the transcript, in CARE's per-item prompts) only computes the rest.
  ``Usage.cached_tokens`` says how many prompt tokens were reused.
* Batching: with ``reuse_prefix=False`` and ``batch_size > 1``, :meth:`generate_batch` pads
  and generates several prompts at once.

Needs ``pip install 'care-alliance[llm]'`` (torch, transformers; peft for adapters) and, for
the demo model, ``pip install 'care-alliance[demo]'``.
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
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
    Usage,
    continuation_ids,
)
from care.backends.demo_models import (  # re-exported: the demo models' one home
    DEMO_HELP,
    DEMO_MODELS,
    care_cache_dir,
    demo_gguf_path,
    prepare_demo_model,
    prepare_demo_models,
)
from care.backends.hf_prompt import encode_prompt, option_token_ids, render_prompt, stop_token_ids
from care.errors import MissingDependencyError, ModelError

__all__ = [
    "DEMO_HELP",
    "DEMO_MODELS",
    "TransformersBackend",
    "TransformersOptions",
    "care_cache_dir",
    "demo_gguf_path",
    "prepare_demo_model",
    "prepare_demo_models",
    "split_adapter_dir",
]

logger = logging.getLogger(__name__)


def split_adapter_dir(path: str, adapter: str | None) -> tuple[str, str | None, str]:
    """``(base model, adapter, tokenizer)`` to load for ``transformers/<path>``.

    A directory that holds a PEFT adapter (``adapter_config.json`` and no ``config.json``,
    as ``care train sft --method lora`` writes) is loaded on top of the base model its
    config names, with the directory's own tokenizer where it saved one.
    """
    directory = Path(path)
    if (
        adapter is None
        and (directory / "adapter_config.json").is_file()
        and not (directory / "config.json").is_file()
    ):
        config = json.loads((directory / "adapter_config.json").read_text(encoding="utf-8"))
        base = config.get("base_model_name_or_path")
        if not base:
            raise ModelError(
                "the adapter does not name its base model",
                file=str(directory / "adapter_config.json"),
                field="base_model_name_or_path",
                fix="pass the base model as --model transformers/BASE and this directory "
                "as --adapter",
            )
        has_tokenizer = (directory / "tokenizer_config.json").is_file()
        return str(base), str(directory), str(directory) if has_tokenizer else str(base)
    return path, adapter, path


def _import_transformers() -> Any:
    try:
        import torch  # noqa: F401
        import transformers
    except ImportError as error:
        raise MissingDependencyError("transformers", "llm", "the transformers backend") from error
    return transformers


class TransformersOptions(BaseModel):
    """Options of the transformers backend (unknown options are refused)."""

    model_config = ConfigDict(extra="forbid")

    adapter: str | None = Field(None, description="Path of a PEFT adapter to apply.")
    device: str = Field("cpu", description="Torch device: cpu, cuda, cuda:1, mps.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weights' dtype (auto: the checkpoint's, float32 on CPU)."
    )
    batch_size: int = Field(8, ge=1, description="Prompts per batch without prefix reuse.")
    threads: int | None = Field(None, ge=1, description="Torch CPU threads.")


class TransformersBackend(Backend):
    """Local causal LMs through transformers, with KV-cache prefix reuse (see the module
    docstring)."""

    provider = "transformers"

    def __init__(self, model: str, **options: Any) -> None:
        super().__init__(model, **options)
        self.config = self.parse_options(TransformersOptions, options)
        self._model: Any = None
        self._tokenizer: Any = None
        self._cache_ids: list[int] | None = None
        self._cache: Any = None
        self._option_ids: dict[tuple[str, ...], dict[str, list[int]]] = {}

    # -- loading ----------------------------------------------------------------------------

    def model_path(self) -> str:
        """The directory or hub id loaded (the demo model is prepared on first use)."""
        if self.model in DEMO_MODELS:
            return str(prepare_demo_model(self.model))
        return self.model

    def load(self) -> None:
        """Load the tokenizer and model now (otherwise done on first use)."""
        if self._model is not None:
            return
        transformers = _import_transformers()
        import torch

        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        path, adapter, tokenizer_path = split_adapter_dir(self.model_path(), self.config.adapter)
        dtype: Any = "auto"
        if self.config.dtype != "auto":
            dtype = getattr(torch, self.config.dtype)
        elif self.config.device == "cpu":
            dtype = torch.float32
        try:
            self._tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_path)
            # Loaded straight onto the device: no host copy of the weights on a GPU machine.
            model = transformers.AutoModelForCausalLM.from_pretrained(
                path, dtype=dtype, device_map=self.config.device
            )
        except (OSError, ValueError) as error:
            raise ModelError(
                f"cannot load the model {path!r}: {str(error).splitlines()[0]}",
                file=path,
                fix="give a local model directory (config.json, weights, tokenizer) or a "
                "hub id that is reachable; try transformers/gemma3-270m for the demo model",
            ) from error
        if adapter:
            try:
                from peft import PeftModel
            except ImportError as error:
                raise MissingDependencyError("peft", "llm", "PEFT adapters") from error
            model = PeftModel.from_pretrained(model, adapter)
        model.eval()
        self._model = model
        # A PEFT wrapper's forward takes **kwargs: read the arguments of the model inside.
        inner = model.get_base_model() if hasattr(model, "get_base_model") else model
        params = inspect.signature(inner.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self._keep_last = "logits_to_keep" in params
        if self._tokenizer.pad_token_id is None:
            self._tokenizer.pad_token = self._tokenizer.eos_token

    @property
    def tokenizer(self) -> Any:
        """The tokenizer (loads the model on first use)."""
        self.load()
        return self._tokenizer

    # -- prompts ----------------------------------------------------------------------------

    def render(self, messages: Sequence[Message]) -> str:
        """The prompt text: the chat template with its generation prompt where the model has
        one, else plain text ending with ``Answer:`` (base models); see
        :mod:`care.backends.hf_prompt`."""
        return render_prompt(self.tokenizer, messages)

    def encode(self, messages: Sequence[Message], answer_prefix: str = "") -> list[int]:
        """The prompt's token ids (then ``answer_prefix``'s, tokenized after it as an answer
        is in training)."""
        ids = encode_prompt(self.tokenizer, messages)
        if answer_prefix:
            ids += self._tokenize(answer_prefix)
        return ids

    def _tokenize(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def context_window(self) -> int | None:
        """The model's trained context (``max_position_embeddings``)."""
        self.load()
        config = getattr(self._model, "config", None)
        config = getattr(config, "text_config", None) or config
        window = getattr(config, "max_position_embeddings", None)
        return int(window) if window else None

    def count_prompt_tokens(self, messages: Sequence[Message]) -> int | None:
        return len(self.encode(messages))

    def _options_ids(self, options: tuple[str, ...]) -> dict[str, list[int]]:
        if options not in self._option_ids:
            self._option_ids[options] = option_token_ids(self.tokenizer, options)
        return self._option_ids[options]

    # -- generation -------------------------------------------------------------------------

    def _forward(self, ids: list[int], cache: Any, keep: int = 1) -> Any:
        """Run ``ids`` after ``cache``; logits of the last ``keep`` positions (0: all)."""
        import torch

        kwargs: dict[str, Any] = {self._cache_arg: cache, "use_cache": True}
        if self._keep_last:
            kwargs["logits_to_keep"] = keep
        tensor = torch.tensor([ids], device=self._model.device)
        return self._model(input_ids=tensor, **kwargs)

    @staticmethod
    def _cache_of(output: Any) -> Any:
        cache = getattr(output, "cache", None)  # transformers 5 (past_key_values: deprecated)
        return cache if cache is not None else output.past_key_values

    def _prefill(self, ids: list[int], reuse: bool) -> tuple[Any, Any, int]:
        """Run the prompt, reusing the cached computation of a shared prefix."""
        from transformers import DynamicCache

        common = 0
        if reuse and self._cache_ids:
            limit = min(len(self._cache_ids), len(ids) - 1)
            while common < limit and self._cache_ids[common] == ids[common]:
                common += 1
        if common > 0:
            cache = copy.deepcopy(self._cache)
            cache.crop(common - cache.get_seq_length())
        else:
            cache = DynamicCache()
        output = self._forward(ids[common:], cache)
        cache = self._cache_of(output)
        if reuse:
            self._cache_ids = list(ids)
            self._cache = copy.deepcopy(cache)
        else:
            self._cache_ids = self._cache = None
        return output.logits[0, -1], cache, common

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Generation:
        """Answer one chat (greedy at temperature 0)."""
        import torch

        self.load()
        tokenizer = self._tokenizer
        ids = self.encode(messages, options.answer_prefix)
        max_tokens = self.answer_budget(len(ids), options)
        option_ids = self._options_ids(options.score_options) if options.score_options else {}
        id_to_option = {i: option for option, ids_ in option_ids.items() for i in ids_}
        generator = None
        if options.temperature > 0:
            generator = torch.Generator(device="cpu").manual_seed(options.seed or 0)
        stop_ids = stop_token_ids(tokenizer)
        generated: list[int] = []
        option_logprobs: dict[str, float] | None = None
        first_logprobs: Any = None
        finish = "length"
        try:
            with torch.no_grad():
                logits, cache, cached = self._prefill(ids, options.reuse_prefix)
                for step in range(max_tokens):
                    logprobs = torch.log_softmax(logits.float(), dim=-1)
                    if generator is None:
                        token = int(torch.argmax(logprobs))
                    else:
                        probs = torch.softmax(logits.float() / options.temperature, dim=-1)
                        token = int(torch.multinomial(probs.cpu(), 1, generator=generator))
                    if step == 0:
                        first_logprobs = logprobs
                    if option_ids and option_logprobs is None and token in id_to_option:
                        option_logprobs = _gather(logprobs, option_ids)
                    if token in stop_ids:
                        finish = "stop"
                        break
                    generated.append(token)
                    if options.stop and any(
                        s in tokenizer.decode(generated[-8:]) for s in options.stop
                    ):
                        finish = "stop"
                        break
                    output = self._forward([token], cache)
                    cache = self._cache_of(output)
                    logits = output.logits[0, -1]
        except RuntimeError as error:  # out of memory, bad device
            raise BackendError(
                f"transformers failed: {str(error).splitlines()[0]}",
                fix="use shorter sessions, a smaller model, or another device",
            ) from error
        if option_ids and option_logprobs is None and first_logprobs is not None:
            # No option token in the answer: score the options as its first token.
            option_logprobs = _gather(first_logprobs, option_ids)
        text = tokenizer.decode(generated, skip_special_tokens=True)
        if options.stop:
            for stop in options.stop:
                text = text.split(stop)[0]
        usage = Usage(len(ids), len(generated), cached)
        lowered = max_tokens if max_tokens < options.max_tokens else None
        return Generation(text.strip(), option_logprobs, usage, finish, lowered)

    # -- likelihood scoring -----------------------------------------------------------------

    def score_continuations(
        self, messages: Sequence[Message], options: ScoringOptions
    ) -> ContinuationScores:
        """Each continuation's summed log-probability after the prompt (see
        :class:`~care.backends.base.ScoringOptions`), from the raw logits.

        The prompt is computed once (reusing the previous prompt's shared prefix when
        ``reuse_prefix``); a single-token continuation is read at its last position, a longer
        one is fed after it on the prompt's cache, which is then cropped back.
        """
        import torch

        self.load()
        prompt = self.encode(messages)
        tails: dict[str, tuple[list[int], int]] = {}
        for continuation in options.continuations:
            before, own = continuation_ids(self._tokenize, options.answer_prefix, continuation)
            tails[continuation] = (before + own, len(own))
        longest = max(len(tail) for tail, _ in tails.values())
        self.answer_budget(len(prompt), GenerationOptions(max_tokens=longest))
        logprobs: dict[str, float] = {}
        fed = 0
        try:
            with torch.no_grad():
                last, cache, cached = self._prefill(prompt, options.reuse_prefix)
                first = torch.log_softmax(last.float(), dim=-1)
                for continuation, (tail, own) in tails.items():
                    rows = [first]
                    if len(tail) > 1:
                        output = self._forward(tail[:-1], cache, keep=0)
                        rows.extend(torch.log_softmax(output.logits[0].float(), dim=-1))
                        cache = self._cache_of(output)
                        cache.crop(len(prompt) - cache.get_seq_length())
                        fed += len(tail) - 1
                    scores = [float(rows[i][token]) for i, token in enumerate(tail)]
                    logprobs[continuation] = math.fsum(scores[len(tail) - own :])
        except RuntimeError as error:  # out of memory, bad device
            raise BackendError(
                f"transformers failed: {str(error).splitlines()[0]}",
                fix="use shorter sessions, a smaller model, or another device",
            ) from error
        counts = {continuation: own for continuation, (_, own) in tails.items()}
        return ContinuationScores(logprobs, counts, Usage(len(prompt) + fed, 0, cached))

    def generate_batch(
        self, batch: Sequence[Sequence[Message]], options: GenerationOptions
    ) -> list[Generation]:
        """With prefix reuse: one by one (each reusing the previous prompt). Without: padded
        batches of ``batch_size`` prompts generated together."""
        if options.reuse_prefix or self.config.batch_size == 1 or len(batch) == 1:
            return super().generate_batch(batch, options)
        import torch

        self.load()
        tokenizer = self._tokenizer
        results: list[Generation] = []
        size = self.config.batch_size
        option_ids = self._options_ids(options.score_options) if options.score_options else {}
        option_token_set = {i for ids_ in option_ids.values() for i in ids_}
        stop_ids = stop_token_ids(tokenizer)
        for start in range(0, len(batch), size):
            chunk = [self.encode(messages) for messages in batch[start : start + size]]
            width = max(len(ids) for ids in chunk)
            pad = tokenizer.pad_token_id
            input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in chunk])
            mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in chunk])
            stopping: dict[str, Any] = {}
            if options.stop:  # a row ends at a stop string, as in generate()
                stopping["stopping_criteria"] = _stop_strings(tokenizer, options.stop, width)
            with torch.no_grad():
                out = self._model.generate(
                    input_ids=input_ids.to(self._model.device),
                    attention_mask=mask.to(self._model.device),
                    max_new_tokens=options.max_tokens,
                    do_sample=False,
                    # Raw logits, as generate() reads them: scores would come after the
                    # model's own logits processors (e.g. a repetition penalty).
                    output_logits=True,
                    return_dict_in_generate=True,
                    eos_token_id=sorted(stop_ids) or None,
                    pad_token_id=pad,
                    **stopping,
                )
            for row, ids in enumerate(chunk):
                tokens = out.sequences[row, width:].tolist()
                # A finished row is filled with padding up to the longest row of the batch.
                ends = stop_ids | {pad}
                length = next((k for k, t in enumerate(tokens) if t in ends), len(tokens))
                logprobs = None
                if option_ids:
                    step = next((s for s in range(length) if tokens[s] in option_token_set), 0)
                    logprobs = _gather(
                        torch.log_softmax(out.logits[step][row].float(), dim=-1), option_ids
                    )
                text = tokenizer.decode(tokens[:length], skip_special_tokens=True)
                stopped = length < len(tokens)
                for stop in options.stop or ():
                    if stop in text:
                        text, stopped = text.split(stop)[0], True
                results.append(
                    Generation(
                        text.strip(),
                        logprobs,
                        Usage(len(ids), length, 0),
                        "stop" if stopped else "length",
                    )
                )
        return results

    def forget_prefix(self) -> None:
        self._cache = self._cache_ids = None

    def close(self) -> None:
        self._model = self._tokenizer = self._cache = self._cache_ids = None


def _stop_strings(tokenizer: Any, stops: Sequence[str], width: int) -> Any:
    """Stopping criteria that end each row whose last generated tokens hold a stop string
    (decoded as generate() decodes them, so any tokenizer works)."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopStrings(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            done = [
                any(s in tokenizer.decode(row[width:][-8:].tolist()) for s in stops)
                for row in input_ids
            ]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([StopStrings()])


def _gather(logprobs: Any, option_ids: dict[str, list[int]]) -> dict[str, float]:
    """Log-probability of each option (summed over its token variants)."""
    import torch

    result = {}
    for option, ids in option_ids.items():
        result[option] = float(torch.logsumexp(logprobs[ids], dim=0)) if ids else -math.inf
    return result
