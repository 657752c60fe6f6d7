"""Engine.IO v4 packets: the open packet, polling payloads, the reference server's errors."""

from __future__ import annotations

import base64
import binascii
import json

OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP = "0123456"
SEPARATOR = "\x1e"  # between the packets of one polling payload

# the reference server's HTTP 400 answers: code -> message
UNKNOWN_TRANSPORT = 0
UNKNOWN_SID = 1
BAD_HANDSHAKE_METHOD = 2
BAD_REQUEST = 3
FORBIDDEN = 4
UNSUPPORTED_PROTOCOL_VERSION = 5
ERROR_MESSAGES = {
    UNKNOWN_TRANSPORT: "Transport unknown",
    UNKNOWN_SID: "Session ID unknown",
    BAD_HANDSHAKE_METHOD: "Bad handshake method",
    BAD_REQUEST: "Bad request",
    FORBIDDEN: "Forbidden",
    UNSUPPORTED_PROTOCOL_VERSION: "Unsupported protocol version",
}


class PayloadError(ValueError):
    """A polling payload or Engine.IO packet that breaks the protocol."""


def error_body(code: int) -> bytes:
    return json.dumps({"code": code, "message": ERROR_MESSAGES[code]}).encode()


def open_packet(
    sid: str, upgrades: list[str], ping_interval: float, ping_timeout: float, max_payload: int
) -> str:
    return OPEN + json.dumps(
        {
            "sid": sid,
            "upgrades": upgrades,
            "pingInterval": round(ping_interval * 1000),
            "pingTimeout": round(ping_timeout * 1000),
            "maxPayload": max_payload,
        },
        separators=(",", ":"),
    )


def decode_payload(body: str) -> list[str | bytes]:
    """The packets of a polling POST: text packets as sent, binary ones ("b" + base64) as bytes."""
    packets: list[str | bytes] = []
    for part in body.split(SEPARATOR):
        if part[:1] == "b":
            try:
                packets.append(base64.b64decode(part[1:], validate=True))
            except binascii.Error:
                raise PayloadError("bad base64") from None
        elif part:
            packets.append(part)
        else:
            raise PayloadError("empty packet")
    return packets


def encode_binary(data: bytes) -> str:
    return "b" + base64.b64encode(data).decode()
