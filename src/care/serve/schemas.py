"""Request and response schemas of the REST API (published in its OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from care.data.io.registry import FORMAT_NAMES
from care.data.language import LANGUAGES

MAX_TEXT_CHARS = 2_000_000
MAX_JOB_SESSIONS = 1000

Format = Literal[("auto", *FORMAT_NAMES)]  # type: ignore[valid-type]
Language = Literal[LANGUAGES]  # type: ignore[valid-type]
Identifier = Field(default=None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:/+\-]+$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TranscriptText(Strict):
    """A transcript as text in any format care imports (a pasted or uploaded file)."""

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="The file's text.")
    format: Format = Field("auto", description="Its format; 'auto' tells it from the content.")
    language: Language | None = Field(None, description="Language, if the text does not say.")


class TurnIn(BaseModel):
    """One turn of a native session (see docs/session-format.md)."""

    model_config = ConfigDict(extra="allow")
    role: str = Field(max_length=100)
    text: str = Field(max_length=MAX_TEXT_CHARS)


class NativeSession(BaseModel):
    """care's native session object (docs/session-format.md); validated by care's reader."""

    model_config = ConfigDict(extra="allow")
    id: str = Field(min_length=1, max_length=500)
    turns: list[TurnIn] = Field(min_length=1, max_length=100_000)


SESSION_KINDS = {"native": "a native session", "transcript": "a transcript text"}
"""The tags of the two kinds of session a request may hold, and how messages name them."""


def session_kind(value: Any) -> str | None:
    """Which kind of session the client meant: a transcript when the object has ``text``
    and no ``turns``, a native session when it has ``turns`` or ``id``."""
    if isinstance(value, TranscriptText):
        return "transcript"
    if isinstance(value, NativeSession):
        return "native"
    if not isinstance(value, dict):
        return None
    if "text" in value and "turns" not in value:
        return "transcript"
    if "turns" in value or "id" in value:
        return "native"
    return None


SessionIn = Annotated[
    Annotated[NativeSession, Tag("native")] | Annotated[TranscriptText, Tag("transcript")],
    Discriminator(
        session_kind,
        custom_error_type="session_kind",
        custom_error_message="a session is an object with 'text' (a transcript in any format "
        "care imports) or with 'id' and 'turns' (a native session)",
    ),
]
"""A transcript text or a native session, told apart by their keys, so that a problem is
reported for the kind the client sent."""


class AssessRequest(Strict):
    """Assess one session now."""

    session: SessionIn
    instrument: str | None = Identifier
    model: str | None = Identifier


class JobRequest(Strict):
    """Assess several sessions in the background."""

    sessions: list[SessionIn] = Field(min_length=1, max_length=MAX_JOB_SESSIONS)
    instrument: str | None = Identifier
    model: str | None = Identifier


class TurnOut(Strict):
    index: int
    role: str
    speaker: str | None = None
    text: str


class AssessmentOut(Strict):
    """A stored assessment: the result record (as ``care assess --json`` prints it) and the
    transcript it quotes."""

    id: str = Field(description="The assessment's id (its session id in the run store).")
    session_id: str = Field(description="The session's id in the uploaded transcript.")
    created_at: float
    job_id: str | None = None
    result: dict[str, Any] = Field(description="The result record (items, dimensions, ...).")
    turns: list[TurnOut]


class AssessmentSummary(Strict):
    id: str
    session_id: str
    created_at: float
    instrument: str
    model: str
    language: str | None = None
    total: float | None = None
    dimensions: dict[str, float | None] = {}


class HistoryOut(Strict):
    assessments: list[AssessmentSummary]
    total: int


class JobOut(Strict):
    id: str
    status: Literal["queued", "running", "done", "failed", "interrupted"]
    total: int
    done: int
    failed: int
    assessment_ids: list[str]
    errors: list[str]
    created_at: float
    updated_at: float
    resumed: int = Field(0, description="How often a restarted server resumed this job.")


class ItemOut(Strict):
    id: str
    number: int
    text: dict[str, str]
    dimension: str | None = None
    reverse_keyed: bool = False


class InstrumentOut(Strict):
    id: str
    name: str
    description: str
    scale: dict[str, Any]
    dimensions: dict[str, list[str]]
    languages: list[str]
    items: list[ItemOut]


class ModelOut(Strict):
    id: str
    kind: Literal["builtin", "lite-file", "llm"]
    default: bool
    languages: list[str]
    instrument: str | None = None


class FormatOut(Strict):
    id: str
    description: str


class Problem(Strict):
    field: str | None = None
    record: str | None = Field(None, description="Where in the text: 'line 3', 'row 2'.")
    message: str
    fix: str | None = None


class ErrorOut(Strict):
    error: str
    problems: list[Problem] = []
