"""What carries events to this node's connections: the Socket.IO server underneath.

The publisher decides who hears an event and encodes it once; a ``Carrier`` writes those
bytes to the named connections of this node and ends connections. ``SocketIOCarrier`` is
python-socketio's; ``NoConnections`` is a process that holds none (``chinwag admin``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import socketio
from engineio import packet as eio_packet
from socketio import packet

from chinwag.metrics import Metrics
from chinwag.realtime.frames import DirectWriter
from chinwag.wire.frames import Frame

NAMESPACE = "/"


class Carrier(Protocol):
    def encode(self, event: str, data: dict[str, Any]) -> str:
        """The Socket.IO EVENT packet of ``event`` on the chat's namespace, as text."""
        ...

    async def send(self, conn_ids: Sequence[str], encoded: str) -> None:
        """Send one encoded packet to each of these connections that is still here."""
        ...

    async def disconnect(self, conn_id: str) -> None:
        """End this connection: its client is told, its disconnect handler runs."""
        ...


def encode_event(event: str, data: dict[str, Any]) -> str:
    encoded = packet.Packet(packet.EVENT, data=[event, data], namespace=NAMESPACE).encode()
    if not isinstance(encoded, str):  # a packet with binary attachments: none of ours
        raise TypeError(f"event {event!r} has binary data")
    return encoded


class SocketIOCarrier:
    """python-socketio's server, its frames written straight where order allows."""

    def __init__(self, sio: socketio.AsyncServer, metrics: Metrics) -> None:
        self.sio = sio
        self.metrics = metrics
        self.writer = DirectWriter()
        self.writer.install(sio.eio)

    def encode(self, event: str, data: dict[str, Any]) -> str:
        return encode_event(event, data)

    async def send(self, conn_ids: Sequence[str], encoded: str) -> None:
        """The packet framed once, written straight to each websocket where nothing queued
        can be overtaken, else queued as python-socketio does (``chinwag.realtime.frames``)."""
        frame = Frame(encoded)
        message: eio_packet.Packet | None = None
        sid_of = self.sio.manager.eio_sid_from_sid
        write = self.writer.write
        ping_timeout = self.sio.eio.ping_timeout
        direct = queued = 0
        for conn_id in conn_ids:
            eio_sid = sid_of(conn_id, NAMESPACE)
            if eio_sid is None:
                continue
            if write(eio_sid, frame, ping_timeout):
                direct += 1
                continue
            if message is None:
                message = eio_packet.Packet(eio_packet.MESSAGE, encoded)
            queued += 1
            await self.sio._send_eio_packet(eio_sid, message)
        self.metrics.framed(direct, queued)

    async def disconnect(self, conn_id: str) -> None:
        await self.sio.disconnect(conn_id, namespace=NAMESPACE)


class NoConnections:
    """The carrier of a process that serves no sockets: it publishes, nobody here hears."""

    def encode(self, event: str, data: dict[str, Any]) -> str:
        return encode_event(event, data)

    async def send(self, conn_ids: Sequence[str], encoded: str) -> None:
        return None

    async def disconnect(self, conn_id: str) -> None:
        return None
