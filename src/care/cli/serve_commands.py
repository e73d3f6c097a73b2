"""``care serve``: the web app and REST API (see docs/serve.md)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from care.cli.options import SCORING_OPTION
from care.errors import MissingDependencyError, ParameterError


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind to.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--model",
    default=None,
    help="Default model: the built-in one (default), a model file from `care train lite`, or "
    "BACKEND/MODEL as in `care assess`.",
)
@SCORING_OPTION
@click.option(
    "--store",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("care-serve.sqlite"),
    show_default=True,
    help="Run store (SQLite file) for results, history and jobs; the same as `care assess "
    "--store`.",
)
@click.option(
    "--token-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="File holding the API token (bearer); required to bind to a non-loopback address. "
    "Or set CARE_SERVE_TOKEN.",
)
@click.option(
    "--allow-remote",
    is_flag=True,
    envvar="CARE_ALLOW_REMOTE",
    help="Allow language models that are not on this machine (as `care assess`).",
)
@click.option(
    "--cors-origin",
    "cors_origins",
    multiple=True,
    help="An origin allowed to call the API from a browser (repeatable); CORS is closed "
    "without it.",
)
@click.option(
    "--max-body-mb",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0.01, 1024),
    help="Largest request body accepted.",
)
@click.option(
    "--interrupt-jobs",
    is_flag=True,
    help="Mark jobs a previous server left unfinished as interrupted instead of resuming them.",
)
def serve(
    host: str,
    port: int,
    model: str | None,
    scoring: str,
    store: Path,
    token_file: Path | None,
    allow_remote: bool,
    cors_origins: tuple[str, ...],
    max_body_mb: float,
    interrupt_jobs: bool,
) -> None:
    """Run the web app and REST API on this machine (loopback by default).

    Open http://127.0.0.1:8000/ in a browser; the API is under /v1 and described at
    /openapi.json. Transcript text is never written to the log.
    """
    try:
        import uvicorn
    except ImportError:
        raise MissingDependencyError("uvicorn", "serve", "care serve") from None
    try:
        from care.serve.app import create_app
    except ImportError:
        raise MissingDependencyError("fastapi", "serve", "care serve") from None
    from care.serve.security import check_bind, is_loopback

    token = os.environ.get("CARE_SERVE_TOKEN") or None
    if token_file is not None:
        token = token_file.read_text(encoding="utf-8").strip() or None
        if token is None:
            raise ParameterError("the token file is empty", field="--token-file")
    check_bind(host, token)
    loopback = is_loopback(host)
    app = create_app(
        store_path=store,
        model=model,
        scoring=scoring,
        token=token,
        allow_remote=allow_remote,
        cors_origins=list(cors_origins) or None,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        allowed_hosts=["127.0.0.1", "localhost", "::1", "[::1]"] if loopback else None,
        resume_jobs=not interrupt_jobs,
    )
    click.echo(f"care serve: http://{host}:{port}/ (store: {store})", err=True)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=True, server_header=False)


COMMANDS = [serve]
