"""KokoroChat (and its English and Chinese translations): JSON Lines, one session a line.

Each line is ``{"session_id", "dialogue": [{"role", "time", "origin", "content"}],
"topic": {...}, "review_by_client": {...}}`` (see ``shared/data/README.md``).

* Turns come from ``dialogue``: ``role`` (``counselor``/``client``), ``content`` as the
  text, ``time``; the Japanese original ``origin`` is kept in ``turn.meta["origin"]``.
* The language is the ``language`` argument, or detected from the text.
* ``topic`` goes to ``session.meta["topic"]``; ``evaluation_id`` and
  ``evaluation_created_at`` to ``session.meta`` under those names.
* ``review_by_client`` becomes the session's ``client_id``/``counselor_id`` (as strings) and
  a rating set on the ``kokorochat-feedback`` instrument by the client: the 20 items plus
  ``overall`` (the 0-100 ``score``); null items are left out. The three flags
  (``harmful_due_to_ignorance``, ``other_potentially_unethical``, ``unwilling_to_continue``)
  are kept as given in the rating set's meta. Sessions without ``review_by_client`` are
  read as unrated.
* Empty turns: the machine translations leave a few turns empty where the translation of
  a message fragment was folded into its neighbour (59 turns of the English file, 32 of the
  Chinese). By default (``empty_turns="skip"``) they are dropped and listed in
  ``session.meta["skipped_empty_turns"]`` (position in ``dialogue`` and the original
  text); with ``empty_turns="error"`` each is a problem.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from care.data.io.json_text import JSONInputError, json_problem, loads
from care.data.language import session_language
from care.data.session import RatingSet, Session, Turn
from care.errors import ParameterError, Problem, describe

__all__ = ["FEEDBACK_FLAGS", "FEEDBACK_ITEMS", "INSTRUMENT_ID", "parse_kokorochat"]

INSTRUMENT_ID = "kokorochat-feedback"
FEEDBACK_ITEMS: tuple[str, ...] = (
    "felt_heard_and_understood",
    "felt_respected",
    "gained_new_insights",
    "felt_hopeful_or_expectant",
    "concerns_were_addressed",
    "thought_through_concerns_together",
    "conversation_had_good_rhythm",
    "conversation_felt_comfortable",
    "felt_appropriate_and_satisfying",
    "conversation_was_valuable",
    "conversation_started_smoothly",
    "conversation_ended_well",
    "showed_acceptance_and_empathy",
    "provided_acknowledgment_and_affirmation",
    "asked_effective_questions",
    "summarized_key_points_effectively",
    "clarified_issues_cleraly",
    "helped_identify_goals",
    "offered_actionable_suggestions",
    "encouraged_and_instilled_hope",
)
FEEDBACK_FLAGS: tuple[str, ...] = (
    "harmful_due_to_ignorance",
    "other_potentially_unethical",
    "unwilling_to_continue",
)
_EVALUATION_KEYS = ("evaluation_id", "evaluation_created_at")
_ROLES = ("counselor", "client")
_EMPTY_TURNS = ("skip", "error")


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines split on newlines only (JSON strings may hold U+2028 and friends)."""
    start = 0
    number = 0
    while start < len(text):
        end = text.find("\n", start)
        if end == -1:
            end = len(text)
        number += 1
        yield number, text[start:end]
        start = end + 1


def parse_kokorochat(
    text: str,
    *,
    file: str,
    language: str | None = None,
    limit: int | None = None,
    empty_turns: str = "skip",
) -> tuple[list[Session], list[Problem]]:
    """Parse KokoroChat JSON Lines (see the module docstring).

    Args:
        text: The file's text.
        file: The file's name, used in problems.
        language: The language of the translations (``"en"``, ``"zh"``, ``"ja"``); detected
            from the text when None.
        limit: Read only the first ``limit`` sessions (for quick trials and tests).
        empty_turns: ``"skip"`` (default) or ``"error"``: what to do with turns whose
            ``content`` is empty.

    Returns:
        The sessions parsed and every problem found.
    """
    located, problems = parse_kokorochat_located(
        text, file=file, language=language, limit=limit, empty_turns=empty_turns
    )
    return [session for session, _ in located], problems


def parse_kokorochat_located(
    text: str,
    *,
    file: str,
    language: str | None = None,
    limit: int | None = None,
    empty_turns: str = "skip",
) -> tuple[list[tuple[Session, str]], list[Problem]]:
    """Like :func:`parse_kokorochat`, with where each session is (``"line N"``)."""
    if empty_turns not in _EMPTY_TURNS:
        raise ParameterError(
            f"unknown empty_turns {empty_turns!r}",
            field="empty_turns",
            fix=f"use one of {list(_EMPTY_TURNS)}",
        )
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ParameterError(
            f"limit must be a whole number >= 0, got {limit!r}",
            field="limit",
            fix="give the number of sessions to read, e.g. limit=50",
        )
    sessions: list[tuple[Session, str]] = []
    problems: list[Problem] = []
    records = 0
    for number, line in _lines(text):
        if not line.strip():
            continue
        if limit is not None and records >= limit:
            break
        records += 1
        where = f"line {number}"
        try:
            record = loads(line)
        except JSONInputError as error:
            problems.append(json_problem(error, file=file, record=where))
            continue
        session, found = _session(record, file=file, where=where, empty_turns=empty_turns)
        problems.extend(found)
        if session is not None:
            if language is not None:
                session.language = language
            else:
                session.language = session_language(session)
            sessions.append((session, where))
    return sessions, problems


def _session(
    record: Any, *, file: str, where: str, empty_turns: str
) -> tuple[Session | None, list[Problem]]:
    problems: list[Problem] = []

    def problem(message: str, field: str | None, fix: str) -> None:
        problems.append(Problem(message, file=file, record=where, field=field, fix=fix))

    if not isinstance(record, dict):
        problem(
            f"expected a JSON object, got {type(record).__name__}",
            None,
            "write one KokoroChat session object per line",
        )
        return None, problems
    session_id = record.get("session_id")
    if session_id is None or not str(session_id).strip():
        problem("missing session id", "session_id", "give every session a 'session_id'")
    dialogue = record.get("dialogue")
    if not isinstance(dialogue, list) or not dialogue:
        problem("a session needs a non-empty 'dialogue' list", "dialogue", "add its turns")
        dialogue = []

    turns: list[Turn] = []
    skipped: list[dict[str, Any]] = []
    ok = True
    for position, raw in enumerate(dialogue):
        field = f"dialogue[{position}]"
        if not isinstance(raw, dict):
            ok = False
            problem("a turn must be an object", field, "write turns as {'role', 'content', ...}")
            continue
        role = raw.get("role")
        if role not in _ROLES:
            ok = False
            problem(
                f"unknown role ({describe(role)})",
                f"{field}.role",
                "KokoroChat roles are 'counselor' and 'client'; correct the turn",
            )
        content = raw.get("content")
        if not isinstance(content, str) or not content.strip():
            if empty_turns == "skip" and role in _ROLES:
                skipped.append({"position": position, "origin": raw.get("origin")})
                continue
            ok = False
            problem(
                "the turn has no text",
                f"{field}.content",
                "give the turn its text, or remove the turn",
            )
            continue
        meta = {
            key: value
            for key, value in raw.items()
            if key not in ("role", "content", "time") and value is not None
        }
        time = raw.get("time")
        turns.append(
            Turn(
                index=len(turns),
                role=role,  # type: ignore[arg-type]
                text=content,
                time=None if time is None else str(time),
                meta=meta,
            )
        )
    if dialogue and not turns and ok:
        ok = False
        problem("every turn of the session is empty", "dialogue", "remove the session")

    meta: dict[str, Any] = {}
    topic = record.get("topic")
    if topic is not None:
        meta["topic"] = topic
    for key, value in record.items():
        if key not in ("session_id", "dialogue", "topic", "review_by_client"):
            meta[key] = value
    if skipped:
        meta["skipped_empty_turns"] = skipped

    client_id = counselor_id = None
    ratings: list[RatingSet] = []
    review = record.get("review_by_client")
    if review is not None and not isinstance(review, dict):
        ok = False
        problem(
            "'review_by_client' must be an object",
            "review_by_client",
            "write the review as a JSON object, or leave it out for an unrated session",
        )
    elif isinstance(review, dict):
        client_id = _opt_str(review.get("client_id"))
        counselor_id = _opt_str(review.get("counselor_id"))
        for key in _EVALUATION_KEYS:
            if review.get(key) is not None:
                meta[key] = review[key]
        values: dict[str, float] = {}
        for item in (*FEEDBACK_ITEMS, "score"):
            value = review.get(item)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                ok = False
                problem(
                    f"a rating is not a number ({describe(value)})",
                    f"review_by_client.{item}",
                    "write ratings as numbers, or null for a skipped item",
                )
                continue
            values["overall" if item == "score" else item] = float(value)
        rating_meta = {flag: review.get(flag) for flag in FEEDBACK_FLAGS}
        known = {*FEEDBACK_ITEMS, *FEEDBACK_FLAGS, *_EVALUATION_KEYS, "score"}
        known |= {"client_id", "counselor_id"}
        rating_meta.update({key: value for key, value in review.items() if key not in known})
        if values:
            ratings.append(
                RatingSet(instrument=INSTRUMENT_ID, rater="client", values=values, meta=rating_meta)
            )
    if not ok or session_id is None or not str(session_id).strip() or not turns:
        return None, problems
    return (
        Session(
            id=str(session_id),
            turns=turns,
            client_id=client_id,
            counselor_id=counselor_id,
            ratings=ratings,
            meta=meta,
        ),
        problems,
    )


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)
