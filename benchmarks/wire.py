"""A lean Socket.IO v5 client over Engine.IO v4 websockets, for holding thousands of
connections from one process with little CPU per message.

It speaks only what the benchmarks need: the websocket transport
(``/socket.io/?EIO=4&transport=websocket``), the default namespace, text packets, pings
answered (``2`` -> ``3``), CONNECT with an auth payload and a cookie, events
(``42[...]``) and acks (``43<id>[...]``). Received events go to one callback as the raw
packet text (the benchmarks look for their own tag in it instead of parsing every packet).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

# (conn, raw packet text after "42") for every event the server sends
EventSink = Callable[["Conn", str], None]


class HandshakeRefused(Exception):
    """The server answered CONNECT with CONNECT_ERROR (``44``) or closed the socket."""


class Conn:
    """One Socket.IO connection; ``connect`` opens it, ``emit``/``call`` send events."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, on_event: EventSink) -> None:
        self.http = http
        self.url = base_url.rstrip("/") + "/socket.io/?EIO=4&transport=websocket"
        self.on_event = on_event
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.sid: str | None = None
        self.closed = asyncio.Event()
        self._acks: dict[int, asyncio.Future[Any]] = {}
        self._next_ack = 0
        self._connected: asyncio.Future[str] | None = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, cookie: str | None = None, auth: Any = None) -> None:
        headers = {"Cookie": cookie} if cookie else {}
        # no permessage-deflate (compress=0), as the reference server does not enable it;
        # websocket PING frames are answered (uvicorn sends them every 20 s and closes the
        # connection when no PONG comes within 20 s), Engine.IO pings in ``_read``
        self.ws = await self.http.ws_connect(
            self.url, headers=headers, compress=0, autoping=True, max_msg_size=0
        )
        open_packet = await self.ws.receive_str()
        if not open_packet.startswith("0"):
            raise HandshakeRefused(f"no Engine.IO OPEN: {open_packet[:80]!r}")
        self._connected = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())
        await self.ws.send_str("40" + (json.dumps(auth) if auth is not None else ""))
        self.sid = await self._connected

    async def _read(self) -> None:
        assert self.ws is not None
        ws = self.ws
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data: str = msg.data
                kind = data[:2]
                if kind == "42":
                    self.on_event(self, data[2:])
                elif kind == "43":
                    self._ack(data[2:])
                elif data == "2":
                    await ws.send_str("3")
                elif kind == "40":
                    if self._connected and not self._connected.done():
                        self._connected.set_result(json.loads(data[2:] or "{}").get("sid", ""))
                elif kind == "44":
                    if self._connected and not self._connected.done():
                        self._connected.set_exception(HandshakeRefused(data[2:200]))
                elif kind == "41":
                    break
        except (aiohttp.ClientError, ConnectionError):
            pass
        finally:
            self.closed.set()
            error = ConnectionError("connection closed")
            if self._connected and not self._connected.done():
                self._connected.set_exception(HandshakeRefused("closed before CONNECT"))
            for future in self._acks.values():
                if not future.done():
                    future.set_exception(error)
            self._acks.clear()

    def _ack(self, rest: str) -> None:
        bracket = rest.find("[")
        future = self._acks.pop(int(rest[:bracket]), None)
        if future is not None and not future.done():
            args = json.loads(rest[bracket:])
            future.set_result(args[0] if args else None)

    async def emit(self, event: str, data: Any) -> None:
        assert self.ws is not None
        await self.ws.send_str("42" + json.dumps([event, data], separators=(",", ":")))

    def call_nowait(self, event: str, data: Any) -> asyncio.Future[Any]:
        """Send an event asking for an ack; the future resolves to the ack's first argument."""
        assert self.ws is not None
        self._next_ack += 1
        ack_id = self._next_ack
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        packet = f"42{ack_id}" + json.dumps([event, data], separators=(",", ":"))
        send = asyncio.ensure_future(self.ws.send_str(packet))
        send.add_done_callback(lambda done: done.cancelled() or done.exception())
        return future

    async def call(self, event: str, data: Any, within: float = 30) -> Any:
        return await asyncio.wait_for(self.call_nowait(event, data), within)

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            try:
                await self.ws.send_str("41")
                await self.ws.close()
            except (aiohttp.ClientError, ConnectionError, RuntimeError):
                pass
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


def new_http_session() -> aiohttp.ClientSession:
    """One HTTP session for thousands of websockets: no connection cap, no cookie jar."""
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())
