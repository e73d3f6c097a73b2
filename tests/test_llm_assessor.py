"""The LLM assessor's logic, with a test double backend (the real engines are tested in
test_backend_transformers.py and test_backend_openai_server.py)."""

from __future__ import annotations

import pytest

from care.assessors.llm import LLMAssessor
from care.backends.registry import (
    get_backend,
    is_backend_spec,
    register_backend,
    unregister_backend,
)
from care.data.session import Session, Turn
from care.errors import ParameterError
from care.store import RunStore
from llm_doubles import ScriptedBackend

SESSION = Session(
    id="s1",
    language="en",
    turns=[
        Turn(index=0, role="counselor", text="Hi Sam, what brings you here? Mail me at a@b.com."),
        Turn(index=1, role="client", text="My name is Sam. I can't sleep before exams."),
        Turn(index=2, role="counselor", text="Let's work out a plan together."),
        Turn(index=3, role="client", text="Yes, that helps a lot."),
    ],
)
LOGPROBS = {"1": -6.0, "2": -4.0, "3": -2.0, "4": -0.3, "5": -1.6}


def good(messages, options) -> str:
    return '4\nThe counselor said "Let\'s work out a plan together" and I said "it was perfect".'


def test_per_item_rates_every_item_with_choice_expected_score_and_checked_quotes() -> None:
    backend = ScriptedBackend(answer=good, logprobs=LOGPROBS)
    result = LLMAssessor(backend).assess([SESSION])[0]
    assert len(backend.calls) == 12
    assert result.item_values() == {f"item{i}": 4.0 for i in range(1, 13)}
    item = result.items["item1"]
    assert (
        item.probabilities is not None
        and max(item.probabilities, key=item.probabilities.get) == "4"
    )
    expected = result.meta["expected_scores"]["item1"]
    assert 3.5 < expected < 4.5 and expected != 4.0  # recorded beside the choice
    quotes = {piece.quote: piece.verbatim for piece in item.evidence}
    assert quotes == {"Let's work out a plan together": True, "it was perfect": False}
    assert result.model_version == "care-client-en@1:item:lines"
    # Every prompt shares the transcript and ends with its item.
    prompts = [messages[-1]["content"] for messages, _ in backend.calls]
    assert all(p.startswith(prompts[0].split("Question:")[0]) for p in prompts)
    assert prompts[2].endswith(
        "Options: 1. Seldom; 2. Sometimes; 3. Fairly often; 4. Very often; 5. Always"
    )
    assert "I believe the counselor likes me." in prompts[2]
    assert all(options.reuse_prefix and options.score_options for _, options in backend.calls)


def test_unreadable_answers_are_reasked_then_stored_as_failures_never_defaulted() -> None:
    answers = iter(["The weather is nice.", "Still no number here.", "Nope."] * 12)
    backend = ScriptedBackend(answer=lambda m, o: next(answers), logprobs=LOGPROBS)
    store = RunStore(":memory:")
    result = LLMAssessor(backend, max_reasks=2, store=store).assess([SESSION])[0]
    assert len(backend.calls) == 36  # 1 ask + 2 re-asks per item
    reask = backend.calls[1][0]
    assert reask[-2] == {"role": "assistant", "content": "The weather is nice."}
    assert "could not be read (no option number found" in reask[-1]["content"]
    assert result.item_values() == {}
    item = result.items["item5"]
    assert item.value is None and item.raw_output == "Nope."
    assert item.error.startswith("no readable answer after 3 tries: no option number")
    # The log-probability path still gives an expected score, stored beside the failure.
    assert result.meta["expected_scores"]["item5"] == pytest.approx(4.02, abs=0.01)
    assert {status for _, status in store.failures()} == {"parse_failure"}


def test_a_reask_that_succeeds_is_used() -> None:
    answers = iter(["hmm", '5\nBecause "that helps a lot".'] * 12)
    backend = ScriptedBackend(answer=lambda m, o: next(answers))
    result = LLMAssessor(backend, max_reasks=1).assess([SESSION])[0]
    assert result.item_values()["item1"] == 5.0
    assert result.items["item1"].evidence[0].verbatim
    assert result.items["item1"].probabilities is None  # the engine gave no log-probabilities


def test_store_resumes_and_skips_finished_items() -> None:
    store = RunStore(":memory:")
    calls = {"n": 0}

    def flaky(messages, options):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt  # the run is killed after five items
        return good(messages, options)

    with pytest.raises(KeyboardInterrupt):
        LLMAssessor(ScriptedBackend(answer=flaky), store=store).assess([SESSION])
    assert store.count_items("ok") == 5
    backend = ScriptedBackend(answer=good)
    result = LLMAssessor(backend, store=store).assess([SESSION])[0]
    assert len(backend.calls) == 7 and len(result.item_values()) == 12
    again = ScriptedBackend(answer=good)
    assert LLMAssessor(again, store=store).assess([SESSION])[0].to_record() == result.to_record()
    assert again.calls == []


def test_transient_errors_are_retried_with_backoff() -> None:
    backend = ScriptedBackend(answer=good, transient_failures=3)
    result = LLMAssessor(backend, max_retries=3, retry_backoff=0.0).assess([SESSION])[0]
    assert len(result.item_values()) == 12 and len(backend.calls) == 15


def test_engine_errors_after_retries_are_failures_retried_by_the_next_run() -> None:
    store = RunStore(":memory:")
    state = {"n": 0}

    def sometimes(messages, options):
        state["n"] += 1
        return good(messages, options)

    backend = ScriptedBackend(answer=sometimes)
    original = backend.generate

    def failing_later(messages, options):
        if state["n"] >= 2:
            backend.transient_failures = 1
        return original(messages, options)

    backend.generate = failing_later  # type: ignore[method-assign]
    result = LLMAssessor(backend, max_retries=0, retry_backoff=0.0, store=store).assess([SESSION])[
        0
    ]
    assert len(result.item_values()) == 2
    assert result.items["item3"].error.startswith("engine error: HTTP 429")
    assert not store.has_assessment(
        "s1",
        instrument="wai-sr-client",
        model="scripted/double",
        prompt_version="care-client-en@1:item:lines",
    )
    rerun = LLMAssessor(ScriptedBackend(answer=good), store=store).assess([SESSION])[0]
    assert len(rerun.item_values()) == 12


def test_one_pass_rates_all_items_in_one_answer() -> None:
    def one_pass(messages, options):
        return "\n".join(f'{n}. {n % 5 + 1} | I said "that helps a lot"' for n in range(1, 13))

    backend = ScriptedBackend(answer=one_pass)
    result = LLMAssessor(backend, mode="one-pass").assess([SESSION])[0]
    assert len(backend.calls) == 1
    assert result.items["item3"].value == 4.0 and result.items["item5"].value == 1.0
    assert result.items["item3"].evidence[0].verbatim
    assert result.model_version == "care-client-en@1:onepass:lines"


def test_one_pass_reasks_only_for_missing_items() -> None:
    answers = iter(
        [
            "\n".join(f"{n}. 3 | ok" for n in range(1, 11)),
            "11. 2 | fine\n12. 5 | great",
        ]
    )
    backend = ScriptedBackend(answer=lambda m, o: next(answers))
    result = LLMAssessor(backend, mode="one-pass").assess([SESSION])[0]
    assert len(backend.calls) == 2 and "question 11" in backend.calls[1][0][-1]["content"]
    assert result.items["item11"].value == 2.0 and result.items["item1"].value == 3.0


def test_json_format_sends_a_schema_and_naive_turns_prefix_reuse_off() -> None:
    backend = ScriptedBackend(answer=lambda m, o: '{"choice": 2, "reason": "no plan"}')
    result = LLMAssessor(backend, answer_format="json", mode="naive").assess([SESSION])[0]
    _, options = backend.calls[0]
    assert options.json_schema["properties"]["choice"]["enum"] == [1, 2, 3, 4, 5]
    assert not options.reuse_prefix
    assert result.items["item1"].value == 2.0
    assert result.model_version == "care-client-en@1:item:json"


def test_chinese_sessions_get_the_chinese_prompt() -> None:
    session = Session(
        id="zh", language="zh", turns=[Turn(index=0, role="client", text="谢谢你，这很有帮助。")]
    )
    backend = ScriptedBackend(answer=lambda m, o: "经常如此\n理由：我说“这很有帮助”。")
    result = LLMAssessor(backend).assess([session])[0]
    assert "问题：" in backend.calls[0][0][-1]["content"]
    assert result.items["item1"].value == 4.0 and result.items["item1"].evidence[0].verbatim
    assert result.model_version == "care-client-zh@1:item:lines"


def test_remote_backends_need_opt_in_and_get_redacted_text() -> None:
    backend = ScriptedBackend(answer=good, remote=True)
    with pytest.raises(ParameterError, match="--allow-remote"):
        LLMAssessor(backend).assess([SESSION])
    assert backend.calls == []
    result = LLMAssessor(backend, allow_remote=True).assess([SESSION])[0]
    sent = " ".join(m["content"] for messages, _ in backend.calls for m in messages)
    assert "Sam" not in sent and "a@b.com" not in sent and "My name is [NAME]" in sent
    assert result.meta["redacted"] and result.meta["redactions"] == 3


def test_backends_are_found_by_provider_string() -> None:
    register_backend("scripted", ScriptedBackend)
    try:
        assert is_backend_spec("scripted/anything")
        assert get_backend("scripted/anything").name == "scripted/anything"
    finally:
        unregister_backend("scripted")
    assert is_backend_spec("transformers/gemma3-270m") and is_backend_spec("openai/x")
    assert not is_backend_spec("models/lite.npz") and not is_backend_spec("model.npz")
    with pytest.raises(ParameterError, match="unknown model provider"):
        get_backend("nosuch/model")
    with pytest.raises(ParameterError, match="invalid openai backend options"):
        get_backend("openai/m", temprature=0.2)


def test_bad_parameters_name_the_choices() -> None:
    with pytest.raises(ParameterError, match="per-item"):
        LLMAssessor(ScriptedBackend(), mode="fast").assess([SESSION])
    with pytest.raises(ParameterError, match="lines"):
        LLMAssessor(ScriptedBackend(), answer_format="xml").assess([SESSION])


def test_engine_sdks_are_imported_only_when_used() -> None:
    import importlib.util
    import sys

    from care.errors import MissingDependencyError

    backend = get_backend("vllm/meta-llama/Llama-3.1-8B-Instruct", gpu_memory_utilization=0.5)
    assert backend.name == "vllm/meta-llama/Llama-3.1-8B-Instruct" and "vllm" not in sys.modules
    if importlib.util.find_spec("vllm") is None:
        with pytest.raises(MissingDependencyError, match=r"care-alliance\[vllm\]"):
            backend.engine  # noqa: B018


def test_vllm_backend_on_a_gpu() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("vllm")
    if not torch.cuda.is_available():
        pytest.skip("vLLM needs a GPU")
    from care.backends.base import GenerationOptions

    backend = get_backend("vllm/facebook/opt-125m", gpu_memory_utilization=0.3)
    generation = backend.generate(
        [{"role": "user", "content": "Answer 1 or 2."}],
        GenerationOptions(max_tokens=4, score_options=("1", "2")),
    )
    assert generation.usage.prompt_tokens > 0
