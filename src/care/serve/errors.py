"""How the server answers errors: JSON with the field, the problem and the fix, and never
any of the client's text (transcript lines, values, key names).

* a user's mistake (:class:`~care.errors.CareError`) or a request that does not fit the
  schema: 422, every problem listed, for the kind of session the client meant;
* a run store the server cannot use: 503, and a line in the server's log that says why;
* anything else: 500, and a log line naming the exception's type only.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from care.errors import CareError, key_name
from care.serve.schemas import SESSION_KINDS
from care.store import StoreError

__all__ = ["error_response", "install_error_handlers"]

log = logging.getLogger("care.serve")
MAX_PROBLEMS = 50


def install_error_handlers(app: FastAPI) -> None:
    """Register the server's exception handlers on ``app``."""

    @app.exception_handler(CareError)
    async def care_error(request: Request, error: CareError) -> JSONResponse:
        problems = getattr(error, "problems", [error.problem])
        return error_response(
            422,
            str(error.problem.message),
            [_problem_out(problem) for problem in problems[:MAX_PROBLEMS]],
        )

    @app.exception_handler(StoreError)
    async def store_error(request: Request, error: StoreError) -> JSONResponse:
        return _store_unusable(request, error)

    @app.exception_handler(sqlite3.Error)
    async def database_error(request: Request, error: sqlite3.Error) -> JSONResponse:
        return _store_unusable(request, error)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = [_validation_problem(problem) for problem in error.errors()[:MAX_PROBLEMS]]
        first = problems[0] if problems else {"field": None, "message": "invalid request"}
        return error_response(422, f"{first['field']}: {first['message']}", problems)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status_code == 401 else None
        return error_response(error.status_code, str(error.detail), headers=headers)

    @app.exception_handler(Exception)
    async def crash(request: Request, error: Exception) -> JSONResponse:
        log.error("internal error on %s: %s", request.url.path, type(error).__name__)
        return error_response(500, "internal error; the server log names its type")


def _problem_out(problem: Any) -> dict[str, Any]:
    return {
        "field": problem.field,
        "record": problem.record,
        "message": problem.message,
        "fix": problem.fix,
    }


def _validation_problem(problem: dict[str, Any]) -> dict[str, Any]:
    """One problem of a request that does not fit the schema, for the alternative the client
    meant (a transcript or a native session), its field names free of client text."""
    parts: list[str] = []
    kind = None
    for part in problem.get("loc", ()):
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part}]"] if parts else [f"[{part}]"]
        elif part in SESSION_KINDS and parts and parts[-1].startswith("session"):
            kind = SESSION_KINDS[part]
        else:
            parts.append(key_name(part))
    message = str(problem.get("msg", "invalid"))
    if kind is not None:
        message = f"{message} (in {kind})"
    return {"field": ".".join(parts) or None, "message": message}


def _store_unusable(request: Request, error: Exception) -> JSONResponse:
    """503 for a run store the server cannot use; the reason goes to the server's log
    (it names the store file and the database's complaint, never a transcript)."""
    log.error(
        "the run store cannot be used (%s on %s): %s", type(error).__name__, request.url.path, error
    )
    return error_response(
        503,
        "the server's run store cannot be used; the server log says why",
        [{"field": None, "message": "run store unusable", "fix": "ask the server's operator"}],
    )


def error_response(
    status: int, message: str, problems: list[dict[str, Any]] | None = None, **kw: Any
) -> JSONResponse:
    """The server's error body: ``{"error": headline, "problems": [...]}``."""
    return JSONResponse(
        status_code=status, content={"error": message, "problems": problems or []}, **kw
    )
