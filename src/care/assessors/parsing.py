"""Reading a model's answers: CARE's two-line answer or a JSON object, English or Chinese,
(quotes are checked against the transcript by :mod:`care.evidence`).

Parsing never guesses: an answer without exactly one valid option raises
:class:`AnswerParseError`, whose message says why (it is sent back to the model when the
assessor re-asks, and stored with the raw output when the re-asks run out).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_CHOICE_PREFIX = re.compile(
    r"^\s*(?:[*#>\-\s]*)(?:the\s+)?(?:choice|answer|option|selected option|rating|score|"
    r"选择|答案|选项|评分|回答)\s*[:：]?\s*",
    re.IGNORECASE,
)
_REASON_PREFIX = re.compile(
    r"^\s*(?:[*#>\-\s]*)(?:reasons?|rationale|explanation|because|理由|原因|解释)\s*[:：]\s*",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?<![\d.])(\d+)(?![\d])")
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_CHOICE_KEYS = ("choice", "option", "answer", "rating", "score", "value", "选项", "选择", "答案")
_REASON_KEYS = ("reason", "rationale", "explanation", "理由", "原因")


class AnswerParseError(ValueError):
    """An answer could not be read; the message says why."""


@dataclass(frozen=True)
class ParsedAnswer:
    """An answer that was read: the chosen option and the reason (None if not given)."""

    value: int
    reason: str | None


def parse_choice(text: str, values: tuple[int, ...], labels: tuple[str, ...] = ()) -> int:
    """The one option that ``text`` (a choice line or value) names, by number or label."""
    line = _CHOICE_PREFIX.sub("", text.strip()).strip()
    numbers = {int(match) for match in _NUMBER.findall(line)}
    valid = numbers & set(values)
    if len(valid) == 1:
        # "3. Fairly often" names one option; "3 or 4" names two.
        return valid.pop()
    if len(valid) > 1:
        raise AnswerParseError(f"the choice names several options {sorted(valid)}")
    if numbers:
        raise AnswerParseError(
            f"the choice {sorted(numbers)[0]} is not an option (options: {min(values)}-"
            f"{max(values)})"
        )
    lowered = line.lower()
    found = [
        (len(label), value)
        for value, label in zip(values, labels, strict=False)
        if label and label.lower() in lowered
    ]
    if found:
        longest = max(length for length, _ in found)
        chosen = {value for length, value in found if length == longest}
        if len(chosen) == 1:
            return chosen.pop()
    raise AnswerParseError("no option number found in the choice line")


def parse_item_answer(
    text: str,
    values: tuple[int, ...],
    labels: tuple[str, ...] = (),
    *,
    require_reason: bool = True,
) -> ParsedAnswer:
    """Read one item's answer: a JSON object or CARE's two lines (choice, then reason).

    Args:
        text: The model's answer.
        values: The valid option values (e.g. 1-5).
        labels: The option labels in the prompt's language (``"Fairly often"``, ``"有时如此"``),
            accepted in place of a number.
        require_reason: Fail when the answer gives no reason.

    Raises:
        AnswerParseError: The answer names no option, several, one outside the scale, or gives
            no reason (when required).
    """
    if not text or not text.strip():
        raise AnswerParseError("the answer is empty")
    obj = _json_object(text)
    if obj is not None:
        answer = _from_json(obj, values, labels)
    else:
        answer = _from_lines(text, values, labels)
    if require_reason and not answer.reason:
        raise AnswerParseError("the answer gives no reason")
    return answer


def _from_json(obj: dict, values: tuple[int, ...], labels: tuple[str, ...]) -> ParsedAnswer:
    choice = next((obj[key] for key in _CHOICE_KEYS if key in obj), None)
    if choice is None:
        raise AnswerParseError('the JSON answer has no "choice"')
    if isinstance(choice, bool) or not isinstance(choice, int | float | str):
        raise AnswerParseError('the JSON "choice" is not an option number')
    if isinstance(choice, float) and not choice.is_integer():
        raise AnswerParseError(f'the JSON "choice" {choice} is not an option number')
    value = parse_choice(
        str(int(choice)) if not isinstance(choice, str) else choice, values, labels
    )
    reason = next((obj[key] for key in _REASON_KEYS if key in obj), None)
    return ParsedAnswer(value, str(reason).strip() if reason else None)


def _from_lines(text: str, values: tuple[int, ...], labels: tuple[str, ...]) -> ParsedAnswer:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    first = lines[0]
    # Some models write "3. Fairly often. Reason: ..." on one line.
    inline = re.split(r"(?:reasons?|rationale|理由|原因)\s*[:：]", first, maxsplit=1, flags=re.I)
    if len(inline) == 2 and inline[1].strip():
        value = parse_choice(inline[0], values, labels)
        reason = " ".join([inline[1].strip(), *lines[1:]]).strip()
        return ParsedAnswer(value, reason or None)
    value = parse_choice(first, values, labels)
    reason = "\n".join(lines[1:])
    reason = _REASON_PREFIX.sub("", reason).strip()
    return ParsedAnswer(value, reason or None)


def parse_one_pass_answer(
    text: str,
    n_items: int,
    values: tuple[int, ...],
    labels: tuple[str, ...] = (),
    *,
    require_reason: bool = True,
) -> tuple[dict[int, ParsedAnswer], dict[int, str]]:
    """Read an answer that rates every item: a JSON object mapping question numbers to
    ``{"choice", "reason"}`` (or a list of them), or lines ``"<n>. <option> | <reason>"``.

    Returns:
        The answers read, by question number (1-based), and for each question that could
        not be read, why.
    """
    answers: dict[int, ParsedAnswer] = {}
    problems: dict[int, str] = {}
    obj = _json_value(text)
    entries: dict[int, object] = {}
    if isinstance(obj, dict):
        inner = obj.get("items", obj.get("answers", obj))
        if isinstance(inner, list):
            entries = {number: entry for number, entry in enumerate(inner, start=1)}
        elif isinstance(inner, dict):
            for key, entry in inner.items():
                match = _NUMBER.search(str(key))
                if match:
                    entries[int(match.group(1))] = entry
    elif isinstance(obj, list):
        entries = {number: entry for number, entry in enumerate(obj, start=1)}
    else:
        for line in text.splitlines():
            match = re.match(r"^\s*[*#\-\s]*(?:Q|问题|第)?\s*(\d+)\s*[.):：、题]\s*(.*)$", line)
            if match and int(match.group(1)) not in entries:
                entries[int(match.group(1))] = match.group(2)
    for number in range(1, n_items + 1):
        entry = entries.get(number)
        if entry is None:
            problems[number] = f"no answer for question {number}"
            continue
        try:
            if isinstance(entry, dict):
                answers[number] = _from_json(entry, values, labels)
            elif isinstance(entry, int | float | str) and not isinstance(entry, bool):
                choice, _, reason = str(entry).partition("|")
                value = parse_choice(choice, values, labels)
                answers[number] = ParsedAnswer(value, reason.strip() or None)
            else:
                raise AnswerParseError("the answer is neither an object nor a line")
            if require_reason and not answers[number].reason:
                del answers[number]
                raise AnswerParseError("the answer gives no reason")
        except AnswerParseError as error:
            problems[number] = f"question {number}: {error}"
    return answers, problems


def _json_value(text: str) -> object | None:
    candidates = [match.group(1) for match in _FENCE.finditer(text)]
    stripped = text.strip()
    candidates.append(stripped)
    for opener, closer in (("{", "}"), ("[", "]")):
        start, end = stripped.find(opener), stripped.rfind(closer)
        if start != -1 and end > start:
            candidates.append(stripped[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except (json.JSONDecodeError, ValueError):
            continue
    return None


def _json_object(text: str) -> dict | None:
    value = _json_value(text) if "{" in text else None
    return value if isinstance(value, dict) else None
