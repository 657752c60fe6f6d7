"""The WireServer API that Chinwag's namespace and publisher use, through a real uvicorn
process (tests/wire_app.py) and the official python-socketio client."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import socketio

from tests.support import unique_name
from tests.wire_support import RawClient, WireProcess

Connect = Callable[..., Any]


@pytest.fixture
async def connect(wire_app: WireProcess) -> AsyncIterator[Connect]:
    """Connects python-socketio clients to the test app; disconnects them afterwards."""
    clients: list[socketio.AsyncClient] = []

    async def connect_client(
        auth: dict[str, Any] | None = None, transports: list[str] | None = None, **kwargs: Any
    ) -> socketio.AsyncClient:
        client = socketio.AsyncClient(reconnection=False)
        clients.append(client)
        await client.connect(
            wire_app.url, auth=auth, transports=transports or ["websocket"], **kwargs
        )
        return client

    yield connect_client
    for client in clients:
        await client.disconnect()


def recorder(client: socketio.AsyncClient, event: str) -> asyncio.Queue[Any]:
    received: asyncio.Queue[Any] = asyncio.Queue()

    @client.on(event)  # type: ignore[misc]
    async def record(*args: Any) -> None:
        await received.put(args)

    return received


async def test_connect_answers_the_namespace_fields_and_sends_what_connect_emitted(
    wire_app: WireProcess,
) -> None:
    client = socketio.AsyncClient(reconnection=False)
    welcomes = recorder(client, "welcome")
    pids: list[Any] = []
    client.on("connect", lambda: pids.append(client.namespaces.get("/")))
    await client.connect(wire_app.url, auth={"name": "ada"}, transports=["websocket"])
    assert await welcomes.get() == ("ada",)
    sid = client.get_sid()
    assert sid and pids == [sid]
    await client.disconnect()


async def test_a_refused_connect_carries_message_and_data(wire_app: WireProcess) -> None:
    client = socketio.AsyncClient(reconnection=False)
    errors: asyncio.Queue[Any] = asyncio.Queue()
    client.on("connect_error", errors.put_nowait)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(wire_app.url, auth={"refuse": True}, transports=["websocket"])
    assert await errors.get() == {"message": "not today", "data": {"code": "refused"}}


async def test_one_frame_reaches_every_room_member_with_its_offset(connect: Connect) -> None:
    members = [await connect({"name": unique_name()}) for _ in range(3)]
    queues = [recorder(member, "said") for member in members]
    for member in members:
        await member.call("join")
    assert await members[0].call("say", ("hello", {"n": 1})) == 3
    for queue in queues:
        assert await queue.get() == ("hello", {"n": 1}, "7-1")


async def test_events_of_one_connection_are_handled_in_order(connect: Connect) -> None:
    client = await connect()
    acks: asyncio.Queue[str] = asyncio.Queue()
    await client.emit("slow", callback=acks.put_nowait)
    await client.emit("fast", callback=acks.put_nowait)
    assert [await acks.get(), await acks.get()] == ["slow", "fast"]


async def test_a_server_side_disconnect_runs_the_handler_once(connect: Connect) -> None:
    name = unique_name()
    victim = await connect({"name": name})
    gone: asyncio.Queue[Any] = asyncio.Queue()
    victim.on("disconnect", lambda *reason: gone.put_nowait(reason))
    admin = await connect()
    assert await admin.call("kick", victim.get_sid()) == "kicked"
    assert await gone.get() == ("server disconnect",)
    assert await admin.call("reasons", name) == ["server namespace disconnect"]


async def test_a_client_disconnect_is_a_reason_the_namespace_sees(
    wire_app: WireProcess, connect: Connect
) -> None:
    name = unique_name()
    async with aiohttp.ClientSession() as http:
        leaver = await RawClient(http, wire_app.url).open_websocket()
        socket = leaver[0]
        await socket.send("40" + json.dumps({"name": name}))
        assert str(await socket.receive()).startswith("40{")
        assert await socket.receive() == f'42["welcome","{name}"]'
        await socket.send("41")
        witness = await connect()
        reasons: list[str] = []
        while not reasons:  # the handler runs as the DISCONNECT arrives; ask until it has
            reasons = await witness.call("reasons", name)
        assert reasons == ["client namespace disconnect"]
        await socket.close()


async def test_handshake_headers_are_lower_cased(connect: Connect) -> None:
    client = await connect(headers={"X-Chinwag-Test": "yes"})
    assert await client.call("header", "x-chinwag-test") == "yes"


@pytest.mark.parametrize("transports", [["polling"], ["websocket"], ["polling", "websocket"]])
async def test_binary_acks_and_events_on_every_transport(
    connect: Connect, transports: list[str]
) -> None:
    client = await connect(transports=transports)
    assert await client.call("bytes") == (b"\x00\x01", {"nested": [b"\x02"]})
    assert await client.call("transport") in transports


async def test_connect_fields_and_frames_on_a_compressed_websocket(wire_app: WireProcess) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(
            f"{wire_app.url}/socket.io/?EIO=4&transport=websocket", compress=15
        )
        assert ws.compress  # permessage-deflate was agreed (uvicorn: 12-bit windows)
        assert (await ws.receive_str()).startswith("0{")
        await ws.send_str("40")
        answer = json.loads((await ws.receive_str()).removeprefix("40"))
        assert answer == {"sid": answer["sid"], "pid": f"pid-{answer['sid']}"}
        assert await ws.receive_str() == '42["welcome",""]'
        await ws.send_str('420["join"]')
        assert (await ws.receive_str()).startswith("430[")
        await ws.send_str('421["say","x' + "y" * 2000 + '"]')
        assert await ws.receive_str() == '42["said","x' + "y" * 2000 + '","7-1"]'
        assert await ws.receive_str() == "431[1]"
        await ws.close()


def masked_text_frame(text: str) -> bytes:
    """One client-to-server websocket text frame (RFC 6455: masked), payload < 126 bytes."""
    payload = text.encode()
    mask = b"\x01\x02\x03\x04"
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes((0x81, 0x80 | len(payload))) + mask + masked


async def test_a_connection_that_does_not_read_is_closed_when_its_outbox_is_full(
    wire_app: WireProcess, connect: Connect
) -> None:
    name = unique_name()
    reader, writer = await asyncio.open_connection("127.0.0.1", wire_app.url.rsplit(":", 1)[1])
    writer.write(
        b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    try:
        await reader.readuntil(b"\r\n\r\n")  # 101: frames sent before it could be dropped
        writer.write(masked_text_frame("40" + json.dumps({"name": name})))
        writer.write(masked_text_frame('420["join"]'))
        await writer.drain()
        sayer = await connect()
        while await sayer.call("reasons", name) == [] and await sayer.call("say", "?") == 0:
            pass  # until the silent one has joined
        took = 1
        for _ in range(1000):  # 200 KB each; it never reads: the kernel, then the outbox fill
            took = await sayer.call("say", "x" * 200_000)
            if took == 0:
                break
        assert took == 0
        assert await sayer.call("reasons", name) == ["slow connection"]
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
