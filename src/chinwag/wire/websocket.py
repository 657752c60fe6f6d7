"""Engine.IO over a websocket: a session opened on it, or one upgraded to it from polling."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from chinwag.wire.dispatch import ProtocolError, receive
from chinwag.wire.eio_packets import UNKNOWN_SID, open_packet
from chinwag.wire.frames import DirectSocket, uvicorn_protocol

if TYPE_CHECKING:
    from chinwag.wire.server import WireServer
    from chinwag.wire.session import Session

UPGRADE_TIMEOUT = 10.0  # seconds between the websocket's opening and its "5" (upgrade)


def direct_socket(send: Any) -> DirectSocket | None:
    protocol = uvicorn_protocol(send)
    return None if protocol is None else DirectSocket(protocol)


async def serve_websocket(
    server: WireServer, scope: dict[str, Any], receive_: Any, send: Any, sid: str | None
) -> None:
    if (await receive_())["type"] != "websocket.connect":
        return
    if sid is None:
        await send({"type": "websocket.accept"})
        opened = server.open_session(scope, "websocket")
        opened.ws_send = send
        opened.socket = direct_socket(send)
        opened.push(
            open_packet(
                opened.sid, [], server.ping_interval, server.ping_timeout, server.max_payload
            )
        )
        await run(server, opened, receive_)
        return
    session = server.sessions.get(sid)
    if session is None:
        await server.refuse_websocket(scope, send, UNKNOWN_SID)
        return
    await send({"type": "websocket.accept"})
    if session.transport != "polling" or session.upgrading or session.closed:
        await send({"type": "websocket.close", "code": 1008})  # upgraded or upgrading already
        return
    if await probe(session, receive_, send):
        await run(server, session, receive_)
    else:
        await send({"type": "websocket.close", "code": 1000})


async def probe(session: Session, receive_: Any, send: Any) -> bool:
    """The upgrade handshake: "2probe" -> "3probe", then "5"; True once upgraded."""
    session.upgrading = True
    try:
        async with asyncio.timeout(UPGRADE_TIMEOUT):
            return await probed(session, receive_, send)
    except TimeoutError:
        return False
    finally:
        if session.upgrading:
            session.upgrading = False
            session.wake_poll()


async def probed(session: Session, receive_: Any, send: Any) -> bool:
    while True:
        message = await receive_()
        text = message.get("text")
        if message["type"] != "websocket.receive" or session.closed:
            return False
        if text == "2probe":
            await send({"type": "websocket.send", "text": "3probe"})
            session.wake_poll()  # the pending GET answers a noop: the client pauses polling
        elif text == "5":
            session.upgrade(send, direct_socket(send))
            return True
        else:
            return False


def byte_length(data: str | bytes) -> int:
    return len(data) if isinstance(data, bytes) else len(data.encode())


async def run(server: WireServer, session: Session, receive_: Any) -> None:
    """Read the websocket until it or the session closes, handling each message in order."""
    limit = server.max_payload
    reason = "transport close"
    try:
        while not session.closed:
            message = await receive_()
            if message["type"] != "websocket.receive":
                break
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            if len(data) > limit or (len(data) * 4 > limit and byte_length(data) > limit):
                reason = "message too large"
                break
            await receive(server, session, data)
    except ProtocolError:
        reason = "parse error"
    finally:
        if not session.closed:
            session.close(reason)
            await session.hang_up()
