"""A lean Socket.IO v5 client over Engine.IO v4 websockets, for holding thousands of
connections from one process with little CPU per message.

It speaks only what the benchmarks need: the websocket transport
(``/socket.io/?EIO=4&transport=websocket``), the default namespace, text packets, pings
answered (``2`` -> ``3``), CONNECT with an auth payload and a cookie, events
(``42[...]``) and acks (``43<id>[...]``). Received events go to one callback as the raw
packet text (the benchmarks look for their own tag in it instead of parsing every packet).

The websocket itself (RFC 6455) is an asyncio protocol of its own, not a client library's:
the frames of a data chunk are cut out and handed on in ``data_received``, with no queue, no
task switch and no message object per frame. aiohttp's client, which this replaced, cost
~20 µs of the generator's CPU per frame received, so that at (a)'s 70 msg/s per room the
generator, not the server, was the limit. No extension is offered (the reference server
does not enable permessage-deflate); websocket PINGs are answered with PONGs, a CLOSE with a
CLOSE.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

# (conn, raw packet text after "42") for every event the server sends
EventSink = Callable[["Conn", str], None]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455: the accept key's suffix
TEXT, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x8, 0x9, 0xA, 0x0
MAX_HANDSHAKE_BYTES = 65_536


class HandshakeRefused(Exception):
    """The server refused the websocket or the CONNECT (``44``), or closed the socket."""


def frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame (RFC 6455 5.2: a client masks every frame)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = os.urandom(4)
    if not n:
        return head + key
    keystream = (key * (n // 4 + 1))[:n]
    masked = int.from_bytes(payload, "big") ^ int.from_bytes(keystream, "big")
    return head + key + masked.to_bytes(n, "big")


class _WebSocket(asyncio.Protocol):
    """The client end of one websocket: the upgrade, then frames in and out."""

    def __init__(self, request: bytes, accept: bytes, on_text: Callable[[str], None]) -> None:
        self.request = request
        self.accept = accept
        self.on_text = on_text
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed = asyncio.Event()
        self.upgraded = False
        self.buffer = bytearray()
        self.fragments: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(HandshakeRefused("closed during the websocket upgrade"))
        self.closed.set()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded and not self._upgrade():
            return
        buffer, at, end = self.buffer, 0, len(self.buffer)
        while end - at >= 2:
            first, second = buffer[at], buffer[at + 1]
            length, head = second & 0x7F, 2
            if second & 0x80:  # a server never masks: not a websocket server
                self._fail("a masked frame from the server")
                return
            if length == 126:
                if end - at < 4:
                    break
                length, head = int.from_bytes(buffer[at + 2 : at + 4], "big"), 4
            elif length == 127:
                if end - at < 10:
                    break
                length, head = int.from_bytes(buffer[at + 2 : at + 10], "big"), 10
            if end - at < head + length:
                break
            payload = bytes(buffer[at + head : at + head + length])
            at += head + length
            self._frame(first & 0x80, first & 0x0F, payload)
        del buffer[:at]

    def _upgrade(self) -> bool:
        """Read the answer to the upgrade; True once it is a 101 with the right accept key."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HANDSHAKE_BYTES:
                self._fail("an endless handshake answer")
            return False
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[: end + 4]
        status = head[0].split(" ", 2)
        headers = dict(
            (name.strip().lower(), value.strip())
            for name, _, value in (line.partition(":") for line in head[1:])
        )
        if len(status) < 2 or status[1] != "101":
            self._fail(f"upgrade answered {head[0][:80]!r}")
            return False
        if headers.get("sec-websocket-accept", "").encode() != self.accept:
            self._fail("a wrong Sec-WebSocket-Accept")
            return False
        self.upgraded = True
        self.opened.set_result(None)
        return True

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode == TEXT or opcode == CONTINUATION:
            if not fin:
                self.fragments.append(payload)
                return
            if self.fragments:
                payload = b"".join([*self.fragments, payload])
                self.fragments = []
            self.on_text(payload.decode())
        elif opcode == PING:
            self.send(PONG, payload)
        elif opcode == CLOSE:
            self.send(CLOSE, payload[:2])
            self.close()

    def _fail(self, why: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(HandshakeRefused(why))
        self.close()

    def send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(opcode, payload))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class Conn:
    """One Socket.IO connection; ``connect`` opens it, ``emit``/``call`` send events."""

    def __init__(self, base_url: str, on_event: EventSink) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.path = parts.path.rstrip("/") + "/socket.io/?EIO=4&transport=websocket"
        self.on_event = on_event
        self.ws: _WebSocket | None = None
        self.sid: str | None = None
        self.closed = asyncio.Event()
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._next_ack = 0
        self._opened: asyncio.Future[None] | None = None
        self._connected: asyncio.Future[str] | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def connect(self, cookie: str | None = None, auth: Any = None) -> None:
        loop = asyncio.get_running_loop()
        key = base64.b64encode(os.urandom(16))
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())  # noqa: S324 (RFC 6455)
        lines = [
            f"GET {self.path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key.decode()}",
            "Sec-WebSocket-Version: 13",
            *([f"Cookie: {cookie}"] if cookie else []),
        ]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self._opened = loop.create_future()
        self._connected = loop.create_future()
        _, ws = await loop.create_connection(
            lambda: _WebSocket(request, accept, self._on_text), self.host, self.port
        )
        self.ws = ws
        self._watcher = loop.create_task(self._watch(ws))
        await ws.opened
        await self._opened  # Engine.IO OPEN
        ws.send(TEXT, ("40" + (json.dumps(auth) if auth is not None else "")).encode())
        self.sid = await self._connected

    async def _watch(self, ws: _WebSocket) -> None:
        await ws.closed.wait()
        self.closed.set()
        error = ConnectionError("connection closed")
        for future in (self._opened, self._connected):
            if future is not None and not future.done():
                future.set_exception(HandshakeRefused("closed before CONNECT"))
                future.exception()  # still raised to an awaiter; not logged if there is none
        for future in self._acks.values():
            if not future.done():
                future.set_exception(error)
        self._acks.clear()

    def _on_text(self, data: str) -> None:
        kind = data[:2]
        if kind == "42":
            self.on_event(self, data[2:])
        elif kind == "43":
            self._ack(data[2:])
        elif data == "2":
            self._send("3")
        elif data[:1] == "0":
            if self._opened is not None and not self._opened.done():
                self._opened.set_result(None)
        elif kind == "40":
            if self._connected is not None and not self._connected.done():
                self._connected.set_result(json.loads(data[2:] or "{}").get("sid", ""))
        elif kind == "44":
            if self._connected is not None and not self._connected.done():
                self._connected.set_exception(HandshakeRefused(data[2:200]))
        elif kind == "41" and self.ws is not None:
            self.ws.close()

    def _ack(self, rest: str) -> None:
        bracket = rest.find("[")
        future = self._acks.pop(int(rest[:bracket]), None)
        if future is not None and not future.done():
            args = json.loads(rest[bracket:])
            future.set_result(args[0] if args else None)

    def _send(self, text: str) -> None:
        if self.ws is None or self.closed.is_set():
            raise ConnectionError("connection closed")
        self.ws.send(TEXT, text.encode())

    async def emit(self, event: str, data: Any) -> None:
        self._send("42" + json.dumps([event, data], separators=(",", ":")))

    def call_nowait(self, event: str, data: Any) -> asyncio.Future[Any]:
        """Send an event asking for an ack; the future resolves to the ack's first argument."""
        self._next_ack += 1
        ack_id = self._next_ack
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        try:
            self._send(f"42{ack_id}" + json.dumps([event, data], separators=(",", ":")))
        except ConnectionError as error:
            del self._acks[ack_id]
            future.set_exception(error)
        return future

    async def call(self, event: str, data: Any, within: float = 30) -> Any:
        return await asyncio.wait_for(self.call_nowait(event, data), within)

    async def close(self) -> None:
        ws = self.ws
        if ws is None:
            return
        if not self.closed.is_set():
            with contextlib.suppress(ConnectionError):
                self._send("41")
            ws.send(CLOSE, (1000).to_bytes(2, "big"))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ws.closed.wait(), 5)  # the server's CLOSE, then EOF
        ws.close()
        await ws.closed.wait()
        if self._watcher is not None:
            await self._watcher
