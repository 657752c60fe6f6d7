"""A Socket.IO server that caps binary packets: how many attachments, and how many bytes.

python-socketio buffers a binary event's attachments until as many have arrived as its
header declared, without a limit on the count or on their total size, so one client could
declare millions of attachments and send tens of megabytes into the buffer. Here a packet
that declares more than ``max_attachments`` (or none, which would never complete), or whose
header and attachments together pass ``max_packet_bytes``, closes its connection at once;
nothing more of it is buffered.
"""

from __future__ import annotations

from typing import Any

import socketio

from chinwag.logs import get_logger

log = get_logger(__name__)


class PacketLimitedServer(socketio.AsyncServer):  # type: ignore[misc]
    def __init__(self, *, max_packet_bytes: int, max_attachments: int, **kwargs: Any) -> None:
        # Engine.IO caps one message (a websocket frame, or a polling POST) at the same size.
        super().__init__(max_http_buffer_size=max_packet_bytes, **kwargs)
        self.max_packet_bytes = max_packet_bytes
        self.max_attachments = max_attachments
        self._binary_sizes: dict[str, int] = {}

    async def _handle_eio_message(self, eio_sid: str, data: str | bytes) -> None:
        connection = self.eio.sockets.get(eio_sid)
        if connection is None or connection.closing or connection.closed:
            return  # refused already: what it still sends is dropped unread
        pending = self._binary_packet.get(eio_sid)
        if pending is not None:
            size = self._binary_sizes.get(eio_sid, 0) + len(data)
            if size > self.max_packet_bytes:
                await self._refuse(eio_sid, "packet_too_large")
                return
            self._binary_sizes[eio_sid] = size
            if len(pending.attachments) + 1 >= pending.attachment_count:
                self._binary_sizes.pop(eio_sid, None)
            await super()._handle_eio_message(eio_sid, data)
            return
        await super()._handle_eio_message(eio_sid, data)
        started = self._binary_packet.get(eio_sid)
        if started is not None:  # a binary packet's header: its attachments follow
            if not 1 <= started.attachment_count <= self.max_attachments:
                await self._refuse(eio_sid, "too_many_attachments")
                return
            self._binary_sizes[eio_sid] = len(data)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any) -> None:
        self._binary_sizes.pop(eio_sid, None)
        await super()._handle_eio_disconnect(eio_sid, reason)

    async def _refuse(self, eio_sid: str, why: str) -> None:
        """Close the connection now: the Socket.IO session ends (disconnect handlers run),
        and the transport is told to hang up instead of waiting for the client."""
        self._binary_packet.pop(eio_sid, None)
        self._binary_sizes.pop(eio_sid, None)
        log.info("socket.packet_refused", reason=why)
        connection = self.eio.sockets.get(eio_sid)
        if connection is None:
            return
        # wait=False: a polling client may never poll again for the close packet.
        await connection.close(wait=False, abort=False, reason=self.reason.SERVER_DISCONNECT)
        await connection.queue.put(None)  # ends a websocket's writer, which closes the socket
