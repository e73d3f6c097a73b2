"""Versioned prompt templates (data files per perspective and language) and their renderer.

The templates live in ``care/prompts/templates/<perspective>.<language>.yaml``. Each has an
``id`` and a ``version``; :meth:`PromptTemplate.prompt_version` combines them with the mode
and answer format, and that string is recorded with every result (and keys the run store).

Every per-item prompt is ordered so that the transcript is a shared prefix and the item comes
last: ``preamble, transcript, instruction, question``. Only the question differs between the
items of a session, so an engine with prefix reuse computes the transcript once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Literal

import yaml

from care.data.session import Session
from care.errors import ParameterError
from care.instruments import Instrument

Perspective = Literal["client", "counselor", "observer"]
AnswerFormat = Literal["lines", "json"]
PERSPECTIVES: tuple[str, ...] = ("client", "counselor", "observer")
ANSWER_FORMATS: tuple[str, ...] = ("lines", "json")
TEMPLATE_LANGUAGES: tuple[str, ...] = ("en", "zh")

Message = dict[str, str]

_FIELDS = (
    "id",
    "language",
    "perspective",
    "version",
    "speakers",
    "preamble",
    "instruction",
    "json_instruction",
    "question",
    "option",
    "option_separator",
    "one_pass_instruction",
    "one_pass_json_instruction",
    "one_pass_question",
    "reask",
    "reask_json",
    "reask_one_pass",
)


@dataclass(frozen=True)
class PromptTemplate:
    """One prompt template (see the module docstring); fields mirror the data file."""

    id: str
    language: str
    perspective: str
    version: str
    speakers: dict[str, str] = field(hash=False)
    preamble: str
    instruction: str
    json_instruction: str
    question: str
    option: str
    option_separator: str
    one_pass_instruction: str
    one_pass_json_instruction: str
    one_pass_question: str
    reask: str
    reask_json: str
    reask_one_pass: str

    def prompt_version(self, mode: str = "per-item", answer_format: str = "lines") -> str:
        """The version string recorded with each result, e.g. ``care-client-en@1:item:lines``.

        ``per-item`` and ``naive`` send the same prompts (they differ only in prefix reuse),
        so they share a version; ``one-pass`` has its own.
        """
        kind = "onepass" if mode == "one-pass" else "item"
        return f"{self.id}-{self.language}@{self.version}:{kind}:{answer_format}"

    # -- rendering ---------------------------------------------------------------------------

    def transcript(self, session: Session) -> str:
        """The dialogue as ``Speaker: text`` lines."""
        return "\n".join(
            f"{self.speakers.get(turn.role, turn.role)}: {' '.join(turn.text.split())}"
            for turn in session.turns
        )

    def options(self, instrument: Instrument, item_id: str | None = None) -> str:
        """The options line, e.g. ``1. Seldom; 2. Sometimes; ...``."""
        scale = instrument.scale if item_id is None else instrument.scale_for(item_id)
        labels = instrument.option_labels(self.language, item_id)
        return self.option_separator.join(
            self.option.format(value=value, label=label)
            for value, label in zip(scale.values, labels, strict=False)
        )

    def prefix(self, session: Session, answer_format: str = "lines") -> str:
        """The part of every per-item prompt of ``session`` that comes before the item."""
        instruction = self.json_instruction if answer_format == "json" else self.instruction
        return f"{self.preamble}\n{self.transcript(session)}\n{instruction}\n"

    def item_messages(
        self,
        session: Session,
        instrument: Instrument,
        item_id: str,
        answer_format: str = "lines",
    ) -> list[Message]:
        """The messages asking for one item's rating (transcript first, item last)."""
        question = self.question.format(
            item=instrument.item_text(item_id, self.language),
            options=self.options(instrument, item_id),
        )
        return [{"role": "user", "content": self.prefix(session, answer_format) + question}]

    def one_pass_messages(
        self, session: Session, instrument: Instrument, answer_format: str = "lines"
    ) -> list[Message]:
        """The messages asking for every item of ``instrument`` in one answer."""
        instruction = (
            self.one_pass_json_instruction if answer_format == "json" else self.one_pass_instruction
        ).replace("{options}", self.options(instrument))
        questions = "\n".join(
            self.one_pass_question.format(
                number=number, item=instrument.item_text(item.id, self.language)
            )
            for number, item in enumerate(instrument.items, start=1)
        )
        content = f"{self.preamble}\n{self.transcript(session)}\n{instruction}\n{questions}"
        return [{"role": "user", "content": content}]

    def reask_message(self, reason: str, answer_format: str = "lines", one_pass: bool = False):
        """The follow-up message sent after an answer that could not be read."""
        if one_pass:
            text = self.reask_one_pass
        elif answer_format == "json":
            text = self.reask_json
        else:
            text = self.reask
        return {"role": "user", "content": text.replace("{reason}", reason)}


@cache
def _load(perspective: str, language: str) -> PromptTemplate:
    path = resources.files("care.prompts") / "templates" / f"{perspective}.{language}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    missing = [name for name in _FIELDS if name not in data]
    if missing:  # pragma: no cover - guarded by tests of the shipped files
        raise ParameterError(f"prompt template {path} lacks fields {missing}")
    data["version"] = str(data["version"])
    return PromptTemplate(**{name: data[name] for name in _FIELDS})


def get_template(perspective: str = "client", language: str = "en") -> PromptTemplate:
    """The shipped template for ``perspective`` in ``language`` (English for languages
    without a template of their own)."""
    if perspective not in PERSPECTIVES:
        raise ParameterError(
            f"the prompt perspective must be one of {list(PERSPECTIVES)}; got {perspective!r}",
            field="perspective",
            fix="choose client (the CARE prompt), counselor or observer",
        )
    base = (language or "en").split("-")[0].lower()
    return _load(perspective, base if base in TEMPLATE_LANGUAGES else "en")


__all__ = [
    "ANSWER_FORMATS",
    "PERSPECTIVES",
    "TEMPLATE_LANGUAGES",
    "Message",
    "PromptTemplate",
    "get_template",
]


def prompt_language(session: Session, language: str | None = None) -> str:
    """The language a session is prompted in: ``language`` if given, else the session's
    own (declared or detected), else English."""
    from care.data.language import session_language

    return language or session.language or session_language(session) or "en"
