"""The FastAPI app: REST API under ``/v1`` and the web page, over care's assessors.

Build it with :func:`create_app`; ``care serve`` runs it with uvicorn.
"""

from __future__ import annotations

import json
import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from care.errors import CareError, DataError, ParameterError
from care.serve.errors import install_error_handlers
from care.serve.jobs import JobRunner, ServeDB, new_id
from care.serve.schemas import (
    AssessmentOut,
    AssessmentSummary,
    AssessRequest,
    ErrorOut,
    FormatOut,
    HistoryOut,
    InstrumentOut,
    ItemOut,
    JobOut,
    JobRequest,
    ModelOut,
    NativeSession,
    TranscriptText,
)
from care.serve.security import (
    DEFAULT_MAX_BODY_BYTES,
    BodyLimitMiddleware,
    HostHeaderMiddleware,
    SecurityHeadersMiddleware,
    token_matches,
)

log = logging.getLogger("care.serve")
STATIC = Path(__file__).parent / "static"
BUILTIN = "care-lite"
ID_PATTERN = r"^[0-9a-f]{32}$"
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or wrong API token"},
    404: {"model": ErrorOut, "description": "Not found"},
    413: {"model": ErrorOut, "description": "Request body too large"},
    422: {"model": ErrorOut, "description": "Invalid input: the field that is wrong and why"},
    503: {"model": ErrorOut, "description": "The server's run store cannot be used"},
}


class Service:
    """What the API does, apart from HTTP: parse, assess, store, read back."""

    def __init__(
        self, store_path: str, model: str | None, allow_remote: bool, scoring: str = "generate"
    ) -> None:
        from care.backends.registry import is_backend_spec

        self.store_path = store_path
        self.allow_remote = allow_remote
        self.scoring = scoring
        self.db = ServeDB(store_path)
        self.models: dict[str, ModelOut] = {}
        self._specs: dict[str, str | None] = {}
        default = BUILTIN
        if model is None or model == BUILTIN:
            pass
        elif is_backend_spec(model):
            default = model
            self.models[model] = ModelOut(
                id=model, kind="llm", default=True, languages=["en", "zh"], instrument=None
            )
            self._specs[model] = model
        else:
            path = Path(model)
            default = f"file:{path.stem}"
            self._specs[default] = str(path)
            self.models[default] = ModelOut(
                id=default, kind="lite-file", default=True, languages=[], instrument=None
            )
        self.models[BUILTIN] = ModelOut(
            id=BUILTIN, kind="builtin", default=default == BUILTIN, languages=["en", "zh"]
        )
        self._specs[BUILTIN] = None
        self.default = default
        self._assessors: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    # -- input ------------------------------------------------------------------------------

    def parse(self, given: NativeSession | TranscriptText, where: str) -> list[Any]:
        """Sessions from one request entry, read and checked as ``care validate`` does
        (ratings against their instrument, known languages, ...); :class:`DataError`
        names the field."""
        from care.data.io import detect_format, sessions_from_text
        from care.data.io.registry import FORMAT_NAMES

        if isinstance(given, NativeSession):
            text, fmt, language, name = json.dumps(given.model_dump()), "native", None, "session"
        else:
            text, fmt, language, name = given.text, given.format, given.language, "upload"
            if fmt == "auto":
                try:
                    fmt = detect_format(name, text)
                except DataError as error:
                    raise DataError(
                        error.problem.message,
                        field=f"{where}.format",
                        fix=f"give format (one of {', '.join(FORMAT_NAMES)}), or paste a "
                        "transcript with 'Counselor:' and 'Client:' lines",
                    ) from None
        sessions, problems = sessions_from_text(text, name=name, format=fmt, language=language)
        if problems:
            raise DataError.from_problems(
                [_at(problem, where) for problem in problems[:50]]
            ) from None
        if not sessions:
            raise DataError("no session found in the input", field=where)
        return sessions

    # -- assessing --------------------------------------------------------------------------

    def check_model(self, model: str | None) -> str:
        model = model or self.default
        if model not in self.models:
            raise ParameterError(
                f"unknown model {model!r}",
                field="model",
                fix=f"use one of {sorted(self.models)} (GET /v1/models)",
            )
        return model

    def assess(
        self,
        sessions: list[Any],
        instrument: str | None,
        model: str | None,
        job_id: str | None = None,
    ) -> list[str]:
        """Assess ``sessions``, store the results, and return their assessment ids."""
        from care.assessors.run import run
        from care.store import RunStore

        model = self.check_model(model)
        if instrument is not None:
            _instrument(instrument)
        originals = [session.id for session in sessions]
        ids = [new_id() for _ in sessions]
        turns = [
            [
                {"index": t.index, "role": t.role, "speaker": t.speaker, "text": t.text}
                for t in session.turns
            ]
            for session in sessions
        ]
        for session, assessment_id in zip(sessions, ids, strict=True):
            session.id = assessment_id
        with self._lock:
            assessor = self._assessor(model, instrument)
            self._check(assessor, sessions, instrument, model)
            store = RunStore(self.store_path)
            try:
                results = list(run(assessor, sessions, store=store, store_incomplete=True))
            finally:
                store.close()
        by_id = {assessment.session_id: assessment for assessment in results}
        for position, assessment_id in enumerate(ids):
            record = by_id[assessment_id].to_record()
            self.db.add_assessment(
                assessment_id, originals[position], record, turns[position], job_id
            )
        return ids

    def _assessor(self, model: str, instrument: str | None) -> Any:
        """The assessor of ``model`` (built once per model and instrument, then kept)."""
        from care.assessors.calibrated import with_intervals
        from care.assessors.registry import get_assessor

        kind = self.models[model].kind
        key = (model, instrument if kind == "llm" else None)
        if key not in self._assessors:
            options: dict[str, Any] = {}
            if kind == "llm":
                options = {
                    "instrument": instrument,
                    "allow_remote": self.allow_remote,
                    "scoring": self.scoring,
                }
            assessor = get_assessor(self._specs[model] or "care-lite", **options)
            if kind == "llm":
                assessor.client.check()  # refuses a remote model without the opt-in
            self._assessors[key] = with_intervals(assessor)  # or say why there are none
        return self._assessors[key]

    def _check(self, assessor: Any, sessions: list[Any], instrument: str | None, model: str):
        """The built-in model's checks: a model for every language, the right instrument."""
        if self.models[model].kind == "llm":
            return
        try:
            assessor.check_languages(sessions)
        except CareError as error:
            raise DataError(
                error.problem.message, field="session.language", fix=error.problem.fix
            ) from None
        for session in sessions:
            try:
                assessor.check_instrument([session], instrument)
            except ParameterError:
                trained = assessor.result_key(session).instrument
                raise ParameterError(
                    f"the model {model} predicts '{trained}' for '{session.language}' "
                    f"sessions, not '{_instrument(instrument).id}'",
                    field="instrument",
                    fix=f"leave instrument out, or ask for '{trained}'",
                ) from None

    # -- reading ----------------------------------------------------------------------------

    def get(self, assessment_id: str) -> AssessmentOut | None:
        from care.store import RunStore

        row = self.db.assessment(assessment_id)
        if row is None:
            return None
        store = RunStore(self.store_path)
        try:
            stored = store.get_assessment(
                assessment_id,
                instrument=row["instrument"],
                model=row["model"],
                prompt_version=row["prompt_version"],
            )
        finally:
            store.close()
        if stored is None:
            return None
        result = stored.to_record()
        result["session_id"] = row["session_id"]
        return AssessmentOut(
            id=assessment_id,
            session_id=row["session_id"],
            created_at=row["created_at"],
            job_id=row["job_id"],
            result=_finite_json(result),
            turns=row["turns"],
        )

    def job_work(self, job_id: str, request: dict[str, Any], start: int):
        """The job runner's work: assess a job's sessions one by one from ``start``."""
        parsed = JobRequest.model_validate(request)
        position = 0
        for index, given in enumerate(parsed.sessions):
            sessions = self.parse(given, f"sessions[{index}]")
            for session in sessions:
                position += 1
                if position <= start:
                    continue
                try:
                    ids = self.assess([session], parsed.instrument, parsed.model, job_id)
                    yield ids[0], None
                except CareError as error:
                    yield None, f"session {position}: {error}"


def _at(problem: Any, where: str) -> Any:
    from dataclasses import replace

    field = f"{where}.{problem.field}" if problem.field else where
    return replace(problem, field=field, file=None)


def _instrument(name: str) -> Any:
    from care.instruments import get_instrument, list_instruments

    if name not in list_instruments():
        raise ParameterError(
            f"unknown instrument {name!r}",
            field="instrument",
            fix=f"use one of {list_instruments()} (GET /v1/instruments)",
        )
    return get_instrument(name)


def _finite_json(value: Any) -> Any:
    """NaN and infinities as null, so the JSON is standard."""
    import math

    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_json(item) for item in value]
    return value


def create_app(
    store_path: str | Path = "care-serve.sqlite",
    model: str | None = None,
    token: str | None = None,
    allow_remote: bool = False,
    scoring: str = "generate",
    cors_origins: list[str] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    allowed_hosts: list[str] | None = None,
    resume_jobs: bool = True,
) -> Any:
    """The ASGI app of ``care serve``.

    Args:
        store_path: The run store (SQLite file), shared with ``care assess --store``.
        model: The default model: None for the built-in one, a model file from
            ``care train lite``, or BACKEND/MODEL for a language model.
        token: If set, every ``/v1`` request needs ``Authorization: Bearer TOKEN``.
        allow_remote: Allow language models that are not on this machine (as
            ``care assess --allow-remote``).
        scoring: How language models answer: ``"generate"`` or ``"likelihood"`` (as
            ``care assess --scoring``).
        cors_origins: Origins allowed to call the API from a browser; None keeps CORS closed.
        max_body_bytes: The largest request body accepted (413 above it).
        allowed_hosts: Host headers accepted (against DNS rebinding); None accepts any.
        resume_jobs: Resume jobs a previous server left unfinished, instead of marking
            them interrupted.
    """
    service = Service(str(store_path), model, allow_remote, scoring)
    runner = JobRunner(service.db, service.job_work, resume=resume_jobs)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runner.start()
        yield
        runner.stop()

    app = FastAPI(
        title="care",
        summary="Working-alliance ratings of counseling sessions, with quoted evidence",
        version=_version(),
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.runner = runner
    bearer = HTTPBearer(auto_error=False, description="The server's API token, if it has one")

    def authorize(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
    ) -> None:
        if token is None:
            return
        if not token_matches(request.headers.get("authorization"), token):
            raise StarletteHTTPException(401, "missing or wrong API token")

    install_error_handlers(app)

    api = APIRouter(prefix="/v1", dependencies=[Depends(authorize)], responses=ERRORS)

    @api.post("/assessments", response_model=AssessmentOut, status_code=201)
    def assess_one(body: AssessRequest) -> AssessmentOut:
        """Assess one session now and store the result."""
        sessions = service.parse(body.session, "session")
        if len(sessions) != 1:
            raise DataError(
                f"the input holds {len(sessions)} sessions; this endpoint assesses one",
                field="session",
                fix="send them to POST /v1/jobs",
            )
        [assessment_id] = service.assess(sessions, body.instrument, body.model)
        found = service.get(assessment_id)
        assert found is not None
        return found

    @api.get("/assessments", response_model=HistoryOut)
    def history(
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    ) -> HistoryOut:
        """Past assessments, newest first."""
        rows, total = service.db.history(limit, offset)
        return HistoryOut(
            total=total,
            assessments=[
                AssessmentSummary(
                    id=row["id"],
                    session_id=row["session_id"],
                    created_at=row["created_at"],
                    instrument=row["instrument"],
                    model=row["model"],
                    language=row["summary"].get("language"),
                    total=_finite_json(row["summary"].get("total")),
                    dimensions=_finite_json(row["summary"].get("dimensions") or {}),
                )
                for row in rows
            ],
        )

    @api.get("/assessments/{assessment_id}", response_model=AssessmentOut)
    def get_assessment(
        assessment_id: Annotated[str, PathParam(pattern=ID_PATTERN)],
    ) -> AssessmentOut:
        """One stored assessment with the transcript it quotes."""
        found = service.get(assessment_id)
        if found is None:
            raise StarletteHTTPException(404, f"no assessment {assessment_id}")
        return found

    @api.post("/jobs", response_model=JobOut, status_code=202)
    def submit_job(body: JobRequest) -> JobOut:
        """Assess many sessions in the background; poll GET /v1/jobs/{id}."""
        service.check_model(body.model)
        if body.instrument is not None:
            _instrument(body.instrument)
        total = sum(
            len(service.parse(given, f"sessions[{index}]"))
            for index, given in enumerate(body.sessions)
        )
        job_id = new_id()
        service.db.add_job(job_id, body.model_dump(), total)
        runner.submit(job_id)
        job = service.db.job(job_id)
        assert job is not None
        return JobOut(**job)

    @api.get("/jobs/{job_id}", response_model=JobOut)
    def get_job(job_id: Annotated[str, PathParam(pattern=ID_PATTERN)]) -> JobOut:
        """A job's state and the ids of its finished assessments."""
        job = service.db.job(job_id)
        if job is None:
            raise StarletteHTTPException(404, f"no job {job_id}")
        return JobOut(**job)

    @api.get("/instruments", response_model=list[InstrumentOut])
    def instruments() -> list[InstrumentOut]:
        """The questionnaires care knows."""
        from care.instruments import get_instrument, list_instruments

        found = []
        for name in list_instruments():
            inst = get_instrument(name)
            found.append(
                InstrumentOut(
                    id=inst.id,
                    name=inst.name,
                    description=inst.description,
                    scale={"min": inst.scale.min, "max": inst.scale.max},
                    dimensions={key: list(value) for key, value in inst.dimensions.items()},
                    languages=list(inst.languages),
                    items=[
                        ItemOut(
                            id=item.id,
                            number=item.number,
                            text=dict(item.text),
                            dimension=item.dimension,
                            reverse_keyed=item.reverse_keyed,
                        )
                        for item in inst.items
                    ],
                )
            )
        return found

    @api.get("/formats", response_model=list[FormatOut])
    def formats() -> list[FormatOut]:
        """The session formats a pasted text may be in (``format`` of a transcript)."""
        from care.data.io.registry import SESSION_FORMATS

        return [
            FormatOut(id=name, description=entry.description)
            for name, entry in SESSION_FORMATS.items()
        ]

    @api.get("/models", response_model=list[ModelOut])
    def models() -> list[ModelOut]:
        """The models this server offers; ``default`` marks the one used when none is named."""
        return list(service.models.values())

    app.include_router(api)

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    if cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    if allowed_hosts:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(HostHeaderMiddleware)
    return app


def _version() -> str:
    from care import __version__

    return str(__version__)
