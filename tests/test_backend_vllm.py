"""The vllm backend's requests against vLLM's API.

vLLM needs a GPU and its own environment. Here the backend runs for real (its tokenizer,
prompt rendering, option tokens, context and LoRA settings) with a recording stand-in for
the ``vllm`` package, and every keyword argument it passes is checked against the API
recorded from the vLLM wheels of the pinned range (``tests/data/vllm_api.json``, written by
``scripts/record_vllm_api.py``). Where vLLM is installed the same arguments build vLLM's
own objects, and with a GPU the engine runs on a tiny random model.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import math
import sys
import types
from pathlib import Path
from typing import Any

import pytest

transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from care.backends.base import BackendError, GenerationOptions  # noqa: E402
from care.backends.hf_prompt import encode_prompt, option_token_ids, plain_prompt  # noqa: E402
from care.backends.vllm_backend import (  # noqa: E402
    MAX_LOGPROB_TOKEN_IDS,
    VLLM_LORA_RANKS,
    VLLMBackend,
    choose_max_model_len,
    lora_rank_setting,
)
from care.errors import ModelError  # noqa: E402
from test_backend_transformers_batch import _tokenizer, _vocab  # noqa: E402

API = json.loads((Path(__file__).parent / "data" / "vllm_api.json").read_text())
HAS_VLLM = importlib.util.find_spec("vllm") is not None
OPTIONS = ("1", "2", "3", "4", "5")
CHAT = [{"role": "user", "content": "how often did the counselor listen rate it 1 2 3"}]
SCHEMA = {"type": "object", "properties": {"choice": {"type": "integer"}}}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model directory as vLLM and care read it: config and tokenizer (the stand-in
    engine needs no weights)."""
    directory = tmp_path_factory.mktemp("vllm-model")
    vocab = _vocab()
    transformers.LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, max_position_embeddings=4096
    ).save_pretrained(directory)
    _tokenizer(vocab).save_pretrained(directory)
    return directory


class FakeVLLM:
    """Records what the backend asks of ``vllm`` and answers like ``LLM.generate``: each
    answer's tokens are ``answer`` and each position's log-probabilities are the requested
    ids (and the sampled token) at ``-1 - id / 100``."""

    def __init__(self, answer: list[int]) -> None:
        self.calls: dict[str, list[dict[str, Any]]] = {}
        self.answer = answer

    def record(self, name: str, kwargs: dict[str, Any]) -> types.SimpleNamespace:
        self.calls.setdefault(name, []).append(kwargs)
        return types.SimpleNamespace(**kwargs)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        fake = self
        vllm = types.ModuleType("vllm")

        class LLM:
            def __init__(self, **kwargs: Any) -> None:
                fake.record("LLM", kwargs)

            def generate(self, prompts: list, sampling_params: Any, **kwargs: Any) -> list:
                fake.record("LLM.generate", {"prompts": prompts, **kwargs})
                each = sampling_params
                if not isinstance(each, list):
                    each = [sampling_params] * len(prompts)
                return [fake.output(p, s) for p, s in zip(prompts, each, strict=True)]

        vllm.LLM = LLM
        vllm.SamplingParams = lambda **kw: fake.record("SamplingParams", kw)
        sampling = types.ModuleType("vllm.sampling_params")
        sampling.StructuredOutputsParams = lambda **kw: fake.record("StructuredOutputsParams", kw)
        inputs = types.ModuleType("vllm.inputs")
        inputs.TokensPrompt = lambda **kw: dict(fake.record("TokensPrompt", kw).__dict__)
        lora = types.ModuleType("vllm.lora")
        request = types.ModuleType("vllm.lora.request")
        request.LoRARequest = lambda **kw: fake.record("LoRARequest", kw)
        for name, module in {
            "vllm": vllm,
            "vllm.sampling_params": sampling,
            "vllm.inputs": inputs,
            "vllm.lora": lora,
            "vllm.lora.request": request,
        }.items():
            monkeypatch.setitem(sys.modules, name, module)

    def output(self, prompt: dict, sampling: Any) -> types.SimpleNamespace:
        requested = getattr(sampling, "logprob_token_ids", None) or []
        answer = self.answer[: getattr(sampling, "max_tokens", None) or len(self.answer)]
        positions = [
            {i: types.SimpleNamespace(logprob=-1 - i / 100) for i in {*requested, token}}
            for token in answer
        ]
        completion = {
            "text": " answer ",
            "token_ids": list(answer),
            "logprobs": positions if requested else None,
            "finish_reason": "stop",
        }
        request: dict[str, Any] = {
            "outputs": [types.SimpleNamespace(**completion)],
            "num_cached_tokens": 7,
        }
        if getattr(sampling, "prompt_logprobs", None) == 0:  # each prompt token's own
            ids = prompt["prompt_token_ids"]
            positions = [
                {t: types.SimpleNamespace(logprob=prompt_logprob(k, t))} for k, t in enumerate(ids)
            ]
            request["prompt_logprobs"] = [None, *positions[1:]]
        # The stand-in answers with the attributes that vLLM's outputs have.
        assert set(completion) <= set(API["CompletionOutput"])
        assert set(request) <= set(API["RequestOutput.__init__"])
        return types.SimpleNamespace(**request)


def prompt_logprob(position: int, token: int) -> float:
    """The stand-in's log-probability of prompt token ``token`` at ``position``."""
    return -0.25 - token / 1000 - position / 10000


def _check_against_api(calls: dict[str, list[dict[str, Any]]]) -> None:
    allowed = {
        "LLM": set(API["LLM.__init__"]) | set(API["EngineArgs"]),
        "LLM.generate": set(API["LLM.generate"]),
        "SamplingParams": set(API["SamplingParams"]),
        "StructuredOutputsParams": set(API["StructuredOutputsParams"]),
        "TokensPrompt": set(API["TokensPrompt"]),
        "LoRARequest": set(API["LoRARequest"]),
    }
    for name, made in calls.items():
        for kwargs in made:
            unknown = set(kwargs) - allowed[name]
            assert not unknown, f"{name} has no {sorted(unknown)} in vLLM {API['versions']}"


def test_recorded_api_matches_the_backends_constants() -> None:
    assert API["versions"] == ["0.28.0", "0.33.0"]
    assert list(VLLM_LORA_RANKS) == API["MaxLoRARanks"]
    assert API["MAX_LOGPROB_TOKEN_IDS"] == MAX_LOGPROB_TOKEN_IDS
    # The API this backend is written for, and what it replaced.
    assert {"structured_outputs", "logprob_token_ids", "skip_reading_prefix_cache"} <= set(
        API["SamplingParams"]
    )
    assert "guided_decoding" not in API["SamplingParams"]
    assert {"enable_lora", "max_lora_rank", "max_loras", "max_model_len"} <= set(API["EngineArgs"])


def test_requests_are_built_with_the_current_api(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = VLLMBackend(str(model_dir))
    tokenizer = backend.tokenizer
    ids = option_token_ids(tokenizer, OPTIONS)
    other = tokenizer.convert_tokens_to_ids("w5")
    fake = FakeVLLM(answer=[other, ids["3"][0], tokenizer.eos_token_id])
    fake.install(monkeypatch)
    options = GenerationOptions(
        max_tokens=12, score_options=OPTIONS, json_schema=SCHEMA, stop=("\n",), reuse_prefix=False
    )
    result = backend.generate_batch([CHAT, CHAT], options)
    _check_against_api(fake.calls)

    engine = fake.calls["LLM"][0]
    assert engine["model"] == engine["tokenizer"] == str(model_dir)
    assert engine["max_model_len"] == 4096  # at least 8192, but the model's own is 4096
    assert "enable_lora" not in engine
    sampling = fake.calls["SamplingParams"][0]
    flat = sorted(i for option in OPTIONS for i in ids[option])
    assert sampling["logprob_token_ids"] == flat and "logprobs" not in sampling
    assert sampling["structured_outputs"].json == SCHEMA
    assert tokenizer.eos_token_id in sampling["stop_token_ids"] and sampling["stop"] == ["\n"]
    assert sampling["skip_reading_prefix_cache"] is True  # reuse_prefix=False: naive cost
    prompts = fake.calls["LLM.generate"][0]["prompts"]
    assert [p["prompt_token_ids"] for p in prompts] == [encode_prompt(tokenizer, CHAT)] * 2
    assert fake.calls["LLM.generate"][0]["use_tqdm"] is False

    # Options are read at the answer's first option token, every option exactly.
    first = result[0]
    assert first.text == "answer" and first.finish_reason == "stop"
    for option in OPTIONS:
        expected = math.log(sum(math.exp(-1 - i / 100) for i in ids[option]))
        assert first.option_logprobs[option] == pytest.approx(expected)
    assert first.usage.prompt_tokens == len(prompts[0]["prompt_token_ids"])
    assert first.usage.completion_tokens == 3 and first.usage.cached_tokens == 7

    # Prefix reuse on: the cache is read (the default), no constraint without a schema.
    backend.generate(CHAT, GenerationOptions(max_tokens=4))
    plain = fake.calls["SamplingParams"][-1]
    assert "skip_reading_prefix_cache" not in plain and "structured_outputs" not in plain
    assert "logprob_token_ids" not in plain
    assert len(fake.calls["LLM"]) == 1  # one engine for the backend's life


def test_a_model_without_a_chat_template_gets_cares_plain_format(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "base-model"
    path.mkdir()
    for file in model_dir.iterdir():
        (path / file.name).write_bytes(file.read_bytes())
    config = json.loads((path / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (path / "tokenizer_config.json").write_text(json.dumps(config))
    (path / "chat_template.jinja").unlink(missing_ok=True)
    backend = VLLMBackend(str(path))
    assert not getattr(backend.tokenizer, "chat_template", None)
    fake = FakeVLLM(answer=[backend.tokenizer.eos_token_id])
    fake.install(monkeypatch)
    backend.generate(CHAT, GenerationOptions(max_tokens=4))
    sent = fake.calls["LLM.generate"][0]["prompts"][0]["prompt_token_ids"]
    # care's base-model format (the text, a blank line, "Answer:"), as training used it.
    assert plain_prompt(CHAT) == f"{CHAT[0]['content']}\n\nAnswer:\n"
    assert sent == backend.tokenizer(plain_prompt(CHAT), add_special_tokens=True).input_ids
    assert sent == encode_prompt(backend.tokenizer, CHAT)


def _adapter(directory: Path, base: Path, r: int, **extra: Any) -> Path:
    directory.mkdir()
    config = {"r": r, "base_model_name_or_path": str(base), "peft_type": "LORA", **extra}
    (directory / "adapter_config.json").write_text(json.dumps(config))
    return directory


def test_lora_rank_comes_from_the_adapter(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = _adapter(tmp_path / "r32", model_dir, 32)
    fake = FakeVLLM(answer=[3])
    fake.install(monkeypatch)
    VLLMBackend(str(model_dir), adapter=str(adapter)).generate(CHAT, GenerationOptions())
    # The adapter folder alone names its base model.
    VLLMBackend(str(_adapter(tmp_path / "r40", model_dir, 40))).generate(CHAT, GenerationOptions())
    _check_against_api(fake.calls)
    first, second = fake.calls["LLM"]
    assert (first["enable_lora"], first["max_lora_rank"], first["max_loras"]) == (True, 32, 1)
    assert second["model"] == str(model_dir) and second["max_lora_rank"] == 64
    assert [c["lora_path"] for c in fake.calls["LoRARequest"]] == [
        str(adapter),
        str(tmp_path / "r40"),
    ]
    pattern = _adapter(tmp_path / "pattern", model_dir, 8, rank_pattern={"q_proj": 128})
    assert VLLMBackend(str(pattern)).lora_rank() == 128
    assert [lora_rank_setting(r) for r in (1, 2, 16, 17, 300, 512)] == [1, 8, 16, 32, 320, 512]
    with pytest.raises(ModelError, match="more than vLLM serves"):
        lora_rank_setting(1024)


def test_context_fits_the_prompts_and_the_model(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert choose_max_model_len(100, 131072) == 8192
    assert choose_max_model_len(9000, 131072) == 9216
    assert choose_max_model_len(9000, None) == 9216
    with pytest.raises(BackendError, match="more than the model's context"):
        choose_max_model_len(5000, 4096)
    fake = FakeVLLM(answer=[3])
    fake.install(monkeypatch)
    backend = VLLMBackend(str(model_dir), max_model_len=32)
    with pytest.raises(BackendError, match="does not fit the engine's context of 32"):
        backend.generate([{"role": "user", "content": " ".join(["yes"] * 40)}], GenerationOptions())
    assert "LLM.generate" not in fake.calls  # refused before the engine was asked


@pytest.mark.skipif(not HAS_VLLM, reason="vLLM is not installed")
def test_arguments_build_vllms_own_objects(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeVLLM(answer=[3])
    real: dict[str, Any] = {}
    import vllm
    from vllm.sampling_params import StructuredOutputsParams

    real["LLM"] = vllm.LLM
    fake.install(monkeypatch)
    options = GenerationOptions(max_tokens=4, score_options=OPTIONS, json_schema=SCHEMA)
    VLLMBackend(str(model_dir)).generate(CHAT, options)
    monkeypatch.undo()
    for kwargs in fake.calls["SamplingParams"]:
        kwargs = dict(kwargs)
        structured = kwargs.pop("structured_outputs", None)
        if structured is not None:
            kwargs["structured_outputs"] = StructuredOutputsParams(**structured.__dict__)
        vllm.SamplingParams(**kwargs)
    init = set(inspect.signature(real["LLM"].__init__).parameters)
    engine_fields = set(inspect.signature(vllm.EngineArgs).parameters)
    assert set(fake.calls["LLM"][0]) <= init | engine_fields
    assert set(fake.calls["LLM.generate"][0]) - {"prompts"} <= set(
        inspect.signature(real["LLM"].generate).parameters
    )


def test_vllm_engine_on_a_gpu(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if not HAS_VLLM or not torch.cuda.is_available():
        pytest.skip("the engine needs vLLM and a CUDA GPU")
    vocab = _vocab()
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
    )
    transformers.LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(tmp_path)
    _tokenizer(vocab).save_pretrained(tmp_path)
    backend = VLLMBackend(str(tmp_path), gpu_memory_utilization=0.3)
    options = GenerationOptions(max_tokens=6, score_options=OPTIONS)
    results = backend.generate_batch([CHAT, CHAT], options)
    for result in results:
        assert set(result.option_logprobs) == set(OPTIONS)
        assert all(math.isfinite(v) for v in result.option_logprobs.values())
    assert results[1].usage.cached_tokens > 0  # the shared prompt came from the cache
    assert backend.max_model_len == 2048
    base = importlib.import_module("care.backends.base")
    if hasattr(base, "ScoringOptions"):  # the same scores as the transformers backend
        from care.backends.transformers_backend import TransformersBackend

        options = base.ScoringOptions(continuations=(*OPTIONS, "client said yes"))
        scored = backend.score_continuations(CHAT, options)
        reference = TransformersBackend(str(tmp_path), device="cuda", dtype="bfloat16")
        expected = reference.score_continuations(CHAT, options)
        for continuation, value in expected.logprobs.items():
            assert scored.logprobs[continuation] == pytest.approx(value, abs=0.05)
    backend.close()


# -- likelihood scoring (the ScoringOptions interface of care.backends.base) -----------------

needs_scoring = pytest.mark.skipif(
    not hasattr(importlib.import_module("care.backends.base"), "ScoringOptions"),
    reason="the likelihood-scoring interface is not in this tree",
)


@needs_scoring
def test_single_token_options_are_scored_in_one_request_per_prompt(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from care.backends.base import ScoringOptions

    backend = VLLMBackend(str(model_dir))
    tokenizer = backend.tokenizer
    fake = FakeVLLM(answer=[tokenizer.convert_tokens_to_ids("w9")])
    fake.install(monkeypatch)
    options = ScoringOptions(continuations=OPTIONS, answer_prefix="rate it ")
    scores = backend.score_batch([CHAT, CHAT], options)
    _check_against_api(fake.calls)
    sampling = fake.calls["SamplingParams"][0]
    ids = {o: tokenizer.convert_tokens_to_ids(o) for o in OPTIONS}
    assert sampling["max_tokens"] == 1 and sampling["logprob_token_ids"] == sorted(ids.values())
    assert "skip_reading_prefix_cache" not in sampling  # the transcript from the cache
    prompts = fake.calls["LLM.generate"][0]["prompts"]
    opened = (
        encode_prompt(tokenizer, CHAT) + tokenizer("rate it", add_special_tokens=False).input_ids
    )
    assert [p["prompt_token_ids"] for p in prompts] == [opened, opened]
    for result in scores:
        assert result.logprobs == {o: pytest.approx(-1 - ids[o] / 100) for o in OPTIONS}
        assert result.token_counts == dict.fromkeys(OPTIONS, 1) and result.exact
        assert result.usage.prompt_tokens == len(opened) and result.usage.completion_tokens == 0
    naive = options.model_copy(update={"reuse_prefix": False})
    backend.score_continuations(CHAT, naive)
    assert fake.calls["SamplingParams"][-1]["skip_reading_prefix_cache"] is True


@needs_scoring
def test_longer_continuations_sum_their_prompt_logprobs(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from care.backends.base import ScoringOptions

    backend = VLLMBackend(str(model_dir))
    tokenizer = backend.tokenizer
    fake = FakeVLLM(answer=[3])
    fake.install(monkeypatch)
    continuations = ("1 2", "client said yes", "5")
    result = backend.score_continuations(CHAT, ScoringOptions(continuations=continuations))
    _check_against_api(fake.calls)
    assert fake.calls["SamplingParams"][0]["prompt_logprobs"] == 0
    prompt = encode_prompt(tokenizer, CHAT)
    sent = [p["prompt_token_ids"] for p in fake.calls["LLM.generate"][0]["prompts"]]
    for continuation, ids in zip(continuations, sent, strict=True):
        own = tokenizer(continuation, add_special_tokens=False).input_ids
        assert ids == prompt + own
        expected = sum(prompt_logprob(len(prompt) + k, t) for k, t in enumerate(own))
        assert result.logprobs[continuation] == pytest.approx(expected)
        assert result.token_counts[continuation] == len(own)
    assert result.usage.prompt_tokens == sum(map(len, sent))


@needs_scoring
def test_scoring_that_does_not_fit_stops_before_the_engine(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from care.backends.base import ContextOverflowError, ScoringOptions

    fake = FakeVLLM(answer=[3])
    fake.install(monkeypatch)
    backend = VLLMBackend(str(model_dir), max_model_len=32)
    long = [{"role": "user", "content": " ".join(["yes"] * 40)}]
    with pytest.raises(ContextOverflowError):
        backend.score_continuations(long, ScoringOptions(continuations=OPTIONS))
    assert "LLM" not in fake.calls
