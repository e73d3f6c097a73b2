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


class BodyLimitMiddleware:
    """Answer 413 to a request whose body is over ``max_bytes``, declared or streamed.

    The body is read here, up to the limit, before the app sees the request: a chunked
    body (no ``Content-Length``) over the limit is answered 413 as soon as it passes the
    limit, instead of failing later inside the app's body parsing.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.max_bytes + 1
                if declared > self.max_bytes:
                    await _send_json(send, 413, self._too_large())
                    return
        chunks: list[bytes] = []
        received = 0
        while True:
            event = await receive()
            if event["type"] != "http.request":  # the client went away
                return
            chunk = event.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                await _send_json(send, 413, self._too_large())
                return
            chunks.append(chunk)
            if not event.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect

        await self.app(scope, replay, send)

    def _too_large(self) -> dict[str, Any]:
        return {
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


class HostHeaderMiddleware:
    """Answer 400 to a request without a ``Host`` header or with an empty one (HTTP/1.1
    requires it, and an empty one cannot be checked against the allowed hosts)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            hosts = [value for name, value in scope.get("headers", []) if name == b"host"]
            if len(hosts) != 1 or not hosts[0].strip():
                problem = "missing" if not hosts else "empty" if len(hosts) == 1 else "repeated"
                await _send_json(
                    send,
                    400,
                    {
                        "error": f"the Host header is {problem}",
                        "problems": [
                            {
                                "field": "host",
                                "message": f"{problem} Host header",
                                "fix": "send one Host header naming the server, as HTTP/1.1 "
                                "clients do",
                            }
                        ],
                    },
                )
                return
        await self.app(scope, receive, send)


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
