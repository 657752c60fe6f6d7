"""The chat's events carried by Chinwag's own Socket.IO server (``chinwag.wire``).

``WireChat`` is the chat's namespace on it, handing each handshake and event to
``ChatEvents``; ``WireCarrier`` is the publisher's way to this node's connections: one frame
built per event, written to every recipient without a task or a queue hop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chinwag.metrics import Metrics
from chinwag.realtime.carrier import encode_event
from chinwag.realtime.chat import ChatEvents, ConnectRefused
from chinwag.wire import Connection, Refused, WireServer
from chinwag.wire.frames import Frame


class WireChat:
    """The chat's namespace on a ``WireServer``."""

    def __init__(self, chat: ChatEvents, server: WireServer) -> None:
        self.chat = chat
        chat.disconnect = server.disconnect

    async def connect(self, conn: Connection, auth: Any) -> dict[str, Any] | None:
        scheme = conn.scope.get("scheme", "http")
        try:
            conn.state["user_id"] = await self.chat.connect(conn.sid, scheme, conn.headers())
        except ConnectRefused as exc:
            raise Refused(exc.code, exc.data()) from None
        return None

    async def event(self, conn: Connection, event: str, args: list[Any]) -> list[Any] | None:
        return [await self.chat.handle(conn.sid, event, args)]

    async def disconnect(self, conn: Connection, reason: str) -> None:
        await self.chat.disconnected(conn.sid, conn.state.get("user_id"))


class WireCarrier:
    """The publisher's carrier over a ``WireServer``."""

    def __init__(self, server: WireServer, metrics: Metrics) -> None:
        self.server = server
        self.metrics = metrics

    def encode(self, event: str, data: dict[str, Any]) -> str:
        return encode_event(event, data)

    async def send(self, conn_ids: Sequence[str], encoded: str) -> None:
        self.metrics.framed(*self.server.send(conn_ids, Frame(encoded)))

    async def disconnect(self, conn_id: str) -> None:
        await self.server.disconnect(conn_id)
