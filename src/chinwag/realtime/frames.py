"""One event's websocket frame, built once and written straight to every member's socket.

python-engineio sends each packet through a per-socket queue that a writer task drains
(one queue hop, one task wake-up and one frame encoding per recipient). For a room event
the bytes are the same for every recipient, so here they are framed once and written to
each websocket's transport at once, where that cannot reorder anything:

- the socket is on the websocket transport, upgraded, not upgrading, closing or closed;
- its queue is empty and its writer task is waiting on it, so no packet python-engineio
  queued (an ack, a ping, another event) is queued or held by the writer still unsent;
- the websocket is open and its transport takes writes now (not paused by back-pressure).

Anything else (long-polling, an upgrade under way, a busy writer, an unknown ASGI server)
goes through python-engineio's queue as before, which keeps each connection's order.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import engineio
from engineio.async_drivers import asgi
from websockets.protocol import State

from chinwag.wire.frames import Frame, uvicorn_protocol


class WriterQueue(asyncio.Queue[Any]):
    """python-engineio's per-socket queue, counting the getters waiting on it."""

    waiting = 0

    async def get(self) -> Any:
        self.waiting += 1
        try:
            return await super().get()
        finally:
            self.waiting -= 1


class DirectWebSocket(asgi.WebSocket):  # type: ignore[misc]
    """python-engineio's ASGI websocket wrapper, known to ``DirectWriter`` while it runs."""

    writer: DirectWriter  # set on the subclass ``DirectWriter.install`` makes

    async def __call__(self, environ: dict[str, Any]) -> Any:
        socket = getattr(self.handler, "__self__", None)  # the engineio socket it serves
        if socket is None:
            return await super().__call__(environ)
        self.socket = socket
        self.protocol = uvicorn_protocol(environ.get("asgi.send"))
        self.writer.websockets[socket.sid] = self
        try:
            return await super().__call__(environ)
        finally:
            if self.writer.websockets.get(socket.sid) is self:
                del self.writer.websockets[socket.sid]


class DirectWriter:
    """Writes frames straight to this node's websockets where order allows (module doc)."""

    def __init__(self) -> None:
        self.websockets: dict[str, DirectWebSocket] = {}  # engineio sid -> its websocket

    def install(self, eio: engineio.AsyncServer) -> None:
        """Make ``eio`` build its sockets' queues and websockets from the classes here."""
        if eio.async_mode != "asgi":
            return
        eio.create_queue = lambda *args, **kwargs: WriterQueue(*args, **kwargs)
        socket_class = type("BoundDirectWebSocket", (DirectWebSocket,), {"writer": self})
        # python-engineio picks its websocket wrapper from this table, per server
        eio._async = {**eio._async, "websocket": socket_class}

    def write(self, eio_sid: str, frame: Frame, ping_timeout: float) -> bool:
        """Write ``frame`` to this socket now if nothing can be overtaken; False: queue it."""
        ws = self.websockets.get(eio_sid)
        if ws is None or ws.protocol is None:
            return False
        socket = ws.socket
        queue = socket.queue
        if (
            not socket.upgraded
            or socket.upgrading
            or socket.closing
            or socket.closed
            or not isinstance(queue, WriterQueue)
            or not queue.waiting
            or not queue.empty()
        ):
            return False
        if socket.last_ping and time.time() - socket.last_ping > ping_timeout:
            return False  # python-engineio's send closes it
        protocol = ws.protocol
        if (
            not protocol.handshake_complete
            or protocol.close_sent
            or protocol.disconnected
            or not protocol.writable.is_set()
            or protocol.transport.is_closing()
            or protocol.conn.state is not State.OPEN
        ):
            return False
        if protocol.conn.extensions:  # permessage-deflate: this connection's own frame
            protocol.conn.send_text(frame.payload)
            protocol.transport.write(b"".join(protocol.conn.data_to_send()))
        else:
            protocol.transport.write(frame.wire)
        return True
