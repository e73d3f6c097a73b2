"""Counting a prompt's tokens for ``care sft-data``'s token budget: a character estimate
(no download) or a model's own tokenizer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

from care.errors import MissingDependencyError, ParameterError
from care.prompts import Message

DEFAULT_CHARS_PER_TOKEN = 4.0

# -- counting tokens --------------------------------------------------------------------------


class TokenCounter(Protocol):
    """Counts a prompt's tokens."""

    description: str

    def count_text(self, text: str) -> int:
        """Tokens of a piece of text (no special tokens)."""

    def count_messages(self, messages: Sequence[Message]) -> int:
        """Tokens of a whole prompt."""


def _is_wide(char: str) -> bool:
    code = ord(char)
    return (
        0x2E80 <= code <= 0x9FFF
        or 0xAC00 <= code <= 0xD7AF
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF
        or 0x20000 <= code <= 0x2FFFF
    )


class CharEstimate:
    """An estimate without a tokenizer: one token per CJK character (and full-width sign),
    one per ``chars_per_token`` other characters."""

    def __init__(self, chars_per_token: float = DEFAULT_CHARS_PER_TOKEN) -> None:
        if not chars_per_token > 0:
            raise ParameterError(
                f"chars per token must be > 0; got {chars_per_token!r}",
                field="--chars-per-token",
                fix="use about 4 for English text",
            )
        self.chars_per_token = chars_per_token
        self.description = (
            f"estimate: {chars_per_token:g} characters per token, one per CJK character "
            "(no tokenizer given)"
        )

    def count_text(self, text: str) -> int:
        wide = sum(1 for char in text if _is_wide(char))
        return wide + math.ceil((len(text) - wide) / self.chars_per_token)

    def count_messages(self, messages: Sequence[Message]) -> int:
        return sum(self.count_text(message["content"]) for message in messages)


class TokenizerCounter:
    """Counts with a real tokenizer: the chat template where the tokenizer has one, else the
    prompt text with the tokenizer's special tokens."""

    def __init__(self, tokenizer: Any, name: str) -> None:
        self.tokenizer = tokenizer
        self.description = f"tokenizer: {name}"

    def count_text(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False).input_ids)

    def count_messages(self, messages: Sequence[Message]) -> int:
        if getattr(self.tokenizer, "chat_template", None):
            ids = self.tokenizer.apply_chat_template(
                list(messages), tokenize=True, add_generation_prompt=True
            )
            if isinstance(ids, dict) or hasattr(ids, "input_ids"):
                ids = ids["input_ids"]
            return len(ids)
        text = "\n\n".join(message["content"].strip() for message in messages)
        return len(self.tokenizer(text).input_ids)


def load_tokenizer(name_or_path: str) -> TokenizerCounter:
    """A :class:`TokenizerCounter` for a local path or hub id; ``gemma3-270m`` (or
    ``transformers/gemma3-270m``) is care's cached demo model."""
    try:
        import transformers
    except ImportError as error:
        raise MissingDependencyError("transformers", "llm", "--tokenizer") from error
    from care.backends.transformers_backend import DEMO_MODELS, prepare_demo_model

    name = name_or_path.removeprefix("transformers/")
    source = str(prepare_demo_model(name)) if name in DEMO_MODELS else name
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise ParameterError(
            f"the tokenizer {name_or_path!r} could not be loaded ({error})",
            field="--tokenizer",
            fix="give a local model folder, a hub id already in the cache, or gemma3-270m",
        ) from error
    return TokenizerCounter(tokenizer, name_or_path)


# -- rationales -------------------------------------------------------------------------------
