"""What a client sends, handled: Engine.IO packets, then Socket.IO packets for namespaces.

A connection's packets are handled one at a time, in arrival order: the caller (the
websocket's receive loop, or a polling POST) awaits each before reading the next, and a
namespace handler is awaited inline.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from chinwag.logs import get_logger
from chinwag.wire.connection import Connection, Refused
from chinwag.wire.eio_packets import CLOSE, MESSAGE, NOOP, PONG
from chinwag.wire.session import PendingBinary, Session
from chinwag.wire.sio_packets import (
    ACK,
    BINARY_ACK,
    BINARY_TYPES,
    CONNECT,
    CONNECT_ERROR,
    DISCONNECT,
    NO_DATA,
    Packet,
    PacketError,
    encode_packet,
    parse_packet,
    reconstruct,
)

if TYPE_CHECKING:
    from chinwag.wire.server import WireServer

log = get_logger(__name__)


class ProtocolError(ValueError):
    """The client broke the protocol: its session is closed."""


async def receive(server: WireServer, session: Session, data: str | bytes) -> None:
    """One Engine.IO packet (text) or binary message; raises ProtocolError on a bad one."""
    if isinstance(data, bytes):
        await receive_attachment(server, session, data)
        return
    kind = data[:1]
    if kind == MESSAGE:
        await receive_packet(server, session, data[1:])
    elif kind == PONG and len(data) == 1:
        session.on_pong()
    elif kind == CLOSE and len(data) == 1:
        session.close("transport close")
    elif kind != NOOP:
        raise ProtocolError("unexpected Engine.IO packet")


async def receive_packet(server: WireServer, session: Session, text: str) -> None:
    if session.binary is not None:
        raise ProtocolError("a text packet before the attachments of a binary one")
    try:
        packet = parse_packet(text)
    except PacketError as exc:
        raise ProtocolError(str(exc)) from None
    if packet.type in BINARY_TYPES:
        if not 1 <= packet.attachments <= server.max_attachments:
            raise ProtocolError("attachment count out of bounds")
        if len(text) > server.max_packet_bytes:
            raise ProtocolError("binary packet too large")
        session.binary = PendingBinary(packet, len(text))
        return
    await handle(server, session, packet)


async def receive_attachment(server: WireServer, session: Session, data: bytes) -> None:
    pending = session.binary
    if pending is None:
        raise ProtocolError("binary data without a binary packet")
    pending.size += len(data)
    if pending.size > server.max_packet_bytes:
        raise ProtocolError("binary packet too large")
    pending.buffers.append(data)
    packet = pending.packet
    if len(pending.buffers) < packet.attachments:
        return
    session.binary = None
    try:
        packet.data = reconstruct(packet.data, pending.buffers)
    except PacketError as exc:
        raise ProtocolError(str(exc)) from None
    await handle(server, session, packet)


async def handle(server: WireServer, session: Session, packet: Packet) -> None:
    if packet.type == CONNECT:
        await connect(server, session, packet)
        return
    conn = session.sockets.get(packet.namespace)
    if conn is None or not conn.connected:
        return  # not (or no longer) connected to that namespace: dropped, as the reference does
    if packet.type == DISCONNECT:
        await server.end_socket(conn, "client namespace disconnect")
    elif packet.type in (ACK, BINARY_ACK):
        return  # the server asks no acks of clients
    else:
        await event(server, conn, packet)


async def event(server: WireServer, conn: Connection, packet: Packet) -> None:
    name, *args = packet.data
    try:
        result = await conn.handler.event(conn, name, args)
    except Exception:
        log.exception("wire.event_failed", namespace=conn.namespace, name=name)
        return
    if packet.ack_id is not None:
        server.write_packet(conn, ACK, ack_arguments(result), ack_id=packet.ack_id)


def ack_arguments(result: Any) -> list[Any]:
    """A handler's return as the ack's arguments: None -> none, a list -> its items."""
    if result is None:
        return []
    if isinstance(result, list):
        return result
    return list(result) if isinstance(result, tuple) else [result]


async def connect(server: WireServer, session: Session, packet: Packet) -> None:
    namespace = packet.namespace
    handler = server.namespaces.get(namespace)
    if handler is None:
        error = encode_packet(CONNECT_ERROR, namespace, {"message": "Invalid namespace"})
        session.push(MESSAGE + error)
        return
    if namespace in session.sockets:
        return  # connected already
    session.cancel_connect_timer()
    conn = Connection(secrets.token_urlsafe(15), namespace, session, handler)
    conn.held = []
    session.sockets[namespace] = conn
    server.connections[conn.sid] = conn
    auth: Any = None if packet.data is NO_DATA else packet.data
    try:
        extra = await handler.connect(conn, auth)
    except Refused as refused:
        answer = MESSAGE + encode_packet(CONNECT_ERROR, namespace, refused.error_payload())
    except Exception:
        log.exception("wire.connect_failed", namespace=namespace)
        answer = MESSAGE + encode_packet(CONNECT_ERROR, namespace, {"message": "Server error"})
    else:
        # connected for the namespace, which is told of every end from here on
        held, conn.held = conn.held, None
        conn.connected = True
        if session.closed:  # the transport went while the handler ran
            await server.end_socket(conn, "transport close")
            return
        payload = {"sid": conn.sid, **(extra or {})}
        session.push(MESSAGE + encode_packet(CONNECT, namespace, payload))
        for item in held or ():
            session.push(item)
        if conn.ending:  # the server ended it meanwhile: the client hears connect, then end
            await server.disconnect(conn.sid)
        return
    conn.held = None
    if session.sockets.get(namespace) is conn:
        del session.sockets[namespace]
    server.connections.pop(conn.sid, None)
    session.push(answer)
