"""The ASGI app of ``care rationales review``: a local page to accept, edit or reject drafts.

Every decision is one ``POST /api/reviews``, appended to the store at once through
:meth:`RationaleStore.add_review` (the same :class:`Review` objects and validation as the
spreadsheet import), so a closed tab or a crash loses nothing already decided. The loopback
default, token, Host-header check, body limit and security headers are ``care serve``'s
(:mod:`care.serve.security`).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from care.data.session import Session
from care.errors import CareError
from care.rationales.store import RationaleStore, Review, as_dict
from care.serve.security import (
    BodyLimitMiddleware,
    SecurityHeadersMiddleware,
    token_matches,
)

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 256 * 1024


class DecisionIn(BaseModel):
    """One decision from the page."""

    session_id: str = Field(max_length=500)
    instrument: str = Field(max_length=200)
    item_id: str = Field(max_length=200)
    teacher: str = Field(max_length=500)
    prompt_version: str = Field(max_length=200)
    reviewer: str = Field(max_length=200)
    decision: str = Field(max_length=20)
    text: str | None = Field(default=None, max_length=20000)
    note: str | None = Field(default=None, max_length=5000)


def _item_texts(instrument: str) -> dict[str, dict[str, str]]:
    from care.instruments import get_instrument

    try:
        inst = get_instrument(instrument)
    except CareError:
        return {}
    return {item.id: dict(item.text) for item in inst.items}


def drafts_payload(store: RationaleStore, sessions: dict[str, Session]) -> dict[str, Any]:
    """The drafts to review (status ``ok``) with item text, located quotes, the latest
    decision, and the transcripts they cite."""
    from care.evaluate.quotes import extract_quotes
    from care.rationales.check import locate_quote

    latest = store.latest_reviews()
    items: dict[str, dict[str, dict[str, str]]] = {}
    drafts = []
    used: set[str] = set()
    for draft in store.drafts(status="ok"):
        if draft.instrument not in items:
            items[draft.instrument] = _item_texts(draft.instrument)
        texts = items[draft.instrument].get(draft.item_id, {})
        lang = (draft.language or "en").split("-")[0]
        session = sessions.get(draft.session_id)
        quotes = [
            {"quote": quote, "turn": locate_quote(quote, session) if session else None}
            for quote in extract_quotes(draft.rationale or "")
        ]
        review = latest.get(draft.key)
        if session is not None:
            used.add(session.id)
        drafts.append(
            {
                "session_id": draft.session_id,
                "instrument": draft.instrument,
                "item_id": draft.item_id,
                "teacher": draft.teacher,
                "prompt_version": draft.prompt_version,
                "rating": draft.rating,
                "rationale": draft.rationale,
                "language": draft.language,
                "item_text": texts.get(lang) or texts.get("en") or next(iter(texts.values()), ""),
                "quotes": quotes,
                "has_transcript": session is not None,
                "review": as_dict(review) if review is not None else None,
            }
        )
    transcripts = {
        sid: {
            "language": sessions[sid].language,
            "turns": [
                {"index": t.index, "role": str(t.role), "text": t.text} for t in sessions[sid].turns
            ],
        }
        for sid in sorted(used)
    }
    return {"drafts": drafts, "sessions": transcripts}


def _error(status: int, message: str, problems: list[dict[str, Any]] | None = None, **kw):
    return JSONResponse(
        status_code=status, content={"error": message, "problems": problems or []}, **kw
    )


def create_review_app(
    store_path: str | Path,
    sessions: dict[str, Session],
    *,
    token: str | None = None,
    allowed_hosts: list[str] | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> Any:
    """The review page and its API.

    Args:
        store_path: The run store holding the drafts; decisions are appended to it.
        sessions: Transcripts by session id (to show the turns the drafts cite).
        token: If set, every ``/api`` request needs ``Authorization: Bearer TOKEN``.
        allowed_hosts: Host headers accepted (against DNS rebinding); None accepts any.
        max_body_bytes: The largest request body accepted (413 above it).
    """
    store = RationaleStore(store_path)
    lock = threading.Lock()
    app = FastAPI(title="care rationales review", docs_url=None, redoc_url=None)
    app.state.store = store

    def authorize(request: Request) -> None:
        if token is not None and not token_matches(request.headers.get("authorization"), token):
            raise StarletteHTTPException(401, "missing or wrong API token")

    @app.exception_handler(CareError)
    async def care_error(request: Request, error: CareError) -> JSONResponse:
        problem = error.problem
        return _error(
            422, str(problem.message), [{"field": problem.field, "message": problem.message}]
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
        return _error(error.status_code, str(error.detail), headers=headers)

    @app.get("/api/drafts", dependencies=[Depends(authorize)])
    def drafts() -> dict[str, Any]:
        with lock:
            return drafts_payload(store, sessions)

    @app.post("/api/reviews", status_code=201, dependencies=[Depends(authorize)])
    def add_review(body: DecisionIn) -> dict[str, Any]:
        review = Review(
            body.session_id,
            body.instrument,
            body.item_id,
            body.teacher,
            body.prompt_version,
            body.reviewer,
            body.decision,
            text=body.text if body.decision == "edit" else None,
            note=body.note or None,
        )
        with lock:
            saved = store.add_review(review)
        return as_dict(saved)

    @app.get("/healthz", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "review.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if allowed_hosts:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    return app
