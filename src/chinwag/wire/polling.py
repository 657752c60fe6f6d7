"""Engine.IO HTTP long-polling: the handshake GET, the long-poll GET, and the POST."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from chinwag.wire.dispatch import ProtocolError, receive
from chinwag.wire.eio_packets import (
    BAD_HANDSHAKE_METHOD,
    BAD_REQUEST,
    NOOP,
    SEPARATOR,
    UNKNOWN_SID,
    PayloadError,
    decode_payload,
    encode_binary,
    error_body,
    open_packet,
)
from chinwag.wire.frames import Frame, Outgoing

if TYPE_CHECKING:
    from chinwag.wire.server import WireServer
    from chinwag.wire.session import Session

TEXT = [(b"content-type", b"text/plain; charset=UTF-8"), (b"cache-control", b"no-store")]
JSON = [(b"content-type", b"application/json")]


async def respond(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    length = (b"content-length", str(len(body)).encode())
    await send({"type": "http.response.start", "status": status, "headers": [*headers, length]})
    await send({"type": "http.response.body", "body": body})


async def respond_error(send: Any, code: int, status: int = 400) -> None:
    await respond(send, status, error_body(code), JSON)


def polling_text(item: Outgoing) -> str:
    if isinstance(item, Frame):
        return item.text
    return encode_binary(item) if isinstance(item, bytes) else item


async def serve_polling(
    server: WireServer, scope: dict[str, Any], receive_: Any, send: Any, sid: str | None
) -> None:
    method = scope["method"]
    if sid is None:
        if method != "GET":
            await respond_error(send, BAD_HANDSHAKE_METHOD)
            return
        opened = open_packet(
            server.open_session(scope, "polling").sid,
            ["websocket"],
            server.ping_interval,
            server.ping_timeout,
            server.max_payload,
        )
        await respond(send, 200, opened.encode(), TEXT)
        return
    session = server.sessions.get(sid)
    if session is None:
        await respond_error(send, UNKNOWN_SID)
    elif session.transport != "polling":
        await respond_error(send, BAD_REQUEST)
    elif method == "GET":
        await long_poll(session, receive_, send)
    elif method == "POST":
        await post(server, session, receive_, send)
    else:
        await respond_error(send, BAD_REQUEST)


async def long_poll(session: Session, receive_: Any, send: Any) -> None:
    if session.poll is not None:  # a second GET at once: the reference closes the session
        await respond_error(send, BAD_REQUEST)
        session.close("transport error", notify=True)
        return
    await receive_()  # the GET's empty body; what the next receive returns is a disconnect
    # A GET pending when the probe arrives, or sent while the upgrade is under way, answers
    # at once (a noop if nothing waits), as the reference does: a client pauses its polling
    # for the upgrade and sends the upgrade packet only once its last GET came back.
    idle = not (session.outbox or session.closed or session.upgrading)
    if idle and session.transport == "polling" and await client_left(session, receive_):
        return  # the packets stay queued for the client's next GET
    if session.transport != "polling":
        texts = [NOOP]  # upgraded meanwhile: the websocket sends the rest
    else:
        texts = [polling_text(item) for item in session.take_outbox()]
        if session.closed:
            texts.append(session.farewell)
        elif not texts:
            texts.append(NOOP)
    await respond(send, 200, SEPARATOR.join(texts).encode(), TEXT)


async def client_left(session: Session, receive_: Any) -> bool:
    """Wait for the session to wake this GET; True if its client hung up first."""
    loop = session.server.loop
    poll = session.poll = loop.create_future()
    hang_up = loop.create_task(receive_())
    try:
        await asyncio.wait((poll, hang_up), return_when=asyncio.FIRST_COMPLETED)
    finally:
        session.poll = None
        hang_up.cancel()
    return not poll.done()


async def read_body(receive_: Any, limit: int) -> bytes | None:
    """The request body, or None once it passes ``limit`` bytes (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive_()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def post(server: WireServer, session: Session, receive_: Any, send: Any) -> None:
    if session.posting:  # a second POST at once would race the first: the reference refuses
        await respond_error(send, BAD_REQUEST)
        session.close("transport error", notify=True)
        return
    session.posting = True
    try:
        await handle_post(server, session, receive_, send)
    finally:
        session.posting = False


async def handle_post(server: WireServer, session: Session, receive_: Any, send: Any) -> None:
    body = await read_body(receive_, server.max_payload)
    if body is None:
        await respond(send, 413, b"Payload Too Large", TEXT)
        session.close("transport error", notify=True)
        return
    try:
        packets = decode_payload(body.decode())
        for packet in packets:
            await receive(server, session, packet)
            if session.closed:
                break
    except (UnicodeDecodeError, PayloadError, ProtocolError):
        await respond_error(send, BAD_REQUEST)
        session.close("parse error", notify=True)
        return
    await respond(send, 200, b"ok", TEXT)
