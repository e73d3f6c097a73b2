"""The LLM assessor in generate mode with the real chat model SmolLM2-135M-Instruct, through
its chat template, on transformers and llama.cpp: per-item and one-pass, re-asks, the JSON
answer format under llama.cpp's grammar, stop tokens, and the context budget."""

from __future__ import annotations

import json

import pytest

from care.assessors.llm import LLMAssessor
from care.backends.base import ContextOverflowError, GenerationOptions
from real_models import CHAT_MODEL, example_session, llamacpp_backend, transformers_backend

ENGINES = {"transformers": transformers_backend, "llamacpp": llamacpp_backend}


class Spy:
    """The real backend, with every request recorded."""

    def __init__(self, backend) -> None:
        self.backend = backend
        self.requests: list[list[dict[str, str]]] = []

    def __getattr__(self, name):
        return getattr(self.backend, name)

    def generate(self, messages, options):
        self.requests.append(list(messages))
        return self.backend.generate(messages, options)


@pytest.mark.parametrize("engine", ["transformers", "llamacpp"])
def test_per_item_through_the_chat_template_with_reasks(engine) -> None:
    spy = Spy(ENGINES[engine](CHAT_MODEL))
    spy.forget_prefix()
    assessor = LLMAssessor(spy, items=["item1", "item2"], max_new_tokens=24, max_reasks=1)
    result = assessor.assess([example_session(6)])[0]
    assert spy.backend.render(spy.requests[0]).endswith("<|im_start|>assistant\n")
    for item_id, rating in result.items.items():
        # Option probabilities are read at the option token after the assistant header.
        assert sum(rating.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        assert 1.0 <= result.meta["expected_scores"][item_id] <= 5.0
        assert "<|im_" not in (rating.raw_output or "")  # stopped at the end of the turn
        if rating.value is None:
            assert rating.error.startswith("no readable answer after 2 tries")
    # An unreadable first answer was asked again: the model's answer and the re-ask follow.
    reasked = [r for r in spy.requests if len(r) == 3]
    failures = [r for r in result.items.values() if r.value is None]
    if failures or reasked:
        assert reasked and reasked[0][1]["role"] == "assistant"
        assert reasked[0][2]["content"].startswith("Your answer could not be read")
    assert result.meta["usage"]["cached_tokens"] > 0


@pytest.mark.parametrize("engine", ["transformers", "llamacpp"])
def test_one_pass_through_the_chat_template(engine) -> None:
    backend = ENGINES[engine](CHAT_MODEL)
    backend.forget_prefix()
    assessor = LLMAssessor(backend, mode="one-pass", max_new_tokens=12, max_reasks=0)
    result = assessor.assess([example_session(6)])[0]
    assert len(result.items) == 12
    for rating in result.items.values():
        assert rating.value is not None or (rating.raw_output is not None and rating.error)
    usage = result.meta["usage"]
    assert 0 < usage["completion_tokens"] <= 12 * 12


def test_json_answers_under_the_grammar_with_probabilities_at_the_value() -> None:
    backend = llamacpp_backend(CHAT_MODEL)
    assessor = LLMAssessor(
        backend, answer_format="json", items=["item1", "item3"], max_new_tokens=48, max_reasks=0
    )
    result = assessor.assess([example_session(6)])[0]
    for rating in result.items.values():
        answer = json.loads(rating.raw_output)  # the grammar makes every answer parse
        assert answer["choice"] in (1, 2, 3, 4, 5)
        # Read at the option value's token (after '{"choice": '), not at the answer's start.
        assert sum(rating.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        assert rating.value == float(answer["choice"])


def test_llamacpp_opens_the_models_own_context() -> None:
    backend = llamacpp_backend(CHAT_MODEL)
    assert backend.context_window() == 8192  # SmolLM2's trained context, not 4096
    assert backend.render([{"role": "user", "content": "hi"}]).endswith("<|im_start|>assistant\n")


def test_llamacpp_refuses_an_overflow_before_calling_the_engine() -> None:
    backend = llamacpp_backend(CHAT_MODEL)
    long = [{"role": "user", "content": "word " * 9000}]
    with pytest.raises(ContextOverflowError, match="context window of 8192"):
        backend.generate(long, GenerationOptions(max_tokens=8))
    # One-pass asks for 12 x max_new_tokens; a tight context lowers it to fit instead.
    near = [{"role": "user", "content": "word " * 7000}]
    prompt = len(backend.encode(near))
    budget = backend.answer_budget(prompt, GenerationOptions(max_tokens=3072, min_tokens=192))
    assert budget == 8192 - prompt
