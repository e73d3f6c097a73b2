"""ESConv: emotional-support conversations between a help-seeker and a supporter.

The corpus is a JSON array of objects ``{"experience_type", "emotion_type",
"problem_type", "situation", "survey_score": {"seeker": {...}, "supporter": {...}},
"dialog": [{"speaker": "usr"|"sys", "text", "strategy"?}], "seeker_question1", ...}``;
JSON Lines with one such object a line (as in some redistributions) are read too.

* Speakers: ``usr`` (the help-seeker) → client, ``sys`` (the supporter) → counselor; the
  raw label stays in ``turn.speaker``. ``strategy`` goes to ``turn.meta["strategy"]``, and
  any other key of a turn (``annotation``, ``feedback``, ...) to ``turn.meta`` by its name.
* Session ids are the record's own ``id``/``session_id``/``conv_id``/``dialog_id`` when it has
  one, else ``esconv-<position>`` with the position in the file counted from 0.
* ``emotion_type``, ``problem_type``, ``situation``, ``experience_type``, the free-text
  survey answers (``seeker_question1``, ...) and any other key go to ``session.meta``.
* The seeker's survey (``empathy``, ``relevance`` 1-5, ``initial_emotion_intensity``,
  ``final_emotion_intensity`` 1-5) is a rating set on the built-in instrument
  ``esconv-seeker-survey`` by the client; the supporter's ``relevance`` is one on
  ``esconv-supporter-survey`` by the counselor. Values given as strings are converted;
  empty values are left out. Sessions without ``survey_score`` are read as unrated.
"""

from __future__ import annotations

from typing import Any

from care.data.io.json_text import JSONInputError, json_problem, loads
from care.data.language import session_language
from care.data.session import RatingSet, Role, Session, Turn
from care.errors import Problem, describe

__all__ = ["SEEKER_INSTRUMENT", "SUPPORTER_INSTRUMENT", "parse_esconv"]

SEEKER_INSTRUMENT = "esconv-seeker-survey"
SUPPORTER_INSTRUMENT = "esconv-supporter-survey"
_ROLES: dict[str, Role] = {"usr": "client", "sys": "counselor"}
_ID_KEYS = ("id", "session_id", "conv_id", "dialog_id")
_SURVEYS: dict[str, tuple[str, str]] = {
    "seeker": (SEEKER_INSTRUMENT, "client"),
    "supporter": (SUPPORTER_INSTRUMENT, "counselor"),
}


def parse_esconv(
    text: str, *, file: str, language: str | None = None
) -> tuple[list[Session], list[Problem]]:
    """Parse ESConv JSON (see the module docstring).

    Args:
        text: The file's text.
        file: The file's name, used in problems.
        language: The sessions' language; detected (English) when None.

    Returns:
        The sessions parsed and every problem found.
    """
    located, problems = parse_esconv_located(text, file=file, language=language)
    return [session for session, _ in located], problems


def _records(text: str, file: str) -> tuple[list[tuple[str, Any]], list[Problem]]:
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("["):
        try:
            data = loads(stripped)
        except JSONInputError as error:
            return [], [json_problem(error, file=file, record=f"line {error.line}")]
        return [(f"record {n + 1}", item) for n, item in enumerate(data)], []
    records: list[tuple[str, Any]] = []
    problems: list[Problem] = []
    for number, line in enumerate(stripped.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append((f"line {number}", loads(line)))
        except JSONInputError as error:
            problems.append(json_problem(error, file=file, record=f"line {number}"))
    # A single pretty-printed object spans several lines: read it whole instead.
    if problems and stripped.startswith("{"):
        try:
            return [("record 1", loads(stripped))], []
        except JSONInputError:
            pass
    return records, problems


def parse_esconv_located(
    text: str, *, file: str, language: str | None = None
) -> tuple[list[tuple[Session, str]], list[Problem]]:
    """Like :func:`parse_esconv`, with where each session is (``"record N"``)."""
    records, problems = _records(text, file)
    sessions: list[tuple[Session, str]] = []
    for position, (where, record) in enumerate(records):
        session, found = _session(record, position, file=file, where=where)
        problems.extend(found)
        if session is None:
            continue
        session.language = language or session_language(session)
        sessions.append((session, where))
    return sessions, problems


def _session(
    record: Any, position: int, *, file: str, where: str
) -> tuple[Session | None, list[Problem]]:
    problems: list[Problem] = []

    def problem(message: str, field: str | None, fix: str) -> None:
        problems.append(Problem(message, file=file, record=where, field=field, fix=fix))

    if not isinstance(record, dict):
        problem(
            f"expected a JSON object for a conversation, got {type(record).__name__}",
            None,
            "the ESConv file is an array of conversation objects",
        )
        return None, problems
    session_id = next(
        (str(record[key]) for key in _ID_KEYS if record.get(key) not in (None, "")),
        f"esconv-{position}",
    )
    dialog = record.get("dialog")
    if not isinstance(dialog, list) or not dialog:
        problem("a conversation needs a non-empty 'dialog' list", "dialog", "add its turns")
        return None, problems
    turns: list[Turn] = []
    for index, raw in enumerate(dialog):
        field = f"dialog[{index}]"
        if not isinstance(raw, dict):
            problem("a turn must be an object", field, "write turns as {'speaker', 'text'}")
            continue
        speaker = raw.get("speaker")
        role = _ROLES.get(str(speaker).strip().lower()) if speaker is not None else None
        if role is None:
            problem(
                f"unknown speaker ({describe(speaker)})",
                f"{field}.speaker",
                "ESConv speakers are 'usr' (the help-seeker) and 'sys' (the supporter)",
            )
        content = raw.get("text")
        if not isinstance(content, str) or not content.strip():
            problem("the turn has no text", f"{field}.text", "give the turn its text, or remove it")
            continue
        if role is None:
            continue
        meta = {
            key: value
            for key, value in raw.items()
            if key not in ("speaker", "text") and value is not None
        }
        turns.append(Turn(index=len(turns), role=role, text=content, speaker=speaker, meta=meta))

    ratings: list[RatingSet] = []
    survey = record.get("survey_score")
    if survey is not None and not isinstance(survey, dict):
        problem(
            "'survey_score' must be an object",
            "survey_score",
            "write it as {'seeker': {...}, 'supporter': {...}}, or leave it out",
        )
    elif isinstance(survey, dict):
        for part, (instrument, rater) in _SURVEYS.items():
            answers = survey.get(part)
            if answers is None:
                continue
            if not isinstance(answers, dict):
                problem(
                    f"'survey_score.{part}' must be an object",
                    f"survey_score.{part}",
                    "map each survey item to its rating",
                )
                continue
            values: dict[str, float] = {}
            for item, raw_value in answers.items():
                if raw_value is None or (isinstance(raw_value, str) and not raw_value.strip()):
                    continue
                try:
                    if isinstance(raw_value, bool):
                        raise ValueError
                    values[str(item)] = float(raw_value)
                except (TypeError, ValueError):
                    problem(
                        f"a rating is not a number ({describe(raw_value)})",
                        f"survey_score.{part}.{item}",
                        "write ratings as numbers (1-5); leave a skipped item empty",
                    )
            if values:
                ratings.append(
                    RatingSet(instrument=instrument, rater=rater, values=values)  # type: ignore[arg-type]
                )
    meta = {
        key: value
        for key, value in record.items()
        if key not in ("dialog", "survey_score", *_ID_KEYS)
    }
    if problems:
        return None, problems
    return Session(id=session_id, turns=turns, ratings=ratings, meta=meta), problems
