"""ASGI middleware: a request id on every log line, clean URLs, and a cap on request bodies."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import anyio
import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chinwag.logs import get_logger

log = get_logger("chinwag.http")


NUL_REFUSED = (
    b'{"error":{"code":"bad_request","message":"URLs must not contain NUL (%00) characters."}}'
)


def has_nul(scope: Scope) -> bool:
    """Whether the (decoded) path or the query string carries a NUL character.

    No name, code or search in Chinwag contains one, and PostgreSQL refuses to compare text
    with it, so such a URL is refused before any handler can pass it to a query.
    """
    return "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"")


class RequestContext:
    """Binds a request id (echoed as ``X-Request-Id``), refuses URLs with NUL characters, and
    logs one line per request."""

    def __init__(self, app: ASGIApp, node_name: str = "") -> None:
        self.app = app
        self.node = [(b"x-chinwag-node", node_name.encode())] if node_name else []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                    *self.node,
                ]
            await send(message)

        try:
            if has_nul(scope):
                await send_json(send_with_id, 400, NUL_REFUSED)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            log.info("http.request", method=scope["method"], path=scope["path"], status=status)


def host_name(host_header: str) -> str:
    """``example.org`` from ``example.org:8000``, ``::1`` from ``[::1]:8000``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class HostAllowList:
    """Answers only requests whose ``Host`` is configured (HTTP and websocket alike), so a
    page that rebinds its own DNS name to this server's address is refused."""

    def __init__(self, app: ASGIApp, hosts: list[str]) -> None:
        self.app = app
        self.hosts = {host_name(h) for h in hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw = dict(scope.get("headers", [])).get(b"host", b"")
        if host_name(raw.decode("latin-1")) in self.hosts:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = (
            b'{"error":{"code":"host_not_allowed",'
            b'"message":"This server does not answer to that host name."}}'
        )
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class BodyCap:
    """How many body bytes a request may send, and what a refusal says."""

    limit: int
    code: str = "too_large"
    message: str = ""

    @property
    def text(self) -> str:
        return self.message or f"Request bodies here are limited to {self.limit:,} bytes."

    def refusal(self) -> bytes:
        return error_body(self.code, self.text)


# A refused body is read and dropped up to this much more, for at most this long, so that a
# client that sends its whole body before reading (most HTTP libraries) gets to read the 413
# instead of a reset connection. A body declared larger than that is answered at once.
DRAIN_BYTES = 8 * 1024 * 1024
DRAIN_SECONDS = 10.0


class BodyTooLarge(HTTPException):
    """Raised into the application when a streamed body passes its cap; ``BodyLimit`` answers."""

    def __init__(self, cap: BodyCap) -> None:
        super().__init__(413, cap.text)


class BodyLimit:
    """Refuses request bodies over a cap with 413, by Content-Length or as they stream in.

    The refusal is this middleware's own (the path's code and message), sent after draining
    a bounded amount of the rest of the body, with ``Connection: close``.
    """

    def __init__(self, app: ASGIApp, default: BodyCap, overrides: dict[str, BodyCap]) -> None:
        self.app = app
        self.default = default
        self.overrides = overrides

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.overrides.get(scope["path"], self.default)
        declared = content_length(scope)
        if declared is not None and declared > cap.limit:
            await refuse_body(receive, send, 413, cap.refusal(), budget=drain_budget(cap, declared))
            return
        received = 0
        overflow: bool | None = None  # once over the cap: whether more body is still to come
        started = False

        async def limited_receive() -> Message:
            nonlocal received, overflow
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap.limit:
                    overflow = bool(message.get("more_body", False))
                    raise BodyTooLarge(cap)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if overflow is not None and not started:
                return  # the application's answer to BodyTooLarge: ours goes instead
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLarge:
            if started:
                raise
        if overflow is not None and not started:
            budget = cap.limit + DRAIN_BYTES - received if overflow else 0
            await refuse_body(receive, send, 413, cap.refusal(), budget=budget)


class SocketBodyLimit:
    """Engine.IO long-polling POSTs over the packet cap get 413 before Engine.IO sees them.

    python-engineio answers an oversize POST by closing its session and waiting for a GET
    poll to carry the close packet, so an attacker's POST (that sends no GET) would hang for
    ever and keep its connection open. Bodies without Content-Length are refused too (411):
    Engine.IO would read such a body to its end and ignore it.
    """

    def __init__(self, app: ASGIApp, path: str, cap: BodyCap) -> None:
        self.app = app
        self.path = "/" + path.strip("/") + "/"
        self.cap = cap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and (scope["path"].rstrip("/") + "/").startswith(self.path)
        ):
            declared = content_length(scope)
            if declared is None:
                refusal = error_body(
                    "length_required", "Socket.IO polling requests must carry a Content-Length."
                )
                budget = self.cap.limit + DRAIN_BYTES
                await refuse_body(receive, send, 411, refusal, budget=budget)
                return
            if declared > self.cap.limit:
                budget = drain_budget(self.cap, declared)
                await refuse_body(receive, send, 413, self.cap.refusal(), budget=budget)
                return
        await self.app(scope, receive, send)


def content_length(scope: Scope) -> int | None:
    """The declared body length (the largest, if several are declared), or None."""
    declared = None
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                continue
            declared = length if declared is None else max(declared, length)
    return declared


def drain_budget(cap: BodyCap, declared: int) -> int:
    """A body declared over the cap is drained whole if it is within the drain allowance."""
    return declared if declared <= cap.limit + DRAIN_BYTES else 0


async def refuse_body(
    receive: Receive, send: Send, status: int, body: bytes, *, budget: int
) -> None:
    """Answer ``status`` and close, after reading and dropping up to ``budget`` bytes of what
    is left of the body (for at most ``DRAIN_SECONDS``)."""
    with anyio.move_on_after(DRAIN_SECONDS):
        while budget > 0:
            message = await receive()
            if message["type"] != "http.request":
                break
            budget -= len(message.get("body", b""))
            if not message.get("more_body", False):
                break
    await send_json(send, status, body, close=True)


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


async def send_json(send: Send, status: int, body: bytes, *, close: bool = False) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
