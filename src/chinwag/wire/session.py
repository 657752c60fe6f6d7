"""One Engine.IO session: its transport, its ordered outbox, its heartbeat timers.

Everything sent to a session (acks, pings, events, broadcast frames) goes through ``push``:
on a websocket that takes writes now and has nothing queued, the frame is written to the
transport at once; otherwise it joins the outbox, which a polling GET returns or which a
short-lived drain task writes when the websocket is writable again. A session whose outbox
passes ``max_buffered_bytes`` is closed. Heartbeats and the connect deadline are
``loop.call_later`` timers, not tasks.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from chinwag.wire.eio_packets import CLOSE, NOOP, PING
from chinwag.wire.frames import DirectSocket, Outgoing, asgi_message, outgoing_size
from chinwag.wire.sio_packets import Packet

if TYPE_CHECKING:
    from chinwag.wire.connection import Connection
    from chinwag.wire.server import WireServer


WRITTEN = 1  # what ``Session.push`` did with an item
QUEUED = 2


class PendingBinary:
    """A binary packet whose attachments are still arriving."""

    __slots__ = ("packet", "buffers", "size")

    def __init__(self, packet: Packet, size: int) -> None:
        self.packet = packet
        self.buffers: list[bytes] = []
        self.size = size


class Session:
    __slots__ = (
        "sid",
        "server",
        "scope",
        "transport",
        "upgrading",
        "closed",
        "farewell",
        "outbox",
        "outbox_bytes",
        "socket",
        "ws_send",
        "drainer",
        "poll",
        "posting",
        "ping_timer",
        "pong_timer",
        "connect_timer",
        "sockets",
        "binary",
    )

    def __init__(self, server: WireServer, sid: str, scope: dict[str, Any], transport: str) -> None:
        self.sid = sid
        self.server = server
        self.scope = scope
        self.transport = transport  # "polling" or "websocket"
        self.upgrading = False  # a websocket probe is under way
        self.closed = False
        self.farewell = NOOP  # what a pending GET gets when the session closes
        self.outbox: list[Outgoing] | None = None
        self.outbox_bytes = 0
        self.socket: DirectSocket | None = None  # the uvicorn websocket, written directly
        self.ws_send: Any = None  # the websocket's ASGI send (fallback and closing)
        self.drainer: asyncio.Task[None] | None = None
        self.poll: asyncio.Future[None] | None = None  # the pending polling GET
        self.posting = False  # a polling POST is being handled
        self.sockets: dict[str, Connection] = {}  # namespace -> its socket
        self.binary: PendingBinary | None = None
        loop = server.loop
        self.pong_timer: asyncio.TimerHandle | None = None
        self.ping_timer: asyncio.TimerHandle | None = loop.call_later(
            server.ping_interval, self._ping
        )
        self.connect_timer: asyncio.TimerHandle | None = loop.call_later(
            server.connect_timeout, self._connect_timeout
        )

    # --- sending ---------------------------------------------------------------------

    def push(self, item: Outgoing) -> int:
        """Send ``item`` after everything sent before it: ``WRITTEN`` to the transport now,
        ``QUEUED`` behind what waits, or 0 (false) if the session is closed."""
        if self.closed:
            return 0
        socket = self.socket
        if socket is not None and self.outbox is None and socket.writable():
            socket.write(item)
            return WRITTEN
        outbox = self.outbox
        if outbox is None:
            outbox = self.outbox = []
        outbox.append(item)
        self.outbox_bytes += outgoing_size(item)
        if self.outbox_bytes > self.server.max_buffered_bytes:
            self.take_outbox()  # what it could not take is dropped, not flushed at the close
            self.close("slow connection")
            if self.socket is not None:
                self.socket.abort()  # no closing handshake with a peer that does not read
            return 0
        if self.transport == "websocket":
            if self.drainer is None and self.ws_send is not None:
                self.drainer = self.server.spawn(self._drain())
        else:
            self.wake_poll()
        return QUEUED

    def take_outbox(self) -> list[Outgoing]:
        items = self.outbox or []
        self.outbox = None
        self.outbox_bytes = 0
        return items

    def wake_poll(self) -> None:
        poll = self.poll
        if poll is not None and not poll.done():
            poll.set_result(None)

    async def _drain(self) -> None:
        """Write the outbox to the websocket as it becomes writable (then this task ends)."""
        try:
            while self.outbox:
                socket = self.socket
                if socket is None:  # not uvicorn: one ASGI send at a time
                    item = self.outbox.pop(0)
                    self.outbox_bytes -= outgoing_size(item)
                    await self.ws_send(asgi_message(item))
                elif socket.paused():
                    await socket.wait_writable()
                elif not socket.writable():
                    return  # closing or gone: nothing more goes out
                else:
                    for item in self.take_outbox():
                        socket.write(item)
        except Exception:
            self.close("transport error")
        finally:
            self.drainer = None

    def upgrade(self, send: Any, socket: DirectSocket | None) -> None:
        """The websocket takes over from polling; the pending GET returns a noop."""
        self.transport = "websocket"
        self.upgrading = False
        self.ws_send = send
        self.socket = socket
        self.wake_poll()
        if self.outbox and self.drainer is None:
            self.drainer = self.server.spawn(self._drain())

    # --- heartbeat and deadlines -----------------------------------------------------

    def _ping(self) -> None:
        self.ping_timer = None
        if self.closed:
            return
        self.pong_timer = self.server.loop.call_later(self.server.ping_timeout, self._no_pong)
        self.push(PING)

    def on_pong(self) -> None:
        if self.pong_timer is None:
            return  # unasked for
        self.pong_timer.cancel()
        self.pong_timer = None
        self.ping_timer = self.server.loop.call_later(self.server.ping_interval, self._ping)

    def _no_pong(self) -> None:
        self.pong_timer = None
        self.close("ping timeout")

    def _connect_timeout(self) -> None:
        self.connect_timer = None
        if not self.sockets:
            self.close("connect timeout", notify=True)

    def cancel_connect_timer(self) -> None:
        if self.connect_timer is not None:
            self.connect_timer.cancel()
            self.connect_timer = None

    # --- closing ---------------------------------------------------------------------

    def close(self, reason: str, *, notify: bool = False) -> None:
        """End the session (once): timers stop, the transport hangs up, and the namespaces'
        disconnect handlers run. ``notify``: a pending GET gets a close packet, not a noop."""
        if self.closed:
            return
        self.closed = True
        self.farewell = CLOSE if notify else NOOP
        for timer in (self.ping_timer, self.pong_timer, self.connect_timer):
            if timer is not None:
                timer.cancel()
        self.ping_timer = self.pong_timer = self.connect_timer = None
        self.binary = None
        self.wake_poll()
        if self.transport == "websocket" and self.ws_send is not None:
            self.server.spawn(self.hang_up())
        self.server.session_closed(self, reason)

    async def hang_up(self) -> None:
        """Send what is still queued (within ``ping_timeout``), then close the websocket.
        A second call, or a gone peer, is harmless."""
        try:
            async with asyncio.timeout(self.server.ping_timeout):
                drainer = self.drainer
                if self.socket is None and drainer not in (None, asyncio.current_task()):
                    await asyncio.wait([drainer])
                items = self.take_outbox()
                socket = self.socket
                if socket is not None and not socket.gone():
                    for item in items:  # the transport buffers them: no wait for writable
                        socket.write(item)
                elif socket is None:
                    for item in items:
                        await self.ws_send(asgi_message(item))
        except Exception:  # noqa: S110 - gone or too slow: close all the same
            pass
        try:
            async with asyncio.timeout(self.server.ping_timeout):
                await self.ws_send({"type": "websocket.close", "code": 1000})
        except TimeoutError:  # a peer that does not read: no closing handshake for it
            if self.socket is not None:
                self.socket.abort()
        except Exception:  # noqa: S110 - already closed or gone: nothing left to do
            pass
