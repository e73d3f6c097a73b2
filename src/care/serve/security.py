"""Safe defaults: loopback binding, bearer token, body size limit, response headers."""

from __future__ import annotations

import hmac
import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from care.errors import ParameterError

DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024
LOOPBACK_NAMES = {"localhost", "ip6-localhost", "ip6-loopback"}

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) is this machine only, not the network."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve on a non-loopback address without an API token.

    Raises:
        ParameterError: ``host`` is not loopback and no token is set.
    """
    if not is_loopback(host) and not token:
        raise ParameterError(
            f"binding to {host!r} exposes the server (and its transcripts) to the network, "
            "so an API token is required",
            field="--host",
            fix="set --token-file FILE or CARE_SERVE_TOKEN, or bind to 127.0.0.1",
        )
    if token is not None and len(token) < 16:
        raise ParameterError(
            f"the API token has {len(token)} characters; it needs at least 16",
            field="--token",
            fix="use a long random token, e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`",
        )


def token_matches(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries the bearer ``token`` (constant time)."""
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), token.encode())


async def _send_json(send: Any, status: int, body: dict[str, Any], headers=()) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Answer 413 to a request whose body is over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = {
            "error": f"the request body is over the limit of {self.max_bytes} bytes",
            "problems": [
                {
                    "field": "body",
                    "message": "too large",
                    "fix": "send fewer sessions per request (use /v1/jobs in parts), or start "
                    "the server with a larger --max-body-mb",
                }
            ],
        }
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.max_bytes + 1
                if declared > self.max_bytes:
                    await _send_json(send, 413, message)
                    return
        received = 0
        started = False

        async def limited_receive() -> Any:
            nonlocal received
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return event

        async def tracking_send(event: Any) -> None:
            nonlocal started
            if event["type"] == "http.response.start":
                started = True
            await send(event)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _send_json(send, 413, message)


SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


class SecurityHeadersMiddleware:
    """Add headers that keep the page from being framed, sniffed or cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(event: Any) -> None:
            if event["type"] == "http.response.start":
                present = {name for name, _ in event.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                event = {**event, "headers": [*event.get("headers", []), *extra]}
            await send(event)

        await self.app(scope, receive, with_headers)
