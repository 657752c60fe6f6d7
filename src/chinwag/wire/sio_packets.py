"""Socket.IO v5 packets: ``<type>[<attachments>-][<nsp>,][<ack id>][<json>]``, parsed and encoded.

Binary payloads travel as placeholders ``{"_placeholder": true, "num": n}`` in the text
packet, followed by one binary Engine.IO message per attachment.
"""

from __future__ import annotations

import json
from typing import Any

CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT, BINARY_ACK = range(7)
BINARY_TYPES = (BINARY_EVENT, BINARY_ACK)
MAX_ACK_ID_DIGITS = 16
NO_DATA: Any = object()  # a packet without a JSON part

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_loads = json.loads


class PacketError(ValueError):
    """A packet that breaks the protocol: its connection is closed."""


class Packet:
    __slots__ = ("type", "namespace", "ack_id", "data", "attachments")

    def __init__(
        self, type: int, namespace: str, ack_id: int | None, data: Any, attachments: int
    ) -> None:
        self.type = type
        self.namespace = namespace
        self.ack_id = ack_id
        self.data = data
        self.attachments = attachments


def parse_packet(text: str) -> Packet:
    """One Socket.IO packet from the text of an Engine.IO message, checked for its type."""
    n = len(text)
    kind = ord(text[0]) - 48 if n else -1
    if not 0 <= kind <= 6 or kind == CONNECT_ERROR:
        raise PacketError("unknown packet type")
    i = 1
    attachments = 0
    if kind in BINARY_TYPES:
        dash = text.find("-", 1, 12)
        count = text[1:dash]
        if dash < 0 or not (count.isascii() and count.isdigit()):
            raise PacketError("bad attachment count")
        attachments = int(count)
        i = dash + 1
    namespace = "/"
    if i < n and text[i] == "/":
        comma = text.find(",", i)
        end = n if comma < 0 else comma
        namespace = text[i:end]
        i = n if comma < 0 else comma + 1
    j = i
    while j < n and "0" <= text[j] <= "9":
        j += 1
    if j - i > MAX_ACK_ID_DIGITS:
        raise PacketError("ack id too long")
    ack_id = int(text[i:j]) if j > i else None
    data = NO_DATA
    if j < n:
        try:
            data = _loads(text[j:])
        except ValueError:
            raise PacketError("bad JSON") from None
    check_packet(kind, ack_id, data)
    return Packet(kind, namespace, ack_id, data, attachments)


def check_packet(kind: int, ack_id: int | None, data: Any) -> None:
    if kind == CONNECT:
        ok = ack_id is None and (data is NO_DATA or isinstance(data, dict))
    elif kind == DISCONNECT:
        ok = ack_id is None and data is NO_DATA
    elif kind in (EVENT, BINARY_EVENT):
        ok = isinstance(data, list) and bool(data) and isinstance(data[0], str)
    else:  # ACK, BINARY_ACK
        ok = ack_id is not None and isinstance(data, list)
    if not ok:
        raise PacketError("bad packet payload")


def encode_packet(
    kind: int,
    namespace: str = "/",
    data: Any = NO_DATA,
    ack_id: int | None = None,
    attachments: int = 0,
) -> str:
    head = str(kind)
    if kind in BINARY_TYPES:
        head += f"{attachments}-"
    if namespace != "/":
        head += namespace + ","
    if ack_id is not None:
        head += str(ack_id)
    return head if data is NO_DATA else head + _dumps(data)


def encode_json(data: Any) -> str:
    return _dumps(data)


def has_binary(data: Any) -> bool:
    if isinstance(data, bytes | bytearray | memoryview):
        return True
    if isinstance(data, list | tuple):
        return any(has_binary(item) for item in data)
    if isinstance(data, dict):
        return any(has_binary(item) for item in data.values())
    return False


def deconstruct(data: Any, buffers: list[bytes]) -> Any:
    """``data`` with each bytes value replaced by a placeholder; the bytes go to ``buffers``."""
    if isinstance(data, bytes | bytearray | memoryview):
        buffers.append(bytes(data))
        return {"_placeholder": True, "num": len(buffers) - 1}
    if isinstance(data, list | tuple):
        return [deconstruct(item, buffers) for item in data]
    if isinstance(data, dict):
        return {key: deconstruct(value, buffers) for key, value in data.items()}
    return data


def reconstruct(data: Any, buffers: list[bytes]) -> Any:
    """``data`` with each placeholder replaced by its attachment; a bad one is a PacketError."""
    if isinstance(data, list):
        return [reconstruct(item, buffers) for item in data]
    if isinstance(data, dict):
        if data.get("_placeholder") is True:
            num = data.get("num")
            if type(num) is not int or not 0 <= num < len(buffers):
                raise PacketError("bad placeholder")
            return buffers[num]
        return {key: reconstruct(value, buffers) for key, value in data.items()}
    return data
