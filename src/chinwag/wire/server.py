"""``WireServer``: Engine.IO v4 / Socket.IO v5 as an ASGI app, and what the app calls on it."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Coroutine, Iterable
from typing import Any
from urllib.parse import parse_qsl

from chinwag.logs import get_logger
from chinwag.wire.connection import Connection, Namespace
from chinwag.wire.eio_packets import (
    BAD_REQUEST,
    MESSAGE,
    UNKNOWN_TRANSPORT,
    UNSUPPORTED_PROTOCOL_VERSION,
)
from chinwag.wire.frames import Frame
from chinwag.wire.polling import respond, respond_error, serve_polling
from chinwag.wire.session import QUEUED, WRITTEN, Session
from chinwag.wire.sio_packets import (
    BINARY_ACK,
    BINARY_EVENT,
    DISCONNECT,
    EVENT,
    deconstruct,
    encode_packet,
    has_binary,
)
from chinwag.wire.websocket import serve_websocket

log = get_logger(__name__)

TRANSPORTS = ("polling", "websocket")


class WireServer:
    """The ASGI app: requests under ``/<path>/`` are Engine.IO, the rest go to ``other_app``."""

    def __init__(
        self,
        *,
        other_app: Any = None,
        path: str = "socket.io",
        ping_interval: float = 25.0,
        ping_timeout: float = 20.0,
        max_payload: int = 1_000_000,
        connect_timeout: float = 45.0,
        max_attachments: int = 10,
        max_packet_bytes: int = 1_000_000,
        max_buffered_bytes: int = 4_000_000,
    ) -> None:
        self.other_app = other_app
        self.path = "/" + path.strip("/")
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.max_payload = max_payload
        self.connect_timeout = connect_timeout
        self.max_attachments = max_attachments
        self.max_packet_bytes = max_packet_bytes
        self.max_buffered_bytes = max_buffered_bytes
        self.namespaces: dict[str, Namespace] = {}
        self.sessions: dict[str, Session] = {}  # Engine.IO sid -> session
        self.connections: dict[str, Connection] = {}  # Socket.IO sid -> namespace socket
        self.tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def register(self, name: str, namespace: Namespace) -> None:
        self.namespaces[name] = namespace

    def connection(self, sid: str) -> Connection | None:
        conn = self.connections.get(sid)
        return conn if conn is not None and conn.connected else None

    # --- ASGI ------------------------------------------------------------------------

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind in ("http", "websocket") and scope["path"].rstrip("/") == self.path:
            await self.serve(scope, receive, send)
        elif self.other_app is not None:
            await self.other_app(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)
        elif kind == "http":
            await respond(send, 404, b"Not Found", [(b"content-type", b"text/plain")])
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    async def serve(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        transport = query.get("transport")
        error = None
        if query.get("EIO") != "4":
            error = UNSUPPORTED_PROTOCOL_VERSION
        elif transport not in TRANSPORTS:
            error = UNKNOWN_TRANSPORT
        elif (scope["type"] == "websocket") != (transport == "websocket"):
            error = BAD_REQUEST
        if scope["type"] == "http":
            if error is not None:
                await respond_error(send, error)
            else:
                await serve_polling(self, scope, receive, send, query.get("sid"))
        elif error is not None:
            await self.refuse_websocket(scope, send, error)
        else:
            await serve_websocket(self, scope, receive, send, query.get("sid"))

    async def refuse_websocket(self, scope: dict[str, Any], send: Any, code: int) -> None:
        """Refuse the websocket handshake (uvicorn answers 403). The reference answers 400
        with ``error_body(code)``, but uvicorn logs an error for a websocket's HTTP answer."""
        await send({"type": "websocket.close", "code": 1008})

    async def lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # --- sessions and sockets --------------------------------------------------------

    def open_session(self, scope: dict[str, Any], transport: str) -> Session:
        session = Session(self, secrets.token_urlsafe(15), scope, transport)
        self.sessions[session.sid] = session
        return session

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def session_closed(self, session: Session, reason: str) -> None:
        """Called by ``Session.close``: forget it, and run its sockets' disconnect handlers."""
        self.sessions.pop(session.sid, None)
        conns = list(session.sockets.values())
        if conns:
            self.spawn(self._end_sockets(conns, reason))

    async def _end_sockets(self, conns: list[Connection], reason: str) -> None:
        for conn in conns:
            await self.end_socket(conn, reason)

    async def end_socket(self, conn: Connection, reason: str) -> None:
        """Forget a namespace socket and run its namespace's disconnect handler (once)."""
        session = conn.session
        if session.sockets.get(conn.namespace) is conn:
            del session.sockets[conn.namespace]
        self.connections.pop(conn.sid, None)
        if not conn.connected:
            return
        conn.connected = False
        try:
            await conn.handler.disconnect(conn, reason)
        except Exception:
            log.exception("wire.disconnect_failed", namespace=conn.namespace)

    # --- sending ---------------------------------------------------------------------

    def deliver(self, conn: Connection, item: Any) -> int:
        """``item`` to ``conn``'s session in order (held while its connect handler runs):
        what ``Session.push`` did with it (0: nothing, the connection is gone)."""
        if conn.held is not None:
            conn.held.append(item)
            return QUEUED
        return conn.session.push(item) if conn.connected else 0

    def write_packet(
        self, conn: Connection, kind: int, data: list[Any], ack_id: int | None = None
    ) -> int:
        """An EVENT or ACK packet (as BINARY_* with its attachments when ``data`` has bytes)."""
        try:  # no bytes inside (the usual case) costs no walk over ``data``
            text = encode_packet(kind, conn.namespace, data, ack_id)
        except TypeError:
            if not has_binary(data):
                raise
        else:
            return self.deliver(conn, MESSAGE + text)
        buffers: list[bytes] = []
        placeheld = deconstruct(data, buffers)
        binary_kind = BINARY_EVENT if kind == EVENT else BINARY_ACK
        head = encode_packet(binary_kind, conn.namespace, placeheld, ack_id, len(buffers))
        sent = self.deliver(conn, MESSAGE + head)
        for buffer in buffers:
            sent = self.deliver(conn, buffer) if sent else 0
        return sent

    def encode_event(
        self, event: str, *args: Any, namespace: str = "/", offset: str | None = None
    ) -> Frame:
        """A text EVENT packet, framed once for every recipient (no bytes in ``args``)."""
        data = [event, *args] if offset is None else [event, *args, offset]
        return Frame(encode_packet(EVENT, namespace, data))

    def send(self, sids: Iterable[str], frame: Frame) -> tuple[int, int]:
        """Write ``frame`` to each connection now or after what it already has queued:
        how many took it at once, and how many queued it."""
        connections = self.connections
        written = queued = 0
        for sid in sids:
            conn = connections.get(sid)
            if conn is None:
                continue
            done = self.deliver(conn, frame)
            if done == WRITTEN:
                written += 1
            elif done == QUEUED:
                queued += 1
        return written, queued

    async def emit(self, sid: str, event: str, *args: Any) -> None:
        conn = self.connections.get(sid)
        if conn is not None:
            self.write_packet(conn, EVENT, [event, *args])

    async def disconnect(self, sid: str) -> None:
        """Server-side: DISCONNECT, the namespace's disconnect handler, then close the
        Engine.IO session if no other namespace is connected on it."""
        conn = self.connections.get(sid)
        if conn is None:
            return
        if not conn.connected:  # its connect handler is running: it ends when that returns
            conn.ending = True
            return
        session = conn.session
        self.deliver(conn, MESSAGE + encode_packet(DISCONNECT, conn.namespace))
        await self.end_socket(conn, "server namespace disconnect")
        if not session.sockets:
            session.close("server disconnect", notify=True)

    async def close(self) -> None:
        """Close every session (on shutdown) and wait for the disconnect handlers."""
        for session in list(self.sessions.values()):
            for conn in list(session.sockets.values()):
                self.deliver(conn, MESSAGE + encode_packet(DISCONNECT, conn.namespace))
            session.close("server shutting down", notify=True)
        while self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
