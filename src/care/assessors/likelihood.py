"""Likelihood scoring of one item: a graded answer from any model, with nothing generated.

For each item the prompt is the assessor's CARE prompt with the answer opened exactly as
``care sft-data`` opens its training answers (the chat template's assistant turn, then the
choice line, which starts with the option's value). Each option is scored as a continuation:
the sum of its tokens' log-probabilities (:meth:`care.backends.base.Backend.score_continuations`).
The rating holds the normalised probabilities over the options (they sum to 1), their argmax
as ``value`` and the expected score. Nothing is parsed, so nothing can fail to parse.

A rationale is generated only on request: the reason line, conditioned on the chosen option
(the answer is opened with the choice line ``"3. Fairly often"`` and the model continues it),
with its quotes checked against the transcript as in generate mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from care.backends.base import (
    ContinuationScores,
    GenerationOptions,
    ScoringOptions,
    expected_score,
    option_probabilities,
)
from care.data.session import Session
from care.evidence import verify_quotes
from care.instruments import Instrument
from care.prompts import PromptTemplate
from care.results import ItemRating

#: Text between the assistant header and the option's value, per answer format.
ANSWER_PREFIXES = {"lines": "", "json": '{"choice": '}
#: Fewest tokens worth generating for a rationale (the budget check lowers to this).
MIN_RATIONALE_TOKENS = 16


@dataclass(frozen=True)
class ItemOptions:
    """The options of one item as scored continuations.

    Attributes:
        values: The scale's values, lowest first.
        continuations: The text scored for each value: the value alone (``"3"``: one
            position), or, where one value's text starts another's (``"1"`` and ``"10"``),
            the value with the option format's separator after it (``"1."``), so that the
            shorter one is not scored as a prefix of the longer one.
    """

    values: tuple[int, ...]
    continuations: tuple[str, ...]


def item_options(template: PromptTemplate, instrument: Instrument, item_id: str) -> ItemOptions:
    """The continuations to score for ``item_id`` (see :class:`ItemOptions`)."""
    values = tuple(int(value) for value in instrument.scale_for(item_id).values)
    texts = [str(value) for value in values]
    if any(a != b and b.startswith(a) for a in texts for b in texts):
        after_value = template.option.split("{value}", 1)[1]
        separator = after_value.split("{label}", 1)[0].rstrip() or " "
        texts = [text + separator for text in texts]
    return ItemOptions(values, tuple(texts))


def scoring_options(options: ItemOptions, answer_format: str, reuse: bool) -> ScoringOptions:
    """The backend request for one item."""
    return ScoringOptions(
        continuations=options.continuations,
        answer_prefix=ANSWER_PREFIXES[answer_format],
        reuse_prefix=reuse,
    )


def rating_from_scores(
    session: Session, item_id: str, options: ItemOptions, scores: ContinuationScores
) -> tuple[ItemRating, dict[str, Any]]:
    """The item's rating (probabilities, argmax value) and its store info (expected score,
    usage) from the backend's scores."""
    logprobs = {
        str(value): scores.logprobs[text]
        for value, text in zip(options.values, options.continuations, strict=True)
    }
    probabilities = option_probabilities(logprobs, options.values)
    if probabilities is None:  # no finite score at all: the engine saw none of the options
        rating = ItemRating(
            session_id=session.id,
            item_id=item_id,
            value=None,
            error="likelihood scoring: no option had a finite log-probability",
        )
        return rating, {"status": "parse_failure", "expected": None, "attempts": 1}
    best = max(options.values, key=lambda value: probabilities[str(value)])
    rating = ItemRating(
        session_id=session.id, item_id=item_id, value=float(best), probabilities=probabilities
    )
    info: dict[str, Any] = {
        "status": "ok",
        "expected": expected_score(probabilities),
        "attempts": 1,
        "usage": scores.usage.to_dict(),
    }
    if not scores.exact:
        info["inexact"] = True
    return rating, info


def rationale_prefix(
    template: PromptTemplate, instrument: Instrument, item_id: str, value: int, answer_format: str
) -> str:
    """The answer opened through the chosen option: ``"3. Fairly often\\n"`` (the choice
    line of ``care sft-data``'s answers) or ``'{"choice": 3, "reason": "'``."""
    if answer_format == "json":
        return f'{{"choice": {value}, "reason": "'
    scale = instrument.scale_for(item_id)
    labels = instrument.option_labels(template.language, item_id)
    label = labels[list(scale.values).index(value)]
    return template.option.format(value=value, label=label) + "\n"


def rationale_options(
    prefix: str, max_new_tokens: int, answer_format: str, reuse: bool
) -> GenerationOptions:
    """The generation request for the reason line after ``prefix``."""
    return GenerationOptions(
        max_tokens=max_new_tokens,
        min_tokens=min(MIN_RATIONALE_TOKENS, max_new_tokens),
        temperature=0.0,
        stop=('"}',) if answer_format == "json" else None,
        answer_prefix=prefix,
        reuse_prefix=reuse,
    )


def write_rationale(
    generate: Callable[[list[dict[str, str]], GenerationOptions], Any],
    messages: list[dict[str, str]],
    rating: ItemRating,
    info: dict[str, Any],
    template: PromptTemplate,
    instrument: Instrument,
    session: Session,
    *,
    answer_format: str,
    max_new_tokens: int,
    reuse: bool,
) -> None:
    """Generate the reason after ``rating``'s chosen option with ``generate`` (the model
    client's), put it on ``rating`` and add its tokens to ``info["usage"]``."""
    value = int(rating.value or 0)
    prefix = rationale_prefix(template, instrument, rating.item_id, value, answer_format)
    generation = generate(messages, rationale_options(prefix, max_new_tokens, answer_format, reuse))
    add_rationale(rating, prefix, generation.text, session)
    usage = dict(info["usage"])
    for name, count in generation.usage.to_dict().items():
        usage[name] = usage.get(name, 0) + count
    info["usage"] = usage


def add_rationale(rating: ItemRating, prefix: str, text: str, session: Session) -> None:
    """Put the generated reason (its first non-empty line; a JSON reason up to its closing
    quote) on ``rating``, with each quote in it checked against the transcript."""
    reason = text
    if prefix.endswith('"'):
        reason = reason.split('"}')[0].rstrip('"')
    lines = [line.strip() for line in reason.splitlines() if line.strip()]
    reason = lines[0] if lines else ""
    rating.rationale = reason or None
    rating.evidence = verify_quotes(reason, session) if reason else []
    rating.raw_output = prefix + text
