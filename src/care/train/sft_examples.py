"""The examples of ``care train sft``: ``care sft-data`` lines read and tokenized, with the
loss on the answer only.

The prompt (every message but the last) is tokenized on its own, exactly as the model is
asked at inference (:func:`care.backends.hf_prompt.encode_prompt`); the answer follows it.
With a chat template the answer is the rest of the rendered conversation (the answer and the
template's end of turn); without one it is the answer text and the end-of-sequence token.
Prompt tokens have the label ``-100``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from care.backends.hf_prompt import encode_prompt, has_chat_template, render_prompt
from care.errors import DataError, ModelError

IGNORE = -100


def load_examples(path: Path) -> list[list[dict[str, str]]]:
    """The ``messages`` of each line of a ``care sft-data`` train.jsonl file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}", file=str(path), fix="run care sft-data first")
    examples: list[list[dict[str, str]]] = []
    problems: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(f"line {number}: not JSON ({error.msg})")
            continue
        messages = record.get("messages") if isinstance(record, dict) else None
        if (
            not isinstance(messages, list)
            or len(messages) < 2
            or not all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages)
            or messages[-1].get("role") != "assistant"
        ):
            problems.append(f"line {number}: needs 'messages' ending with an assistant message")
            continue
        examples.append([{"role": m["role"], "content": m["content"]} for m in messages])
    if problems:
        shown = "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" * (len(problems) > 5))
        raise DataError(
            f"{path}: {shown}", file=str(path), fix="give the train.jsonl that care sft-data writes"
        )
    if not examples:
        raise DataError(f"{path} holds no examples", file=str(path))
    return examples


def encode_example(
    tokenizer: Any, messages: list[dict[str, str]], max_length: int | None = None
) -> tuple[list[int], list[int], bool]:
    """``(input_ids, labels, truncated)``: labels are ``-100`` on the prompt's tokens."""
    prompt_messages, answer = messages[:-1], messages[-1]["content"]
    prompt_ids = encode_prompt(tokenizer, prompt_messages)
    if has_chat_template(tokenizer):
        prompt_text = render_prompt(tokenizer, prompt_messages)
        full_text = tokenizer.apply_chat_template(messages, tokenize=False)
        if not full_text.startswith(prompt_text):
            raise ModelError(
                "the chat template renders the prompt differently with the answer after it",
                fix="use a model whose chat template extends the generation prompt",
            )
        answer_ids = tokenizer(full_text[len(prompt_text) :], add_special_tokens=False).input_ids
        if tokenizer.eos_token_id is not None and not answer_ids:
            answer_ids = [tokenizer.eos_token_id]
    else:
        answer_ids = tokenizer(answer.strip(), add_special_tokens=False).input_ids
        if tokenizer.eos_token_id is not None:
            answer_ids = [*answer_ids, tokenizer.eos_token_id]
    input_ids = list(prompt_ids) + list(answer_ids)
    labels = [IGNORE] * len(prompt_ids) + list(answer_ids)
    truncated = max_length is not None and len(input_ids) > max_length
    if truncated:
        input_ids, labels = input_ids[:max_length], labels[:max_length]
    return input_ids, labels, truncated


def tokenize_examples(
    tokenizer: Any, examples: list[list[dict[str, str]]], max_length: int | None
) -> tuple[list[dict[str, list[int]]], int]:
    """Tokenized examples (those with answer tokens left) and how many were truncated."""
    rows, truncated = [], 0
    for messages in examples:
        input_ids, labels, cut = encode_example(tokenizer, messages, max_length)
        truncated += cut
        if any(label != IGNORE for label in labels):
            rows.append({"input_ids": input_ids, "labels": labels})
    if not rows:
        raise DataError(
            "no example keeps any answer token within --max-length",
            field="--max-length",
            fix="raise --max-length or shorten prompts with care sft-data --max-prompt-tokens",
        )
    return rows, truncated
