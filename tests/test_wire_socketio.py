"""chinwag.wire's Socket.IO v5 packets, by hand over websockets against ``chinwag conformance``
(namespaces "/" and "/custom": "auth" on connect, "message" echoed, "message-with-ack" acked)."""

from __future__ import annotations

import json

import pytest

from tests.wire_support import RawClient

PLACEHOLDERS = '[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'


@pytest.mark.parametrize(
    ("connect", "prefix", "auth"),
    [
        ("40", "40", "{}"),
        ('40{"token":"123"}', "40", '{"token":"123"}'),
        ("40/custom,", "40/custom,", "{}"),
        ('40/custom,{"token":"abc"}', "40/custom,", '{"token":"abc"}'),
    ],
)
async def test_connect_answers_a_sid_then_the_auth_echo(
    raw: RawClient, connect: str, prefix: str, auth: str
) -> None:
    socket, _ = await raw.open_websocket()
    await socket.send(connect)
    answer = await socket.receive()
    assert isinstance(answer, str) and answer.startswith(prefix)
    assert set(json.loads(answer[len(prefix) :])) == {"sid"}
    namespace = prefix[2:]
    assert await socket.receive() == f'42{namespace}["auth",{auth}]'
    await socket.close()


async def test_an_unknown_namespace_gets_a_connect_error(raw: RawClient) -> None:
    socket, _ = await raw.open_websocket()
    await socket.send("40/random")
    assert await socket.receive() == '44/random,{"message":"Invalid namespace"}'
    await socket.close()


async def test_no_connect_within_the_connect_timeout_closes(raw_reference: RawClient) -> None:
    raw = raw_reference
    socket, _ = await raw.open_websocket()  # pings answered: only the connect timeout closes it
    assert await socket.receive() is None


async def test_events_are_echoed_in_order(raw: RawClient) -> None:
    socket = await raw.connected()
    for i in range(20):
        await socket.send(f'42["message",{i},"2",{{"3":[true]}}]')
    for i in range(20):
        assert await socket.receive() == f'42["message-back",{i},"2",{{"3":[true]}}]'
    await socket.close()


async def test_an_event_with_an_ack_id_is_acked(raw: RawClient) -> None:
    socket = await raw.connected()
    await socket.send('42456["message-with-ack",1,"2",{"3":[false]}]')
    assert await socket.receive() == '43456[1,"2",{"3":[false]}]'
    await socket.send('42/custom,7["message-with-ack"]')  # not connected there: dropped
    await socket.send('421["message-with-ack","after"]')
    assert await socket.receive() == '431["after"]'
    await socket.close()


async def test_binary_events_and_binary_acks(raw: RawClient) -> None:
    socket = await raw.connected()
    await socket.send('452-["message",' + PLACEHOLDERS[1:])
    await socket.send(b"\x01\x02\x03")
    await socket.send(b"\x04\x05\x06")
    assert await socket.receive() == '452-["message-back",' + PLACEHOLDERS[1:]
    assert await socket.receive() == b"\x01\x02\x03"
    assert await socket.receive() == b"\x04\x05\x06"
    await socket.send('452-789["message-with-ack",' + PLACEHOLDERS[1:])
    await socket.send(b"\x07")
    await socket.send(b"")
    assert await socket.receive() == "462-789" + PLACEHOLDERS
    assert await socket.receive() == b"\x07"
    assert await socket.receive() == b""
    await socket.close()


async def test_a_custom_namespace_disconnect_leaves_the_main_one(raw: RawClient) -> None:
    socket = await raw.connected()
    await socket.send("40/custom")
    assert str(await socket.receive()).startswith("40/custom,")
    assert await socket.receive() == '42/custom,["auth",{}]'
    await socket.send("41/custom")
    await socket.send('42/custom,["message","gone"]')
    await socket.send('42["message","main"]')
    assert await socket.receive() == '42["message-back","main"]'
    await socket.close()


async def test_a_main_namespace_disconnect_keeps_the_engine_session(
    raw_heartbeat: RawClient,
) -> None:
    raw = raw_heartbeat
    socket = await raw.connected()
    socket.answer_pings = False
    await socket.send("41")
    assert await socket.receive() == "2"  # the heartbeat goes on
    await socket.close()


@pytest.mark.parametrize(
    "packets",
    [
        ["4abc"],  # unknown packet type
        ["47"],
        ["42{}"],  # an event that is not an array
        ["42[]"],
        ["42[1]"],  # the event name is not a string
        ['42abc["message-with-ack",1]'],  # a bad ack id
        ['42["message"'],  # bad JSON
        ['40"token"'],  # auth that is not an object
        ['44{"message":"x"}'],  # CONNECT_ERROR is the server's to send
        ['43["x"]'],  # an ack without an id
        ['450-["message"]'],  # a binary packet of no attachments
        ['4511-["message"]'],  # over max_attachments (10)
        ['45x-["message"]'],
        ['451-["message",{"_placeholder":true,"num":3}]', b"\x00"],  # a placeholder of nothing
        ['451-["message",{"_placeholder":true,"num":0}]', '42["message"]'],  # text, not binary
        [b"\x00"],  # binary with no binary packet
        ["9"],  # an unknown Engine.IO packet
    ],
)
async def test_an_invalid_packet_closes_the_connection(
    raw: RawClient, packets: list[str | bytes]
) -> None:
    socket = await raw.connected()
    for packet in packets:
        await socket.send(packet)
    await socket.send('42["message","too late"]')
    assert await socket.receive() is None


async def test_attachments_past_max_packet_bytes_close_at_once(raw: RawClient) -> None:
    socket = await raw.connected()
    placeholders = ",".join(f'{{"_placeholder":true,"num":{i}}}' for i in range(10))
    await socket.send(f'4510-["message",{placeholders}]')
    for _ in range(3):  # 1.2 MB of 10 declared attachments: the third passes 1 MB
        await socket.send(b"\x00" * 400_000)
    assert await socket.receive() is None


async def test_ten_attachments_are_within_the_limit(raw: RawClient) -> None:
    socket = await raw.connected()
    placeholders = ",".join(f'{{"_placeholder":true,"num":{i}}}' for i in range(10))
    await socket.send(f'4510-["message",{placeholders}]')
    for i in range(10):
        await socket.send(bytes([i]))
    assert await socket.receive() == f'4510-["message-back",{placeholders}]'
    assert [await socket.receive() for _ in range(10)] == [bytes([i]) for i in range(10)]
    await socket.close()
