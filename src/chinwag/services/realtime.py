"""The real-time seam: everything services may ask of the push layer, and nothing more.

One rule for live delivery: a connection receives an event only while its session is valid
and its user may see the room or conversation the event is about. The push layer keeps that
rule with the connection registry (``chinwag.realtime.registry``); services tell it who may
see what through the calls below, and never name a channel or a socket room.

A revocation (a log-out, a password change, a leave, a destroyed room, and later a removal
or a ban) is *held* before its transaction commits, so that from that moment nothing more
reaches the connections it covers, and *applied* after the commit (their subscriptions
end, their sockets close). A transaction that fails *releases* its holds. Services do this
through ``chinwag.services.tx`` rather than by hand.

Implementation: ``chinwag.realtime.publisher.SocketIORealtime``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class Audience:
    """Who an event is for.

    ``room``: the room the event is about, or None for events about no room (a user's own
    notices). ``subscribers``: every connection that entered ``room``. ``users``: every
    connection of these users, wherever it is; with ``room`` set, only while they may still
    see that room. ``version``: the room's version the event was committed or checked at;
    an event older than a revocation of one of ``users`` in ``room`` is not delivered.
    """

    room: int | None = None
    subscribers: bool = False
    users: tuple[int, ...] = ()
    version: int = 0

    @classmethod
    def room_subscribers(cls, room: int) -> Audience:
        return cls(room=room, subscribers=True)

    @classmethod
    def members(cls, room: int, users: Sequence[int], version: int) -> Audience:
        """Some members of a room, as checked at ``version`` (a private message, typing)."""
        return cls(room=room, users=tuple(users), version=version)

    @classmethod
    def own(cls, *users: int) -> Audience:
        """Every connection of these users, about no room (their own notices)."""
        return cls(users=tuple(users))


@dataclass(frozen=True)
class MemberRevoked:
    """A user may no longer see a room: they left it (later: were removed or banned)."""

    user_id: int
    room_id: int
    version: int


@dataclass(frozen=True)
class RoomGone:
    """A room was destroyed: nobody may see it any more."""

    room_id: int


@dataclass(frozen=True)
class SessionEnded:
    """A login session ended (log-out, password change): its connections close."""

    session_id: str


Revocation = MemberRevoked | RoomGone | SessionEnded


@dataclass(frozen=True)
class Removed:
    """A subscription a revocation ended: ``conn_id`` of ``user_id`` no longer hears ``room_id``."""

    conn_id: str
    user_id: int
    room_id: int


@dataclass(frozen=True)
class Hold:
    """What ``hold`` returns: the revocations it holds, to ``apply`` or ``release``."""

    revocations: tuple[Revocation, ...]
    id: str = ""  # names the hold to the other nodes


@dataclass(frozen=True)
class LiveConnection:
    """A connection of this node, as the registry knows it (for a check against the database)."""

    conn_id: str
    session_id: str
    user_id: int
    rooms: tuple[int, ...]  # the rooms it hears


class NodeHooks(Protocol):
    """What the push layer asks of the live service, on whichever node it runs."""

    async def revoked(self, revocations: list[Revocation], removed: list[Removed]) -> None:
        """A revocation was applied here: presence and typing of the subscriptions it ended."""

    async def committed(self, revocations: Sequence[Revocation]) -> bool:
        """Whether these revocations are in the database (their node died before saying)."""
        ...

    async def revalidate(self, conns: Sequence[LiveConnection]) -> list[Revocation]:
        """After a gap in which revocations may have been missed: those the database shows
        for these connections (ended sessions, left or destroyed rooms)."""
        ...

    async def user_changed(self, user_id: int) -> None:
        """A user's profile changed on another node: refresh what is cached about them."""


class Realtime(Protocol):
    # ---- the node ----------------------------------------------------------------------------
    async def start(self, hooks: NodeHooks) -> None:
        """Start hearing the other nodes (events, revocation intents, profile changes)."""

    async def stop(self) -> None:
        """Stop hearing the other nodes."""

    async def announce_user_changed(self, user_id: int) -> None:
        """Tell every other node that this user's profile changed (after the commit)."""

    # ---- connections -------------------------------------------------------------------------
    async def open(self, conn_id: str, session_id: str) -> None:
        """A handshake started with this login session; nothing is delivered to it yet."""

    async def activate(self, conn_id: str, user_id: int, expires_at: datetime) -> bool:
        """The session was found valid (checked after ``open``): the connection may receive
        until ``expires_at``, when it is closed. False if the session ended meanwhile."""

    async def close(self, conn_id: str) -> list[int]:
        """The connection ended; returns the rooms it had entered."""

    async def is_live(self, conn_id: str) -> bool:
        """Whether the connection may act and receive now: active, its session neither
        ended nor being ended, and not expired."""

    # ---- rooms -------------------------------------------------------------------------------
    async def subscribe(self, conn_id: str, room_id: int) -> None:
        """Start entering a room: pending, nothing delivered, until ``confirm``."""

    async def confirm(self, conn_id: str, room_id: int) -> bool:
        """Membership was checked after ``subscribe``: deliver from now on. False if a
        revocation ended the pending subscription meanwhile (the check may be stale)."""

    async def unsubscribe(self, conn_id: str, room_id: int) -> bool:
        """Stop hearing a room; True if the subscription had been confirmed."""

    # ---- events and revocations --------------------------------------------------------------
    async def emit(self, event: str, data: dict[str, Any], *audiences: Audience) -> None:
        """Deliver once to every connection of any of ``audiences`` that may receive it now."""

    async def hold(self, revocations: Sequence[Revocation]) -> Hold:
        """Stop delivering to whatever the revocations cover, on every node, before their
        commit. Raises ``BackendUnavailable`` if the other nodes cannot be told: then the
        transaction must not commit."""

    async def release(self, hold: Hold) -> None:
        """The revoking transaction failed: deliver as before."""

    async def apply(self, hold: Hold) -> list[Removed]:
        """The revoking transaction committed: end the subscriptions and connections it
        covers, for good, on every node (each then calls ``NodeHooks.revoked``); returns the
        subscriptions that ended on this node."""
