"""The Socket.IO server underneath, chosen by ``CHINWAG_SOCKET_SERVER``: Chinwag's own
(``chinwag.wire``, the default), or python-socketio. Both carry the same ``ChatEvents`` and the same
publisher; the clients cannot tell them apart."""

from __future__ import annotations

from typing import Any

import socketio

from chinwag.config import Settings
from chinwag.metrics import Metrics
from chinwag.realtime.carrier import Carrier, SocketIOCarrier
from chinwag.realtime.chat import ChatEvents
from chinwag.realtime.namespace import ChatNamespace
from chinwag.realtime.packets import PacketLimitedServer
from chinwag.realtime.wire_chat import WireCarrier, WireChat
from chinwag.wire import WireServer

SOCKET_PATH = "socket.io"


class SocketLayer:
    """One Socket.IO server: its carrier for the publisher, then its namespace and ASGI app."""

    carrier: Carrier

    def serve(self, chat: ChatEvents, other_app: Any) -> Any:
        """Register the chat's namespace; the ASGI app serving Socket.IO, the rest to
        ``other_app``."""
        raise NotImplementedError

    async def close(self) -> None:
        """Close every connection (on shutdown)."""


class PythonSocketIO(SocketLayer):
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.sio = PacketLimitedServer(
            max_packet_bytes=settings.max_socket_packet_bytes,
            max_attachments=settings.max_socket_attachments,
            async_mode="asgi",
            cors_allowed_origins=[],  # the chat checks Origin itself and says why it refuses
            async_handlers=False,  # one event at a time per connection: per-client order holds
            logger=False,
            engineio_logger=False,
        )
        self.carrier = SocketIOCarrier(self.sio, metrics)

    def serve(self, chat: ChatEvents, other_app: Any) -> Any:
        self.sio.register_namespace(ChatNamespace(chat))
        return socketio.ASGIApp(self.sio, other_asgi_app=other_app, socketio_path=SOCKET_PATH)


class OwnSocketIO(SocketLayer):
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.server = WireServer(
            path=SOCKET_PATH,
            max_payload=settings.max_socket_packet_bytes,
            max_packet_bytes=settings.max_socket_packet_bytes,
            max_attachments=settings.max_socket_attachments,
        )
        self.carrier = WireCarrier(self.server, metrics)

    def serve(self, chat: ChatEvents, other_app: Any) -> Any:
        self.server.register("/", WireChat(chat, self.server))
        self.server.other_app = other_app
        return self.server

    async def close(self) -> None:
        await self.server.close()


def socket_layer(settings: Settings, metrics: Metrics) -> SocketLayer:
    if settings.socket_server == "own":
        return OwnSocketIO(settings, metrics)
    return PythonSocketIO(settings, metrics)
