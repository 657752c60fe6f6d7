"""chinwag.wire's packet codecs: Socket.IO v5 packets and Engine.IO polling payloads."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chinwag.wire.eio_packets import PayloadError, decode_payload, encode_binary
from chinwag.wire.sio_packets import (
    ACK,
    BINARY_EVENT,
    CONNECT,
    DISCONNECT,
    EVENT,
    NO_DATA,
    PacketError,
    deconstruct,
    encode_packet,
    parse_packet,
    reconstruct,
)


@pytest.mark.parametrize(
    ("text", "kind", "namespace", "ack_id", "data"),
    [
        ("0", CONNECT, "/", None, NO_DATA),
        ('0{"token":"1"}', CONNECT, "/", None, {"token": "1"}),
        ("0/admin,", CONNECT, "/admin", None, NO_DATA),
        ("0/admin", CONNECT, "/admin", None, NO_DATA),
        ('0/admin,{"a":1}', CONNECT, "/admin", None, {"a": 1}),
        ("1/admin,", DISCONNECT, "/admin", None, NO_DATA),
        ('2["hi",1]', EVENT, "/", None, ["hi", 1]),
        ('2/x,12["hi"]', EVENT, "/x", 12, ["hi"]),
        ("3/x,12[]", ACK, "/x", 12, []),
        ('51-["b",{"_placeholder":true,"num":0}]', BINARY_EVENT, "/", None, None),
    ],
)
def test_packets_parse_into_their_parts(
    text: str, kind: int, namespace: str, ack_id: int | None, data: Any
) -> None:
    packet = parse_packet(text)
    assert (packet.type, packet.namespace, packet.ack_id) == (kind, namespace, ack_id)
    if data is not None:
        assert packet.data == data


@pytest.mark.parametrize(
    "text",
    ["", "7", "a", "4{}", "2", "2{}", "2[]", "2[1]", "2x", '3["a"]', "1{}", '0"x"', "01", "5-[]"],
)
def test_malformed_packets_are_refused(text: str) -> None:
    with pytest.raises(PacketError):
        parse_packet(text)


def test_an_ack_id_is_bounded() -> None:
    with pytest.raises(PacketError):
        parse_packet("2" + "9" * 17 + '["a"]')


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=50, deadline=None)
@given(
    namespace=st.sampled_from(["/", "/custom", "/a-b"]),
    ack_id=st.none() | st.integers(min_value=0, max_value=10**15),
    name=st.text(min_size=0),
    args=st.lists(json_values, max_size=4),
)
def test_events_survive_encoding(
    namespace: str, ack_id: int | None, name: str, args: list[Any]
) -> None:
    packet = parse_packet(encode_packet(EVENT, namespace, [name, *args], ack_id))
    assert (packet.type, packet.namespace, packet.ack_id) == (EVENT, namespace, ack_id)
    assert packet.data == [name, *args]


def test_bytes_become_placeholders_and_come_back() -> None:
    data = ["e", b"\x00", {"deep": [b"\x01", 2]}, bytearray(b"\x02")]
    buffers: list[bytes] = []
    sent = deconstruct(data, buffers)
    assert buffers == [b"\x00", b"\x01", b"\x02"]
    assert sent[1] == {"_placeholder": True, "num": 0}
    assert reconstruct(sent, buffers) == ["e", b"\x00", {"deep": [b"\x01", 2]}, b"\x02"]
    with pytest.raises(PacketError):
        reconstruct([{"_placeholder": True, "num": 3}], buffers)
    with pytest.raises(PacketError):
        reconstruct([{"_placeholder": True, "num": True}], buffers)


def test_polling_payloads_split_on_the_record_separator() -> None:
    body = "4hello\x1e" + encode_binary(b"\x01\x02\x03\x04") + "\x1e2"
    assert decode_payload(body) == ["4hello", b"\x01\x02\x03\x04", "2"]
    for bad in ["", "4a\x1e", "b!!!"]:
        with pytest.raises(PayloadError):
            decode_payload(bad)
