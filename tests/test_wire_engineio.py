"""chinwag.wire's Engine.IO v4, by hand against ``chinwag conformance``: the reference
configuration (pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1000000) where that is what
is checked, its 300 ms heartbeat with 2 s to answer for the heartbeat, and heartbeats out of
sight for everything else (a busy machine must not fail a test by being slow)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json

import pytest

from tests.wire_support import RawClient

OPEN_KEYS = {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}


async def test_a_polling_handshake_opens_a_session_that_can_upgrade(
    raw_reference: RawClient,
) -> None:
    raw = raw_reference
    opened = await raw.handshake()
    assert set(opened) == OPEN_KEYS
    assert opened["upgrades"] == ["websocket"]
    assert (opened["pingInterval"], opened["pingTimeout"]) == (300, 200)
    assert opened["maxPayload"] == 1_000_000


async def test_a_websocket_handshake_is_the_first_frame(raw: RawClient) -> None:
    socket, opened = await raw.open_websocket()
    assert set(opened) == OPEN_KEYS
    assert opened["upgrades"] == []
    assert isinstance(opened["sid"], str) and opened["sid"]
    await socket.close()


@pytest.mark.parametrize(
    ("query", "code", "message"),
    [
        ("transport=polling", 5, "Unsupported protocol version"),
        ("EIO=abc&transport=polling", 5, "Unsupported protocol version"),
        ("EIO=3&transport=polling", 5, "Unsupported protocol version"),
        ("EIO=4", 0, "Transport unknown"),
        ("EIO=4&transport=abc", 0, "Transport unknown"),
        ("EIO=4&transport=polling&sid=nope", 1, "Session ID unknown"),
    ],
)
async def test_bad_requests_get_the_reference_errors(
    raw: RawClient, query: str, code: int, message: str
) -> None:
    status, text = await raw.request("GET", query)
    assert status == 400
    assert json.loads(text) == {"code": code, "message": message}


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_a_handshake_must_be_a_get(raw: RawClient, method: str) -> None:
    status, text = await raw.request(method, "EIO=4&transport=polling")
    assert status == 400
    assert json.loads(text) == {"code": 2, "message": "Bad handshake method"}


@pytest.mark.parametrize(
    "query", ["transport=websocket", "EIO=abc&transport=websocket", "EIO=4", "EIO=4&sid=x"]
)
async def test_a_bad_websocket_handshake_is_refused(raw: RawClient, query: str) -> None:
    with pytest.raises(Exception, match="403|400"):
        await raw.websocket(query)


async def test_polling_carries_several_packets_each_way(raw: RawClient) -> None:
    sid = await raw.open_polling()
    assert await raw.post(sid, '40\x1e42["message",1]\x1e42["message",2]') == (200, "ok")
    status, text = await raw.get(sid)
    assert status == 200
    packets = text.split("\x1e")
    assert packets[0].startswith('40{"sid":')
    assert packets[1:] == ['42["auth",{}]', '42["message-back",1]', '42["message-back",2]']


async def test_binary_over_polling_is_base64(raw: RawClient) -> None:
    sid = await raw.open_polling()
    await raw.post(sid, "40")
    await raw.get(sid)  # CONNECT answer and "auth"
    header = '451-["message",{"_placeholder":true,"num":0}]'
    attachment = "b" + base64.b64encode(b"\x00\x01\xff").decode()
    assert await raw.post(sid, f"{header}\x1e{attachment}") == (200, "ok")
    status, text = await raw.get(sid)
    assert status == 200
    assert text.split("\x1e") == ['451-["message-back",{"_placeholder":true,"num":0}]', "bAAH/"]


async def test_a_second_concurrent_get_closes_the_session(raw: RawClient) -> None:
    sid = await raw.open_polling()
    first = await pending_get(raw, sid)
    assert (await raw.get(sid))[0] == 400
    assert await first == (200, "1")  # the pending GET is told the session closed
    assert (await raw.get(sid))[0] == 400


async def pending_get(raw: RawClient, sid: str) -> asyncio.Task[tuple[int, str]]:
    """A long-poll GET under way: given time to reach the server (a later request's effect on
    it is what the tests check, whatever the time it took)."""
    poll = asyncio.create_task(raw.get(sid))
    await asyncio.sleep(0.5)  # long enough on a loaded machine
    assert not poll.done()
    return poll


async def test_a_close_packet_ends_the_session_and_the_pending_get_gets_a_noop(
    raw: RawClient,
) -> None:
    sid = await raw.open_polling()
    poll = await pending_get(raw, sid)
    assert await raw.post(sid, "1") == (200, "ok")
    assert await poll == (200, "6")
    assert (await raw.get(sid))[0] == 400


async def test_a_payload_over_max_payload_is_refused_and_closes(raw: RawClient) -> None:
    sid = await raw.open_polling()
    status, _ = await raw.post(sid, "4" + "x" * 1_000_000)
    assert status == 413
    assert (await raw.get(sid))[0] == 400


async def test_an_invalid_post_closes_the_session(raw: RawClient) -> None:
    sid = await raw.open_polling()
    assert (await raw.post(sid, "abc"))[0] == 400
    assert (await raw.get(sid))[0] == 400


async def test_polling_heartbeat_ping_pong_keeps_the_session(raw_heartbeat: RawClient) -> None:
    raw = raw_heartbeat
    sid = await raw.open_polling()
    for _ in range(3):
        assert await raw.get(sid) == (200, "2")
        assert await raw.post(sid, "3") == (200, "ok")


async def test_polling_without_pong_times_out(raw_heartbeat: RawClient) -> None:
    raw = raw_heartbeat
    sid = await raw.open_polling()
    assert await raw.get(sid) == (200, "2")
    status, text = await raw.get(sid)  # held until the ping timeout closes the session
    assert (status, text) == (200, "6")
    assert (await raw.get(sid))[0] == 400


async def test_websocket_heartbeat_ping_pong(raw_heartbeat: RawClient) -> None:
    raw = raw_heartbeat
    socket, _ = await raw.open_websocket()
    socket.answer_pings = False
    await socket.send("40")
    await socket.receive()  # CONNECT answer
    await socket.receive()  # "auth"
    for _ in range(3):
        assert await socket.receive() == "2"
        await socket.send("3")
    await socket.close()


async def test_websocket_without_pong_is_closed(raw_heartbeat: RawClient) -> None:
    raw = raw_heartbeat
    socket, _ = await raw.open_websocket()
    socket.answer_pings = False
    await socket.send("40")  # connected: only the heartbeat can close it
    messages = await socket.receive_until_closed()
    assert messages[-1] == "2"


async def test_a_websocket_close_packet_closes(raw: RawClient) -> None:
    socket, _ = await raw.open_websocket()
    await socket.send("1")
    assert await socket.receive() is None


async def test_a_websocket_message_over_max_payload_closes(raw: RawClient) -> None:
    socket = await raw.connected()
    await socket.send('42["message","' + "x" * 1_000_000 + '"]')
    assert await socket.receive() is None


async def test_a_get_sent_during_the_upgrade_comes_back_before_the_upgrade_packet(
    raw: RawClient,
) -> None:
    """What the official JS client does: a GET already on its way when "3probe" arrives is
    answered (a noop) without waiting for the upgrade, which the client sends only after it."""
    sid = await raw.open_polling()
    await raw.post(sid, "40")
    await raw.get(sid)  # CONNECT answer and "auth"
    socket = await raw.websocket(f"EIO=4&transport=websocket&sid={sid}")
    await socket.send("2probe")
    assert await socket.receive() == "3probe"
    assert await raw.get(sid) == (200, "6")  # no GET was pending: this one is sent now
    await socket.send("5")
    await socket.send('42["message","upgraded"]')
    assert await socket.receive() == '42["message-back","upgraded"]'
    assert (await raw.get(sid))[0] == 400
    await socket.close()


async def test_upgrade_probe_noop_then_polling_is_refused(raw: RawClient) -> None:
    sid = await raw.open_polling()
    await raw.post(sid, "40")
    await raw.get(sid)  # CONNECT answer and "auth"
    poll = await pending_get(raw, sid)
    socket = await raw.websocket(f"EIO=4&transport=websocket&sid={sid}")
    await socket.send("2probe")
    assert await socket.receive() == "3probe"
    assert await poll == (200, "6")
    await socket.send("5")
    await socket.send('42["message","upgraded"]')
    assert await socket.receive() == '42["message-back","upgraded"]'
    assert (await raw.get(sid))[0] == 400
    second = await raw.websocket(f"EIO=4&transport=websocket&sid={sid}")
    assert await second.receive() is None
    await socket.send('42["message","still here"]')
    assert await socket.receive() == '42["message-back","still here"]'
    await socket.close()


async def test_a_long_poll_the_client_cut_is_not_a_concurrent_one(raw: RawClient) -> None:
    sid = await raw.open_polling()
    await raw.post(sid, "40")
    await raw.get(sid)  # CONNECT answer and "auth"
    cut = await pending_get(raw, sid)
    cut.cancel()  # aiohttp drops the connection under the pending request
    with contextlib.suppress(asyncio.CancelledError):
        await cut
    await asyncio.sleep(0.2)  # the server sees the hang-up (the GET below must not race it)
    assert await raw.post(sid, '42["message","kept"]') == (200, "ok")
    assert await raw.get(sid) == (200, '42["message-back","kept"]')
