"""Engine.IO packets framed for the wire once, and written straight to a uvicorn websocket.

A broadcast's bytes are the same for every recipient: ``Frame`` holds them as Engine.IO text
(what a polling GET returns) and as one ready, unmasked websocket text frame (RFC 6455).
Under uvicorn's websockets-sansio protocol the frame is written to the TCP transport with no
ASGI ``send``, no queue and no task; ``DirectSocket`` wraps that protocol.
"""

from __future__ import annotations

from typing import Any

from websockets.protocol import State

from chinwag.wire.eio_packets import MESSAGE

TEXT_OPCODE = 0x81  # FIN + text
BINARY_OPCODE = 0x82  # FIN + binary


class Frame:
    """A Socket.IO packet as Engine.IO text and as an unmasked websocket text frame."""

    __slots__ = ("text", "payload", "wire")

    def __init__(self, encoded: str) -> None:
        self.text = MESSAGE + encoded
        self.payload = self.text.encode()
        self.wire = ws_header(len(self.payload)) + self.payload


# What goes out to a connection: a prebuilt frame, an Engine.IO text packet, or binary data.
Outgoing = Frame | str | bytes


def outgoing_size(item: Outgoing) -> int:
    return len(item.payload) if isinstance(item, Frame) else len(item)


def ws_header(length: int, opcode: int = TEXT_OPCODE) -> bytes:
    """RFC 6455 header of one final, unmasked frame (what a server sends)."""
    if length < 126:
        return bytes((opcode, length))
    if length < 1 << 16:
        return bytes((opcode, 126)) + length.to_bytes(2, "big")
    return bytes((opcode, 127)) + length.to_bytes(8, "big")


def uvicorn_protocol(send: Any) -> Any:
    """The uvicorn websockets-sansio protocol behind an ASGI ``send``, if that is what it is."""
    protocol = getattr(send, "__self__", None)
    needed = ("conn", "transport", "writable", "close_sent", "disconnected", "handshake_complete")
    if protocol is None or not all(hasattr(protocol, name) for name in needed):
        return None
    return protocol


class DirectSocket:
    """Synchronous writes to the transport of one uvicorn websockets-sansio connection."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol

    def writable(self) -> bool:
        """True when a write now goes out in order and is not piling up in the transport."""
        p = self.protocol
        return (
            p.writable.is_set()
            and not p.close_sent
            and not p.disconnected
            and p.conn.state is State.OPEN
            and not p.transport.is_closing()
        )

    def gone(self) -> bool:
        p = self.protocol
        return bool(p.close_sent or p.disconnected or p.transport.is_closing())

    def paused(self) -> bool:
        """The transport's buffer is past its high-water mark (the peer reads slowly)."""
        return not self.protocol.writable.is_set()

    async def wait_writable(self) -> None:
        await self.protocol.writable.wait()

    def abort(self) -> None:
        """Drop the TCP connection (a peer that does not read gets no closing handshake)."""
        self.protocol.transport.abort()

    def write(self, item: Outgoing) -> None:
        p = self.protocol
        if p.conn.extensions:  # permessage-deflate: this connection compresses its own frames
            if isinstance(item, bytes):
                p.conn.send_binary(item)
            else:
                p.conn.send_text(item.payload if isinstance(item, Frame) else item.encode())
            p.transport.write(b"".join(p.conn.data_to_send()))
        elif isinstance(item, Frame):
            p.transport.write(item.wire)
        elif isinstance(item, bytes):
            p.transport.write(ws_header(len(item), BINARY_OPCODE) + item)
        else:
            data = item.encode()
            p.transport.write(ws_header(len(data)) + data)


def asgi_message(item: Outgoing) -> dict[str, Any]:
    """The ASGI ``websocket.send`` message of an outgoing item (servers other than uvicorn)."""
    if isinstance(item, bytes):
        return {"type": "websocket.send", "bytes": item}
    return {"type": "websocket.send", "text": item.text if isinstance(item, Frame) else item}
