"""Drafting rationales with a teacher model: for each (session, item) with a known rating,
the teacher explains that rating in CARE's style (a session-level judgement, then the key
exchanges quoted).

The backend, the remote opt-in, redaction and the retrying of transient engine errors are
the model client's (:class:`~care.backends.client.ModelClient`): a remote teacher needs
``allow_remote`` and always sees redacted transcripts. Every draft is written to the store as
soon as it is made; a re-run skips finished drafts and retries engine failures. An answer
with no usable text is stored as ``parse_failure`` with the raw output (never dropped).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from care.data.language import session_language
from care.data.session import Session
from care.errors import CareError, ParameterError
from care.instruments import Instrument
from care.rationales.store import Draft, RationaleStore

logger = logging.getLogger(__name__)

PERSPECTIVES = ("client", "counselor", "observer")
#: Default target length per template language, in the template's ``length_unit``.
DEFAULT_LENGTH = {"zh": 150, "en": 100}
_LEAD = re.compile(r"^\s*(?:[*#>\-\s]*)(?:explanation|rationale|reason|理由|解释)\s*[:：]\s*", re.I)
_NEXT_PROMPT = re.compile(r"\n\s*(?:question|options|问题|选项)\s*[:：]", re.I)


@dataclass(frozen=True)
class DraftTemplate:
    """The ``rationale-draft.<language>.yaml`` template (fields mirror the file)."""

    id: str
    language: str
    version: str
    speakers: dict[str, str]
    length_unit: str
    perspectives: dict[str, str]
    preamble: str
    instruction: str
    question: str
    option: str
    option_separator: str

    def prompt_version(self, perspective: str, length: int) -> str:
        """E.g. ``care-rationale-draft-zh@1:client:150`` (keys the stored drafts)."""
        return f"{self.id}-{self.language}@{self.version}:{perspective}:{length}"

    def messages(
        self,
        session: Session,
        instrument: Instrument,
        item_id: str,
        rating: float,
        perspective: str,
        length: int,
    ) -> list[dict[str, str]]:
        """The prompt: preamble, transcript, instruction, then the item and its rating."""
        transcript = "\n".join(
            f"{self.speakers.get(turn.role, turn.role)}: {' '.join(turn.text.split())}"
            for turn in session.turns
        )
        scale = instrument.scale_for(item_id)
        labels = instrument.option_labels(self.language, item_id)
        by_value = dict(zip(scale.values, labels, strict=False))
        options = self.option_separator.join(
            self.option.format(value=value, label=label) for value, label in by_value.items()
        )
        value = int(rating) if float(rating).is_integer() else rating
        instruction = self.instruction.format(
            length=length, perspective=self.perspectives[perspective]
        )
        question = self.question.format(
            item=instrument.item_text(item_id, self.language),
            options=options,
            rating=value,
            label=by_value.get(value, ""),
        )
        content = f"{self.preamble}\n{transcript}\n{instruction}\n{question}"
        return [{"role": "user", "content": content}]


@cache
def get_draft_template(language: str = "en") -> DraftTemplate:
    """The shipped draft template for ``language`` (English where there is none)."""
    base = (language or "en").split("-")[0].lower()
    base = base if base in ("en", "zh") else "en"
    path = resources.files("care.prompts") / "templates" / f"rationale-draft.{base}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["version"] = str(data["version"])
    data.pop("perspective", None)
    return DraftTemplate(**data)


def clean_draft(text: str) -> str:
    """The rationale in a teacher's answer: a leading ``Explanation:``/``理由：`` label and
    anything from a following ``Question:``/``问题：`` on (a base model running on) removed."""
    text = _NEXT_PROMPT.split(text or "", maxsplit=1)[0]
    return _LEAD.sub("", text.strip()).strip()


def known_ratings(session: Session, instrument: Instrument) -> dict[str, float]:
    """The item ratings the session carries from the instrument's rater (skipped items left
    out)."""
    rating_set = session.rating(instrument.id, instrument.rater)
    if rating_set is None:
        return {}
    return {
        item_id: float(value)
        for item_id, value in rating_set.values.items()
        if value is not None and item_id in instrument
    }


def draft_rationales(
    sessions: Iterable[Session],
    teacher: Any,
    store: RationaleStore,
    *,
    instrument: str | Instrument | None = None,
    language: str | None = None,
    perspective: str = "client",
    length: int | None = None,
    items: list[str] | None = None,
    allow_remote: bool = False,
    redact: bool | None = None,
    max_new_tokens: int = 400,
    max_retries: int = 4,
    backend_options: dict[str, Any] | None = None,
) -> dict[str, int]:
    """Draft a rationale for every (session, item) with a known rating, into ``store``.

    Args:
        sessions: Sessions carrying the ratings to explain.
        teacher: ``"BACKEND/MODEL"`` or a backend instance.
        store: Where drafts go; drafts already there (``ok``/``parse_failure``) are skipped.
        instrument: Instrument id (default ``wai-sr-client``).
        language: Language of the drafts; default: each session's language.
        perspective: Voice of the rationale: ``client``, ``counselor`` or ``observer``.
        length: Target length (Chinese characters for ``zh``, words otherwise); default 150
            for Chinese, 100 for English.
        items: Only these item ids.
        allow_remote: Allow a teacher off this machine (its prompts are redacted).
        redact: Redact local prompts too.
        max_new_tokens: Most tokens per draft.

    Returns:
        Counts: ``drafted``, ``skipped``, ``parse_failure``, ``backend_error``.
    """
    from care.assessors.base import resolve_instrument
    from care.backends.client import ModelClient

    if perspective not in PERSPECTIVES:
        raise ParameterError(
            f"the perspective must be one of {list(PERSPECTIVES)}; got {perspective!r}",
            field="--perspective",
            fix="use client (CARE's), counselor or observer",
        )
    if length is not None and length < 10:
        raise ParameterError(
            f"the target length must be at least 10; got {length}",
            field="--length",
            fix="give characters (Chinese) or words (other languages), e.g. 150",
        )
    inst = resolve_instrument(instrument, "wai-sr-client")
    # The model client supplies the backend, the remote opt-in, redaction and retries.
    caller = ModelClient(
        teacher,
        max_retries=max_retries,
        allow_remote=allow_remote,
        redact=redact,
        backend_options=backend_options,
    )
    from care.backends.base import GenerationOptions

    options = GenerationOptions(max_tokens=max_new_tokens, temperature=0.0)
    counts = {"drafted": 0, "skipped": 0, "parse_failure": 0, "backend_error": 0}
    done = store.finished_keys()
    for session in sessions:
        ratings = known_ratings(session, inst)
        if items is not None:
            ratings = {key: value for key, value in ratings.items() if key in items}
        if not ratings:
            continue
        lang = language or session.language or session_language(session) or "en"
        template = get_draft_template(lang)
        target = length or DEFAULT_LENGTH.get(template.language, 100)
        version = template.prompt_version(perspective, target)
        todo = [
            item_id
            for item_id in ratings
            if (session.id, inst.id, item_id, caller.name, version) not in done
        ]
        counts["skipped"] += len(ratings) - len(todo)
        if not todo:
            continue
        prompted, _ = caller.prepare(session)
        started = time.perf_counter()
        for item_id in todo:
            draft = Draft(
                session_id=session.id,
                instrument=inst.id,
                item_id=item_id,
                teacher=caller.name,
                prompt_version=version,
                rating=ratings[item_id],
                status="ok",
                language=template.language,
                options={
                    "perspective": perspective,
                    "length": target,
                    "length_unit": template.length_unit,
                    "redacted": caller.redacts,
                },
            )
            messages = template.messages(
                prompted, inst, item_id, ratings[item_id], perspective, target
            )
            try:
                generation = caller.generate(messages, options)
            except CareError as error:
                if not caller.has_succeeded and not counts["drafted"]:
                    raise  # a wrong model or URL: fail before writing anything
                draft.status, draft.error = "backend_error", str(error)
            else:
                draft.raw_output = generation.text
                text = clean_draft(generation.text)
                if text:
                    draft.rationale = text
                else:
                    draft.status, draft.error = "parse_failure", "the answer holds no rationale"
            store.put_draft(draft)
            counts["drafted" if draft.status == "ok" else draft.status] += 1
        logger.info(
            "session %s: %d drafts in %.1fs", session.id, len(todo), time.perf_counter() - started
        )
    return counts
