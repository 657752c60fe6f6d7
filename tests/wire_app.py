"""A WireServer app for tests/test_wire_api.py: the calls Chinwag's namespace will make.

``uvicorn --factory tests.wire_app:create_app --ws websockets-sansio``. Namespace "/":
- connect: auth {"refuse": true} is refused with data; else the name is kept in
  ``conn.state``, "welcome" is emitted during connect, and the answer carries a ``pid``;
- "join" adds the socket to one room; "say" sends one ``encode_event`` frame to the room
  and acks how many took it; "kick" disconnects a sid server-side; "slow"/"fast" ack in turn;
- "header" acks a handshake header, "transport" the current transport, "bytes" acks bytes;
- "reasons" acks the disconnect reasons seen so far for a name.
"""

from __future__ import annotations

import asyncio
from typing import Any

from chinwag.wire import Connection, Refused, WireServer


class ApiNamespace:
    def __init__(self, server: WireServer) -> None:
        self.server = server
        self.room: set[str] = set()
        self.reasons: dict[str, list[str]] = {}

    async def connect(self, conn: Connection, auth: Any) -> dict[str, Any] | None:
        auth = auth or {}
        if auth.get("refuse"):
            raise Refused("not today", {"code": "refused"})
        conn.state["name"] = auth.get("name", "")
        await self.server.emit(conn.sid, "welcome", conn.state["name"])
        await asyncio.sleep(0)  # the CONNECT answer still goes first
        return {"pid": f"pid-{conn.sid}"}

    async def event(self, conn: Connection, event: str, args: list[Any]) -> list[Any] | None:
        if event == "join":
            self.room.add(conn.sid)
            return [conn.sid]
        if event == "say":
            frame = self.server.encode_event("said", *args, offset="7-1")
            return [sum(self.server.send(sorted(self.room), frame))]
        if event == "kick":
            await self.server.disconnect(args[0])
            return ["kicked"]
        if event == "slow":
            await asyncio.sleep(0.05)
            return ["slow"]
        if event == "fast":
            return ["fast"]
        if event == "header":
            return [conn.headers().get(args[0])]
        if event == "transport":
            return [conn.transport]
        if event == "bytes":
            return [b"\x00\x01", {"nested": [b"\x02"]}]
        if event == "reasons":
            return [self.reasons.get(args[0], [])]
        return None

    async def disconnect(self, conn: Connection, reason: str) -> None:
        self.room.discard(conn.sid)
        self.reasons.setdefault(conn.state.get("name", ""), []).append(reason)


def create_app() -> WireServer:
    server = WireServer(ping_interval=5.0, ping_timeout=5.0, connect_timeout=5.0)
    server.register("/", ApiNamespace(server))
    return server


def create_wrapped_app() -> Any:
    """``create_app`` behind a middleware that wraps ``send``: the uvicorn protocol cannot be
    found behind it, so every websocket write takes the ASGI fallback."""
    server = create_app()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        async def wrapped_send(message: Any) -> None:
            await send(message)

        await server(scope, receive, wrapped_send)

    return app
