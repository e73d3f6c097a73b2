"""``care rationales``: draft rationales with a teacher model, review them offline through a
spreadsheet, check them, and export the curated set."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from care.cli.options import input_options, loader_arguments
from care.errors import ParameterError


@click.group()
def rationales() -> None:
    """Build a rationale set for your own data: draft, review, check, export."""


def _sessions(data: tuple[Path, ...], options: dict[str, Any]) -> list:
    from care.data.io import load_corpus

    return list(load_corpus(list(data), **loader_arguments(**options)))


@rationales.command()
@click.option("--teacher", required=True, metavar="BACKEND/MODEL", help="The teacher model.")
@click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Session files with the client's ratings; repeatable.",
)
@click.option("--store", required=True, type=click.Path(path_type=Path), help="Run store file.")
@click.option("--instrument", default=None, help="Instrument id (default wai-sr-client).")
@click.option(
    "--draft-language", default=None, help="Language of the drafts (default: the session's)."
)
@click.option(
    "--length", type=int, default=None, help="Target length: characters (zh) or words (others)."
)
@click.option(
    "--perspective",
    type=click.Choice(["client", "counselor", "observer"]),
    default="client",
    show_default=True,
)
@click.option("--item", "items", multiple=True, help="Only these item ids; repeatable.")
@click.option("--limit", type=int, default=None, help="Only the first N sessions.")
@click.option("--allow-remote", is_flag=True, help="Allow a teacher off this machine.")
@click.option("--redact", is_flag=True, help="Redact local prompts too (remote: always).")
@click.option("--base-url", default=None, help="Server URL for openai/vllm/llamacpp teachers.")
@click.option("--max-new-tokens", type=int, default=400, show_default=True)
@input_options
def draft(
    teacher: str,
    data: tuple[Path, ...],
    store: Path,
    instrument: str | None,
    draft_language: str | None,
    length: int | None,
    perspective: str,
    items: tuple[str, ...],
    limit: int | None,
    allow_remote: bool,
    redact: bool,
    base_url: str | None,
    max_new_tokens: int,
    **options: Any,
) -> None:
    """Draft a rationale for each (session, item) with a known rating, into --store.

    Re-running resumes: finished drafts are skipped, engine failures retried.
    """
    from care.backends.registry import is_backend_spec
    from care.rationales.draft import draft_rationales
    from care.rationales.store import RationaleStore

    if not is_backend_spec(teacher):
        raise ParameterError(
            f"--teacher must be BACKEND/MODEL; got {teacher!r}",
            field="--teacher",
            fix="e.g. --teacher transformers/gemma3-270m or openai/gpt-4o-mini",
        )
    sessions = _sessions(data, options)[:limit]
    with RationaleStore(store) as rstore:
        counts = draft_rationales(
            sessions,
            teacher,
            rstore,
            instrument=instrument,
            language=draft_language,
            perspective=perspective,
            length=length,
            items=list(items) or None,
            allow_remote=allow_remote,
            redact=True if redact else None,
            max_new_tokens=max_new_tokens,
            backend_options={"base_url": base_url} if base_url else None,
        )
    click.echo(
        f"{counts['drafted']} drafted, {counts['skipped']} already done, "
        f"{counts['parse_failure']} unreadable (kept with raw output), "
        f"{counts['backend_error']} engine errors (retried next run)"
    )


@rationales.command()
@click.option("--store", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--data", multiple=True, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--which",
    type=click.Choice(["current", "drafts"]),
    default="current",
    show_default=True,
    help="current: the reviewed text (edits applied, rejects left out); drafts: as drafted.",
)
@click.option("--target-length", type=int, default=None, help="Characters (zh) or words.")
@click.option("--tolerance", type=float, default=0.5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the full JSON report.")
@input_options
def check(
    store: Path,
    data: tuple[Path, ...],
    which: str,
    target_length: int | None,
    tolerance: float,
    as_json: bool,
    **options: Any,
) -> None:
    """Check quotes (with turns), lengths, rating consistency, duplicates and agreement."""
    from care.assessors.base import resolve_instrument
    from care.rationales.check import check_rationales
    from care.rationales.store import RationaleStore, final_text

    sessions = {session.id: session for session in _sessions(data, options)}
    with RationaleStore(store) as rstore:
        latest = rstore.latest_reviews()
        records = []
        scales = {}
        for d in rstore.drafts(status="ok"):
            text = d.rationale if which == "drafts" else final_text(d, latest.get(d.key))
            if text is None:
                continue
            if d.instrument not in scales:
                scale = resolve_instrument(d.instrument, "wai-sr-client").scale
                scales[d.instrument] = (min(scale.values), max(scale.values))
            records.append({**d.__dict__, "rationale": text})
        reviews = rstore.reviews()
    scale = next(iter(scales.values()), (1, 5))
    report = check_rationales(
        records,
        sessions,
        scale=scale,
        target_length=target_length,
        tolerance=tolerance,
        reviews=reviews,
    )
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2, default=_nan))
        return
    s = report["summary"]
    q, n = s["quotes"], s["length"]
    click.echo(f"{s['n_rationales']} rationales")
    click.echo(
        f"quotes: {q['n_found']}/{q['n_quotes']} found in the transcript; "
        f"{q['n_without_quotes']} rationales quote nothing"
    )
    click.echo(
        f"length ({n['unit']}): mean {n['mean']:.0f}, median {n['median']}, range "
        f"{n['min']}-{n['max']}; {n['share_within_target']:.0%} within "
        f"{n['tolerance']:.0%} of {n['target']}"
    )
    click.echo(f"tone contradicts rating: {s['n_rating_inconsistent']}")
    click.echo(f"duplicates: {s['n_duplicates']}")
    for name, a in s["agreement"]["scales"].items():
        click.echo(
            f"agreement {name}: {a['n_items']} items, exact {a['exact']:.0%}, within 1 "
            f"{a['within_1']:.0%}, weighted kappa {a['weighted_kappa']:.2f}"
        )
    for row in report["rationales"]:
        if row["problems"]:
            click.echo(f"{row['session_id']} {row['item_id']}: {'; '.join(row['problems'])}")


def _nan(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else str(value)


@rationales.command("export")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--store", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--teacher", default=None, help="Only this teacher's drafts.")
def export_command(path: Path, store: Path, teacher: str | None) -> None:
    """Write the drafts to a spreadsheet (.csv or .xlsx) for offline review."""
    from care.rationales.sheet import export_sheet
    from care.rationales.store import RationaleStore

    with RationaleStore(store) as rstore:
        n = export_sheet(rstore, path, teacher=teacher)
    click.echo(f"{n} drafts written to {path}")


@rationales.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--store", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--reviewer", default=None, help="Name for rows with an empty reviewer cell.")
def import_command(path: Path, store: Path, reviewer: str | None) -> None:
    """Read review decisions from a spreadsheet written by `care rationales export`."""
    from care.rationales.sheet import import_sheet
    from care.rationales.store import RationaleStore

    with RationaleStore(store) as rstore:
        n = len(import_sheet(rstore, path, reviewer=reviewer))
    click.echo(f"{n} decisions imported")


@rationales.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--store", required=True, type=click.Path(exists=True, path_type=Path))
def curated(path: Path, store: Path) -> None:
    """Write the accepted and edited rationales as JSONL (see docs/rationales.md)."""
    from care.rationales.curated import write_curated
    from care.rationales.store import RationaleStore

    with RationaleStore(store) as rstore:
        n = write_curated(rstore, path)
    click.echo(f"{n} curated rationales written to {path}")


@rationales.command()
@click.option("--store", required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--data",
    multiple=True,
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Session files with the transcripts the drafts cite; repeatable.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind to.")
@click.option("--port", default=8766, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--token-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="File holding the API token (bearer); required to bind to a non-loopback address. "
    "Or set CARE_SERVE_TOKEN.",
)
@input_options
def review(
    store: Path, data: tuple[Path, ...], host: str, port: int, token_file: Path | None, **options
) -> None:
    """Review drafts in a local web page: accept, edit or reject, each saved at once.

    Open http://127.0.0.1:8766/ (keys: a accept, e edit, r reject, j/k next/previous,
    Ctrl+Enter saves an edit). Decisions go to --store with the reviewer's name and the time.
    """
    import os

    from care.errors import MissingDependencyError

    try:
        import uvicorn

        from care.rationales.review_app import create_review_app
    except ImportError as error:
        raise MissingDependencyError(
            error.name or "fastapi", "serve", "care rationales review"
        ) from None
    from care.serve.security import check_bind, is_loopback

    token = os.environ.get("CARE_SERVE_TOKEN") or None
    if token_file is not None:
        token = token_file.read_text(encoding="utf-8").strip() or None
        if token is None:
            raise ParameterError("the token file is empty", field="--token-file")
    check_bind(host, token)
    sessions = {session.id: session for session in _sessions(data, options)}
    app = create_review_app(
        store,
        sessions,
        token=token,
        allowed_hosts=["127.0.0.1", "localhost", "::1", "[::1]"] if is_loopback(host) else None,
    )
    click.echo(f"care rationales review: http://{host}:{port}/ (store: {store})", err=True)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=True, server_header=False)


COMMANDS = [rationales]
