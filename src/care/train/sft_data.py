"""Supervised fine-tuning data in CARE's format (``care sft-data``).

One example per (session, item) that the client rated: the prompt is exactly the one the LLM
assessor sends for that session and item (:class:`~care.assessors.llm.LLMAssessor`, per-item
mode, ``lines`` answers), and the answer is CARE's two lines, the option line (``3. Fairly
often``) and then the rationale. For the score-only ablation the answer is the option line
alone.

Long transcripts are handled explicitly: with a token budget, whole turns are dropped from the
chosen side (never part of a turn), a marker line in their place says how many were left out,
and the report lists every session that was cut. One transcript cut serves every item of its
session (it is sized for the longest item prompt), so the items still share a prefix.

Outputs: chat-format JSON Lines (``train.jsonl``: ``messages`` plus ``session_id``,
``item_id``, ``client_id`` for grouped cross-validation), Alpaca-format JSON with a
``dataset_info.json`` entry for LLaMA-Factory, and optionally a Hugging Face ``datasets``
folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from care.assessors.base import resolve_instrument
from care.data.corpus import Corpus
from care.data.session import Session, Turn
from care.errors import DataError, MissingDependencyError, ParameterError, Problem
from care.instruments import Instrument
from care.prompts import Message, PromptTemplate, get_template, prompt_language
from care.train.sft_rationales import RationaleSet, read_rationales
from care.train.sft_tokens import (
    CharEstimate,
    TokenCounter,
    TokenizerCounter,
    load_tokenizer,
)

TRUNCATE_SIDES: tuple[str, ...] = ("head", "middle", "tail")
OUTPUT_FORMATS: tuple[str, ...] = ("chat", "alpaca", "both")

_SENTINEL = "CARE-SFT-TURNS-LEFT-OUT"
_MARKERS = {
    "en": "[... {n} turns left out here to fit the length limit ...]",
    "zh": "[……此处省略 {n} 轮对话以适应长度限制……]",
}


@dataclass
class SFTExample:
    """One training example: the assessor's prompt and the answer to learn."""

    messages: list[Message]
    session_id: str
    item_id: str
    client_id: str | None
    language: str
    value: int
    has_rationale: bool

    def chat_record(self) -> dict[str, Any]:
        """The ``train.jsonl`` record."""
        return {
            "messages": self.messages,
            "session_id": self.session_id,
            "item_id": self.item_id,
            "client_id": self.client_id,
            "language": self.language,
            "value": self.value,
            "has_rationale": self.has_rationale,
        }

    def alpaca_record(self) -> dict[str, str]:
        """The ``alpaca.json`` record (instruction = the prompt, output = the answer)."""
        return {
            "instruction": self.messages[-2]["content"],
            "input": "",
            "output": self.messages[-1]["content"],
        }


@dataclass
class Cut:
    """One session whose transcript was shortened to fit the token budget."""

    session_id: str
    turns_total: int
    turns_removed: int
    first_removed: int
    last_removed: int
    tokens_before: int
    tokens_after: int

    @property
    def tokens_removed(self) -> int:
        return self.tokens_before - self.tokens_after


@dataclass
class SFTReport:
    """What was built, skipped and cut."""

    instrument: str
    rater: str
    answer: str
    sessions: int = 0
    examples: int = 0
    skipped_unrated: int = 0
    sessions_without_ratings: int = 0
    score_only_without_rationale: int = 0
    rationales_not_accepted: int = 0
    rationales_unused: int = 0
    examples_without_client_id: int = 0
    languages: dict[str, int] = field(default_factory=dict)
    token_count: str | None = None
    max_prompt_tokens: int | None = None
    truncate: str | None = None
    longest_prompt_tokens: int = 0
    cuts: list[Cut] = field(default_factory=list)
    prompt_versions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cuts"] = [{**asdict(cut), "tokens_removed": cut.tokens_removed} for cut in self.cuts]
        return data

    def lines(self) -> list[str]:
        """The report as text lines."""
        out = [
            f"{self.examples} examples from {self.sessions} sessions "
            f"({self.instrument}, {self.rater} ratings; answers: {self.answer})",
        ]
        if self.skipped_unrated:
            out.append(
                f"skipped {self.skipped_unrated} (session, item) pairs without a rating "
                f"({self.sessions_without_ratings} sessions had no {self.rater} ratings at all)"
            )
        if self.score_only_without_rationale:
            out.append(
                f"{self.score_only_without_rationale} examples have no rationale: their "
                "answer is the option line only (--allow-missing-rationales)"
            )
        if self.rationales_not_accepted:
            out.append(f"{self.rationales_not_accepted} rationales not accepted: not used")
        if self.rationales_unused:
            out.append(f"{self.rationales_unused} rationales match no rated session and item")
        if self.examples_without_client_id:
            out.append(
                f"{self.examples_without_client_id} examples have no client_id (grouped "
                "cross-validation treats each as its own group)"
            )
        if self.max_prompt_tokens is None:
            out.append("no token budget: no transcript was cut")
        else:
            out.append(
                f"token budget {self.max_prompt_tokens} ({self.token_count}); longest prompt "
                f"{self.longest_prompt_tokens}; {len(self.cuts)} sessions cut "
                f"(turns dropped from the {self.truncate})"
            )
            for cut in self.cuts:
                out.append(
                    f"  cut {cut.session_id}: {cut.turns_removed} of {cut.turns_total} turns "
                    f"(turns {cut.first_removed}-{cut.last_removed}), {cut.tokens_removed} "
                    f"tokens ({cut.tokens_before} -> {cut.tokens_after})"
                )
        return out


# -- building ---------------------------------------------------------------------------------


def _removal_order(n: int, side: str) -> list[int]:
    """Turn indices in the order they are dropped; every prefix is a contiguous run."""
    if side == "head":
        return list(range(n))
    if side == "tail":
        return list(range(n - 1, -1, -1))
    centre = n // 2
    order = [centre]
    for step in range(1, n):
        for index in (centre - step, centre + step):
            if 0 <= index < n and len(order) < n:
                order.append(index)
    return order


def _marker(language: str, n: int) -> str:
    return _MARKERS.get(language, _MARKERS["en"]).format(n=n)


def _messages(
    template: PromptTemplate,
    session: Session,
    instrument: Instrument,
    item_id: str,
    removed: list[int],
) -> list[Message]:
    """The assessor's prompt, with the turns in ``removed`` (contiguous) replaced by a marker
    line."""
    if not removed:
        return template.item_messages(session, instrument, item_id, "lines")
    first = min(removed)
    kept = set(range(len(session.turns))) - set(removed)
    turns: list[Turn] = []
    for index, turn in enumerate(session.turns):
        if index == first:
            turns.append(Turn(index=len(turns), role="other", text=_SENTINEL))
        if index in kept:
            turns.append(turn)
    shortened = Session(id=session.id, turns=turns, language=session.language)
    messages = template.item_messages(shortened, instrument, item_id, "lines")
    label = template.speakers.get("other", "other")
    line = _marker(template.language, len(removed))
    return [
        {**message, "content": message["content"].replace(f"{label}: {_SENTINEL}", line)}
        for message in messages
    ]


def _plan_cut(
    template: PromptTemplate,
    session: Session,
    instrument: Instrument,
    item_ids: list[str],
    budget: int,
    counter: TokenCounter,
    side: str,
) -> tuple[list[int], int, int]:
    """The turns to drop so that every item's prompt fits; returns (removed, tokens before,
    tokens after) for the longest item prompt."""

    def longest(removed: list[int]) -> int:
        return max(
            counter.count_messages(_messages(template, session, instrument, item_id, removed))
            for item_id in item_ids
        )

    before = longest([])
    if before <= budget:
        return [], before, before
    order = _removal_order(len(session.turns), side)
    lines = template.transcript(session).split("\n")
    sizes = [counter.count_text(line + "\n") for line in lines]
    marker = counter.count_text(_marker(template.language, len(order)) + "\n")
    # First guess from per-line counts, then check with real counts, dropping more as needed.
    excess = before - budget + marker
    drop = 0
    while drop < len(order) and excess > 0:
        excess -= sizes[order[drop]]
        drop += 1
    while True:
        removed = order[:drop]
        after = longest(removed)
        if after <= budget:
            # Give back turns the estimate dropped but the budget allows.
            while drop > 1 and longest(order[: drop - 1]) <= budget:
                drop -= 1
            removed = order[:drop]
            return removed, before, longest(removed)
        if drop >= len(order):
            raise ParameterError(
                f"session {session.id!r}: even with every turn left out the prompt has "
                f"{after} tokens, over the budget of {budget}",
                field="--max-prompt-tokens",
                fix="raise --max-prompt-tokens above the length of the instruction and question",
            )
        drop += 1


def build_sft_examples(
    corpus: Corpus | Iterable[Session],
    instrument: str | Instrument = "wai-sr-client",
    *,
    rationales: RationaleSet | None = None,
    score_only: bool = False,
    allow_missing_rationales: bool = False,
    language: str | None = None,
    max_prompt_tokens: int | None = None,
    counter: TokenCounter | None = None,
    truncate: str = "middle",
) -> tuple[list[SFTExample], SFTReport]:
    """Build one example per rated (session, item).

    Args:
        corpus: Sessions with ratings on ``instrument`` by the instrument's rater.
        instrument: Instrument id, file or instance.
        rationales: Accepted rationales (see :func:`read_rationales`); needed unless
            ``score_only``.
        score_only: The ablation: answers are the option line only.
        allow_missing_rationales: A rated item without a rationale gets a score-only answer
            (counted) instead of an error.
        language: Prompt language for every session (default: each session's, as the
            assessor decides it).
        max_prompt_tokens: Token budget of a prompt; None: no limit (nothing is cut).
        counter: How tokens are counted (default: :class:`CharEstimate`).
        truncate: Where turns are dropped from: ``head``, ``middle`` or ``tail``.

    Raises:
        ParameterError: A parameter is invalid, or the budget cannot be met.
        DataError: Rated items lack rationales (all listed), or a rating is off the scale.
    """
    if truncate not in TRUNCATE_SIDES:
        raise ParameterError(
            f"truncate must be one of {list(TRUNCATE_SIDES)}; got {truncate!r}",
            field="--truncate",
            fix="head drops the first turns, tail the last, middle the middle ones",
        )
    if max_prompt_tokens is not None and (
        isinstance(max_prompt_tokens, bool)
        or not isinstance(max_prompt_tokens, int)
        or max_prompt_tokens < 1
    ):
        raise ParameterError(
            f"the token budget must be an integer >= 1; got {max_prompt_tokens!r}",
            field="--max-prompt-tokens",
        )
    if rationales is None and not score_only:
        raise ParameterError(
            "training answers need rationales, and none were given",
            field="--rationales",
            fix="give --rationales FILE.jsonl, or --score-only for the score-only ablation",
        )
    instrument = resolve_instrument(instrument, "wai-sr-client")
    counter = counter or CharEstimate()
    report = SFTReport(
        instrument=instrument.id,
        rater=instrument.rater,
        answer="option line only (score-only)" if score_only else "option line + rationale",
        rationales_not_accepted=rationales.not_accepted if rationales else 0,
    )
    if max_prompt_tokens is not None:
        report.max_prompt_tokens = max_prompt_tokens
        report.truncate = truncate
    report.token_count = counter.description
    examples: list[SFTExample] = []
    problems: list[Problem] = []
    used: set[tuple[str, str]] = set()
    versions: set[str] = set()
    for session in corpus:
        report.sessions += 1
        rating = session.rating(instrument.id, instrument.rater)
        values = rating.values if rating is not None else {}
        if rating is None:
            report.sessions_without_ratings += 1
        item_ids = [item.id for item in instrument.items if values.get(item.id) is not None]
        report.skipped_unrated += len(instrument.items) - len(item_ids)
        if not item_ids:
            continue
        session_language = prompt_language(session, language)
        template = get_template(instrument.rater, session_language)
        versions.add(template.prompt_version("per-item", "lines"))
        removed: list[int] = []
        if max_prompt_tokens is not None:
            removed, before, after = _plan_cut(
                template, session, instrument, item_ids, max_prompt_tokens, counter, truncate
            )
            report.longest_prompt_tokens = max(report.longest_prompt_tokens, after)
            if removed:
                report.cuts.append(
                    Cut(
                        session_id=session.id,
                        turns_total=len(session.turns),
                        turns_removed=len(removed),
                        first_removed=min(removed),
                        last_removed=max(removed),
                        tokens_before=before,
                        tokens_after=after,
                    )
                )
        for item_id in item_ids:
            value = values[item_id]
            wrong = instrument.check_value(item_id, value)
            if wrong is not None or float(value) != int(value):
                problems.append(
                    Problem(
                        wrong or f"rating {value} is not an option of the scale",
                        record=f"session {session.id!r}",
                        field=f"ratings.{item_id}",
                    )
                )
                continue
            value = int(value)
            scale = instrument.scale_for(item_id)
            labels = instrument.option_labels(template.language, item_id)
            label = labels[scale.values.index(value)]
            answer = template.option.format(value=value, label=label)
            has_rationale = False
            if not score_only:
                key = (session.id, item_id)
                text = rationales.texts.get(key) if rationales else None
                if text is not None:
                    used.add(key)
                    answer = f"{answer}\n{' '.join(text.split())}"
                    has_rationale = True
                elif allow_missing_rationales:
                    report.score_only_without_rationale += 1
                else:
                    problems.append(
                        Problem(
                            "no accepted rationale for this rated item",
                            record=f"session {session.id!r}",
                            field=item_id,
                            fix="add one to the rationales file, or pass "
                            "--allow-missing-rationales (score-only answers for these)",
                        )
                    )
                    continue
            messages = _messages(template, session, instrument, item_id, removed)
            examples.append(
                SFTExample(
                    messages=[*messages, {"role": "assistant", "content": answer}],
                    session_id=session.id,
                    item_id=item_id,
                    client_id=session.client_id,
                    language=template.language,
                    value=value,
                    has_rationale=has_rationale,
                )
            )
            report.languages[template.language] = report.languages.get(template.language, 0) + 1
            if session.client_id is None:
                report.examples_without_client_id += 1
    if problems:
        raise DataError.from_problems(problems)
    if rationales is not None and not score_only:
        report.rationales_unused = len(set(rationales.texts) - used)
    report.examples = len(examples)
    report.prompt_versions = sorted(versions)
    return examples, report


# -- writing ----------------------------------------------------------------------------------


def write_sft_data(
    examples: Sequence[SFTExample],
    report: SFTReport,
    out: str | Path,
    *,
    format: str = "both",
    hf_dataset: bool = False,
    dataset_name: str = "care_wai",
) -> list[Path]:
    """Write the examples and ``report.json`` into ``out``; returns the files written.

    ``chat``: ``train.jsonl``; ``alpaca``: ``alpaca.json`` and ``dataset_info.json``
    (LLaMA-Factory); ``both``: all of them. ``hf_dataset`` also saves a Hugging Face dataset
    of the chat records in ``out/hf_dataset`` (needs the ``datasets`` package).
    """
    if format not in OUTPUT_FORMATS:
        raise ParameterError(
            f"the output format must be one of {list(OUTPUT_FORMATS)}; got {format!r}",
            field="--format",
        )
    datasets = None
    if hf_dataset:
        try:
            import datasets
        except ImportError as error:
            raise MissingDependencyError(
                "datasets", "sft", "--hf-dataset (a Hugging Face dataset on disk)"
            ) from error
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if format in ("chat", "both"):
        path = out / "train.jsonl"
        with path.open("w", encoding="utf-8") as file:
            for example in examples:
                file.write(json.dumps(example.chat_record(), ensure_ascii=False) + "\n")
        written.append(path)
    if format in ("alpaca", "both"):
        path = out / "alpaca.json"
        records = [example.alpaca_record() for example in examples]
        path.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
        info = {
            dataset_name: {
                "file_name": "alpaca.json",
                "columns": {"prompt": "instruction", "query": "input", "response": "output"},
            }
        }
        info_path = out / "dataset_info.json"
        info_path.write_text(json.dumps(info, indent=2), encoding="utf-8")
        written += [path, info_path]
    if datasets is not None:
        path = out / "hf_dataset"
        datasets.Dataset.from_list([example.chat_record() for example in examples]).save_to_disk(
            str(path)
        )
        written.append(path)
    path = out / "report.json"
    path.write_text(json.dumps(report.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
    written.append(path)
    return written


__all__ = [
    "OUTPUT_FORMATS",
    "TRUNCATE_SIDES",
    "CharEstimate",
    "Cut",
    "RationaleSet",
    "SFTExample",
    "SFTReport",
    "TokenCounter",
    "TokenizerCounter",
    "build_sft_examples",
    "load_tokenizer",
    "read_rationales",
    "write_sft_data",
]
