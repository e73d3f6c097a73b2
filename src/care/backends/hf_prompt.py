"""The prompt format of care's Hugging Face models: one home for the transformers and vLLM
backends and for ``care train sft``, so that a fine-tuned model is asked exactly as it was
trained.

* A tokenizer with a chat template: the template with its generation prompt; the rendered
  text already holds the template's special tokens, so it is tokenized without adding more.
* A tokenizer without one (a base model): each message's text, a blank line after each, the
  assistant's turns after ``Answer:`` and a newline, and ``Answer:`` and a newline at the end;
  tokenized with the tokenizer's own special tokens (e.g. BOS).

Only tokenizer methods are used (no torch), so the vLLM backend can render prompts before
its engine exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Message = dict[str, str]

PLAIN_ANSWER_CUE = "Answer:\n"
#: End-of-turn tokens of common chat formats (Gemma, Llama 3, ChatML) that end an answer
#: besides the tokenizer's end-of-sequence token.
EXTRA_STOP_TOKENS = ("<end_of_turn>", "<|eot_id|>", "<|im_end|>")


def has_chat_template(tokenizer: Any) -> bool:
    """Whether the tokenizer renders chats with a template of its own."""
    return bool(getattr(tokenizer, "chat_template", None))


def plain_prompt(messages: Sequence[Message]) -> str:
    """The prompt of a model without a chat template (see the module docstring)."""
    parts = []
    for message in messages:
        if message["role"] == "assistant":
            parts.append(f"{PLAIN_ANSWER_CUE}{message['content'].strip()}\n\n")
        else:
            parts.append(f"{message['content'].strip()}\n\n")
    return "".join(parts) + PLAIN_ANSWER_CUE


def render_prompt(tokenizer: Any, messages: Sequence[Message]) -> str:
    """The prompt text of ``messages``, ending where the answer starts."""
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=True
        )
    return plain_prompt(messages)


def encode_prompt(tokenizer: Any, messages: Sequence[Message]) -> list[int]:
    """The prompt's token ids (special tokens as the module docstring says)."""
    text = render_prompt(tokenizer, messages)
    return list(tokenizer(text, add_special_tokens=not has_chat_template(tokenizer)).input_ids)


def option_token_ids(tokenizer: Any, options: Sequence[str]) -> dict[str, list[int]]:
    """For each option string, the single tokens that spell it at the start of an answer
    (the bare string, and its SentencePiece / byte-level forms with a leading space)."""
    vocab = tokenizer.get_vocab()
    found: dict[str, list[int]] = {}
    for option in options:
        ids = {vocab[v] for v in (option, f"▁{option}", f"Ġ{option}") if v in vocab}
        encoded = tokenizer(option, add_special_tokens=False).input_ids
        if len(encoded) == 1:
            ids.add(encoded[0])
        found[option] = sorted(ids)
    return found


def extra_stop_ids(tokenizer: Any) -> set[int]:
    """Token ids of :data:`EXTRA_STOP_TOKENS` in this tokenizer's vocabulary."""
    vocab = tokenizer.get_vocab()
    return {vocab[token] for token in EXTRA_STOP_TOKENS if token in vocab}


def stop_token_ids(tokenizer: Any) -> set[int]:
    """Every token id that ends an answer: end of sequence and the extra end-of-turn ids."""
    return {tokenizer.eos_token_id, *extra_stop_ids(tokenizer)} - {None}
