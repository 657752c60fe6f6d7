"""What nodes tell each other over the fan-out, as bytes: a JSON header line, then a body.

An event's body is its Socket.IO packet, encoded once by the node that emits it: every node
sends those same bytes to each of its recipients without decoding them. The header says who
the event is for (its audiences), with its name and when it was published (for the
metrics), or carries a revocation intent ("hold these", "the hold ended: applied /
released"), a profile change, or a request to resync.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chinwag.services.realtime import Audience, MemberRevoked, Revocation, RoomGone, SessionEnded

EVENT, HOLD, END, USER_CHANGED, RESYNC = "event", "hold", "end", "user", "resync"


@dataclass(frozen=True)
class Envelope:
    kind: str
    origin: str = ""  # the node instance that sent it
    audiences: tuple[Audience, ...] = ()
    hold_id: str = ""
    revocations: tuple[Revocation, ...] = ()
    applied: bool = False  # END: the hold was applied (True) or released (False)
    user_id: int = 0
    body: bytes = b""
    event: str = ""  # EVENT: the Socket.IO event's name (for the metrics; the body has it too)
    sent_at: float = 0.0  # EVENT: wall-clock seconds when it was published


def encode(envelope: Envelope) -> bytes:
    header: dict[str, Any] = {"k": envelope.kind, "o": envelope.origin}
    if envelope.kind == EVENT:
        header["a"] = [
            [a.room, a.subscribers, list(a.users), a.version] for a in envelope.audiences
        ]
        header["e"] = envelope.event
        header["t"] = envelope.sent_at
    elif envelope.kind in (HOLD, END):
        header["h"] = envelope.hold_id
        header["r"] = [_revocation_out(r) for r in envelope.revocations]
        header["ok"] = envelope.applied
    elif envelope.kind == USER_CHANGED:
        header["u"] = envelope.user_id
    return json.dumps(header, separators=(",", ":")).encode() + b"\n" + envelope.body


def decode(message: bytes) -> Envelope:
    line, _, body = message.partition(b"\n")
    header = json.loads(line)
    kind = header["k"]
    return Envelope(
        kind=kind,
        origin=header.get("o", ""),
        audiences=tuple(
            Audience(room=room, subscribers=subs, users=tuple(users), version=version)
            for room, subs, users, version in header.get("a", ())
        ),
        hold_id=header.get("h", ""),
        revocations=tuple(_revocation_in(r) for r in header.get("r", ())),
        applied=bool(header.get("ok", False)),
        user_id=int(header.get("u", 0)),
        body=body,
        event=str(header.get("e", "")),
        sent_at=float(header.get("t", 0.0)),
    )


def _revocation_out(revocation: Revocation) -> list[Any]:
    if isinstance(revocation, MemberRevoked):
        return ["member", revocation.user_id, revocation.room_id, revocation.version]
    if isinstance(revocation, RoomGone):
        return ["room", revocation.room_id]
    return ["session", revocation.session_id]


def _revocation_in(data: list[Any]) -> Revocation:
    if data[0] == "member":
        return MemberRevoked(int(data[1]), int(data[2]), int(data[3]))
    if data[0] == "room":
        return RoomGone(int(data[1]))
    if data[0] == "session":
        return SessionEnded(str(data[1]))
    raise ValueError(f"unknown revocation {data[0]!r}")
