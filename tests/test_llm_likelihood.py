"""Likelihood scoring in the LLM assessor: the logic, with a scripted test double (the real
models are driven in test_chat_model_*.py and test_likelihood_real_models.py)."""

from __future__ import annotations

import math

import pytest

from care.assessors.likelihood import item_options
from care.assessors.llm import LLMAssessor
from care.backends.base import ContextOverflowError, GenerationOptions, ScoringOptions
from care.errors import ParameterError
from care.instruments import get_instrument
from care.prompts import get_template
from llm_doubles import SESSION, ScriptedBackend

SCORES = {"1": math.log(0.1), "2": math.log(0.1), "3": math.log(0.2), "4": math.log(0.5)}


def _assess(backend, **options):
    assessor = LLMAssessor(backend, scoring="likelihood", items=["item1", "item2"], **options)
    return assessor.assess([SESSION])[0]


def test_probabilities_value_and_expected_score_without_generating() -> None:
    backend = ScriptedBackend(scores=SCORES)
    result = _assess(backend)
    for item_id, rating in result.items.items():
        assert sum(rating.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert rating.value == 4.0 and rating.error is None
        # "5" was given -20 by the double: nearly no mass.
        assert rating.probabilities["5"] < 1e-6
        expected = sum(int(k) * p for k, p in rating.probabilities.items())
        assert result.meta["expected_scores"][item_id] == pytest.approx(expected, abs=1e-3)
    assert all(isinstance(options, ScoringOptions) for _, options in backend.calls)
    assert result.meta["usage"]["completion_tokens"] == 0
    assert result.meta["scoring"] == "likelihood"
    # The answer is opened exactly as the training answers open: right after the assistant
    # header for the two-line format, after '{"choice": ' for JSON.
    assert backend.calls[0][1].answer_prefix == ""
    assert backend.calls[0][1].continuations == ("1", "2", "3", "4", "5")


def test_json_answers_are_scored_after_the_choice_key() -> None:
    backend = ScriptedBackend(scores=SCORES)
    _assess(backend, answer_format="json")
    assert backend.calls[0][1].answer_prefix == '{"choice": '


def test_rationales_are_generated_after_the_chosen_option() -> None:
    backend = ScriptedBackend(
        scores=SCORES, answer=lambda messages, options: 'You said "It helps to say it".'
    )
    result = _assess(backend, rationales=True)
    generations = [o for _, o in backend.calls if isinstance(o, GenerationOptions)]
    assert len(generations) == 2
    assert generations[0].answer_prefix == "4. Very often\n"
    rating = result.items["item1"]
    assert rating.rationale == 'You said "It helps to say it".'
    assert rating.evidence and rating.evidence[0].verbatim
    assert rating.raw_output.startswith("4. Very often\n")


def test_without_rationales_no_token_is_generated() -> None:
    backend = ScriptedBackend(scores=SCORES)
    result = _assess(backend)
    assert not any(isinstance(o, GenerationOptions) for _, o in backend.calls)
    assert all(r.rationale is None for r in result.items.values())


def test_likelihood_results_have_their_own_prompt_version() -> None:
    generate = LLMAssessor(ScriptedBackend()).prompt_version("en")
    likelihood = LLMAssessor(ScriptedBackend(), scoring="likelihood").prompt_version("en")
    with_reasons = LLMAssessor(ScriptedBackend(), scoring="likelihood", rationales=True)
    assert generate == "care-client-en@1:item:lines"
    assert likelihood == "care-client-en@1:item:lines:likelihood"
    assert with_reasons.prompt_version("en").endswith(":likelihood+rationale")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"scoring": "likelihood", "mode": "one-pass"}, "--mode"),
        ({"scoring": "guess"}, "--scoring"),
        ({"rationales": True}, "--rationales"),
    ],
)
def test_bad_combinations_are_parameter_errors(options, field) -> None:
    with pytest.raises(ParameterError) as raised:
        LLMAssessor(ScriptedBackend(), **options).assess([SESSION])
    assert raised.value.problem.field == field


def test_a_scale_whose_values_prefix_each_other_is_scored_with_the_separator() -> None:
    template = get_template("client", "en")
    wai = item_options(template, get_instrument("wai-sr-client"), "item1")
    assert wai.continuations == ("1", "2", "3", "4", "5")
    kokoro = get_instrument("kokorochat-feedback")
    overall = item_options(template, kokoro, "overall")
    assert overall.continuations[:3] == ("0.", "1.", "2.") and overall.continuations[-1] == "100."
    assert item_options(template, kokoro, "felt_respected").continuations[0] == "0"


def test_a_deterministic_engine_error_is_not_retried() -> None:
    overflow = ContextOverflowError("the prompt has 9000 tokens ...", field="--n-ctx")
    backend = ScriptedBackend(failure=overflow)
    assessor = LLMAssessor(backend, scoring="likelihood", retry_backoff=0.0, items=["item1"])
    with pytest.raises(ContextOverflowError):
        assessor.assess([SESSION])
    assert len(backend.calls) == 1  # failed at once, no backoff


def test_a_transient_engine_error_is_retried() -> None:
    backend = ScriptedBackend(scores=SCORES, transient_failures=2)
    result = LLMAssessor(backend, scoring="likelihood", retry_backoff=0.0, items=["item1"]).assess(
        [SESSION]
    )[0]
    assert result.items["item1"].value == 4.0
    assert len(backend.calls) == 3


def test_the_one_pass_budget_may_shrink_to_fit_but_not_below_its_floor() -> None:
    assessor = LLMAssessor(ScriptedBackend(), mode="one-pass", max_new_tokens=256)
    options = assessor._options(get_instrument("wai-sr-client"), one_pass=True)
    assert options.max_tokens == 12 * 256 and options.min_tokens == 12 * 16
