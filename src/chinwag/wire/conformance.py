"""The official Socket.IO test suite's reference server, on ``WireServer``.

``chinwag conformance --port 3000`` serves what socket.io-protocol's test-suite expects:
pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1000000, connectTimeout 1000 ms; on
namespaces "/" and "/custom", a connect emits "auth" with the auth payload, "message" is
echoed as "message-back", and "message-with-ack" is acked with its own arguments.
"""

from __future__ import annotations

from typing import Any

from chinwag.wire.connection import Connection
from chinwag.wire.server import WireServer


class EchoNamespace:
    def __init__(self, server: WireServer) -> None:
        self.server = server

    async def connect(self, conn: Connection, auth: Any) -> dict[str, Any] | None:
        await self.server.emit(conn.sid, "auth", {} if auth is None else auth)
        return None

    async def event(self, conn: Connection, event: str, args: list[Any]) -> list[Any] | None:
        if event == "message":
            await self.server.emit(conn.sid, "message-back", *args)
        elif event == "message-with-ack":
            return args
        return None

    async def disconnect(self, conn: Connection, reason: str) -> None:
        return None


# the test-suite's reference server, in seconds
PING_INTERVAL, PING_TIMEOUT, CONNECT_TIMEOUT = 0.3, 0.2, 1.0


def create_conformance_app(
    ping_interval: float = PING_INTERVAL,
    ping_timeout: float = PING_TIMEOUT,
    connect_timeout: float = CONNECT_TIMEOUT,
) -> WireServer:
    server = WireServer(
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_payload=1_000_000,
        connect_timeout=connect_timeout,
    )
    for name in ("/", "/custom"):
        server.register(name, EchoNamespace(server))
    return server


def run_conformance(
    host: str,
    port: int,
    ping_interval: float = PING_INTERVAL,
    ping_timeout: float = PING_TIMEOUT,
    connect_timeout: float = CONNECT_TIMEOUT,
) -> None:
    import uvicorn

    uvicorn.run(
        create_conformance_app(ping_interval, ping_timeout, connect_timeout),
        host=host,
        port=port,
        ws="websockets-sansio",
        ws_max_size=2_000_000,
        log_level="warning",
        access_log=False,
    )
