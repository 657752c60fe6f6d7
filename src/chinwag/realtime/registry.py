"""The connection registry: the one source of truth for who may receive what, right now.

It knows every connection of this node, its login session, user and expiry, the rooms it
entered, and the revocations under way. The transport underneath (python-socketio) only
carries packets to the connections this registry names; its own rooms are not consulted.

Three rules make live delivery follow authorization at every moment:

1. **Register, then check.** A connection is ``open``-ed (pending) before its session is
   looked up, and a room is ``subscribe``-d (pending) before membership is checked. A
   revocation that commits in between finds the pending entry and ends it, so the check,
   however stale, can no longer turn it on. Pending entries receive nothing.
2. **Hold before commit, apply after.** A revocation is held before its transaction
   commits: from then on nothing reaches what it covers. After the commit it is applied
   (subscriptions end, sockets close); if the transaction fails it is released.
3. **Versions for stragglers.** A room's version grows with every write in it. An event
   addressed to members of a room carries the version it was checked at; one older than a
   user's revocation there is dropped, so an event in flight cannot outrun a leave.

Plus an expiry per connection: nothing is delivered past the session's end, and the
connection is closed then. Nothing here awaits: each call is atomic on the event loop.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from chinwag.services.realtime import (
    Audience,
    Hold,
    LiveConnection,
    MemberRevoked,
    Removed,
    Revocation,
    RoomGone,
    SessionEnded,
)

# How long a revocation's version is remembered after it was applied: it only guards
# against events checked before the revocation and still in flight, which take milliseconds.
TOMBSTONE_SECONDS = 600.0
MAX_TOMBSTONES = 100_000

K = TypeVar("K")
V = TypeVar("V")
HoldKey = tuple[str, int | str] | tuple[str, int, int]


@dataclass
class Connection:
    conn_id: str
    session_id: str
    user_id: int | None = None  # None while pending
    expires_at: float = math.inf  # wall-clock seconds
    ended: bool = False  # revoked while pending: may never become active
    rooms: dict[int, bool] = field(default_factory=dict)  # room id -> confirmed

    @property
    def active(self) -> bool:
        return self.user_id is not None and not self.ended


def hold_key(revocation: Revocation) -> HoldKey:
    if isinstance(revocation, MemberRevoked):
        return ("member", revocation.user_id, revocation.room_id)
    if isinstance(revocation, RoomGone):
        return ("room", revocation.room_id)
    return ("session", revocation.session_id)


class ConnectionRegistry:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._conns: dict[str, Connection] = {}
        self._by_session: dict[str, set[str]] = {}
        self._by_user: dict[int, set[str]] = {}
        self._by_room: dict[int, set[str]] = {}  # confirmed subscriptions only
        self._held: Counter[HoldKey] = Counter()
        # (user, room) -> (version revoked at, forget after); room -> forget after
        self._revoked: dict[tuple[int, int], tuple[int, float]] = {}
        self._gone: dict[int, float] = {}

    # ---- connections -------------------------------------------------------------------------
    def open(self, conn_id: str, session_id: str) -> None:
        self._conns[conn_id] = Connection(conn_id, session_id)
        self._by_session.setdefault(session_id, set()).add(conn_id)

    def activate(self, conn_id: str, user_id: int, expires_at: float) -> bool:
        conn = self._conns.get(conn_id)
        if conn is None or conn.ended or self._held[("session", conn.session_id)]:
            return False
        conn.user_id = user_id
        conn.expires_at = expires_at
        self._by_user.setdefault(user_id, set()).add(conn_id)
        return True

    def is_live(self, conn_id: str) -> bool:
        conn = self._conns.get(conn_id)
        return (
            conn is not None
            and conn.active
            and conn.expires_at > self.clock()
            and not self._held[("session", conn.session_id)]
        )

    def get(self, conn_id: str) -> Connection | None:
        return self._conns.get(conn_id)

    def close(self, conn_id: str) -> list[int]:
        """Forget a connection; returns the rooms it had confirmed."""
        conn = self._conns.pop(conn_id, None)
        if conn is None:
            return []
        _discard(self._by_session, conn.session_id, conn_id)
        if conn.user_id is not None:
            _discard(self._by_user, conn.user_id, conn_id)
        confirmed = [room for room, ok in conn.rooms.items() if ok]
        for room in confirmed:
            _discard(self._by_room, room, conn_id)
        return sorted(confirmed)

    def snapshot(self) -> list[LiveConnection]:
        """Every active connection with the rooms it hears (confirmed or pending)."""
        return [
            LiveConnection(c.conn_id, c.session_id, c.user_id, tuple(sorted(c.rooms)))
            for c in self._conns.values()
            if c.user_id is not None and not c.ended
        ]

    def active_count(self) -> int:
        """How many connections are logged in (what ``snapshot`` lists)."""
        return sum(1 for c in self._conns.values() if c.user_id is not None and not c.ended)

    def tombstones(self) -> tuple[int, int]:
        """How many member revocations and destroyed rooms are remembered."""
        return len(self._revoked), len(self._gone)

    # ---- rooms -------------------------------------------------------------------------------
    def subscribe(self, conn_id: str, room_id: int) -> bool:
        """A pending subscription; False if the connection is not active or the room is gone."""
        conn = self._conns.get(conn_id)
        if conn is None or not conn.active or self._is_gone(room_id):
            return False
        conn.rooms.setdefault(room_id, False)
        return True

    def confirm(self, conn_id: str, room_id: int) -> bool:
        conn = self._conns.get(conn_id)
        if conn is None or not conn.active or room_id not in conn.rooms:
            return False
        conn.rooms[room_id] = True
        self._by_room.setdefault(room_id, set()).add(conn_id)
        return True

    def unsubscribe(self, conn_id: str, room_id: int) -> bool:
        conn = self._conns.get(conn_id)
        if conn is None or room_id not in conn.rooms:
            return False
        confirmed = conn.rooms.pop(room_id)
        if confirmed:
            _discard(self._by_room, room_id, conn_id)
        return confirmed

    # ---- delivery ----------------------------------------------------------------------------
    def targets(self, *audiences: Audience) -> list[str]:
        """The connections that may receive an event for any of ``audiences`` now (each once)."""
        found: set[str] = set()
        for audience in audiences:
            found.update(self._targets(audience))
        return sorted(found)

    def _targets(self, audience: Audience) -> list[str]:
        room = audience.room
        if room is not None and (self._held[("room", room)] or self._is_gone(room)):
            return []
        candidates: set[str] = set()
        if audience.subscribers and room is not None:
            candidates.update(self._by_room.get(room, ()))
        for user in audience.users:
            if room is not None and not self._may_see(user, room, audience.version):
                continue
            candidates.update(self._by_user.get(user, ()))
        now, conns, held = self.clock(), self._conns, self._held
        live = [c for c in candidates if (n := conns[c]).active and n.expires_at > now]
        if not held:  # no revocation in force (as nearly always): nothing more to ask
            return live
        return [
            c
            for c in live
            if not held[("session", conns[c].session_id)]
            and (room is None or not held[("member", conns[c].user_id or 0, room)])
        ]

    def _may_see(self, user: int, room: int, version: int) -> bool:
        if self._held[("member", user, room)]:
            return False
        revoked = self._revoked.get((user, room))
        if revoked is None:
            return True
        if revoked[1] <= self.clock():
            del self._revoked[(user, room)]
            return True
        return version > revoked[0]

    def _is_gone(self, room: int) -> bool:
        until = self._gone.get(room)
        if until is None:
            return False
        if until <= self.clock():
            del self._gone[room]
            return False
        return True

    # ---- revocations -------------------------------------------------------------------------
    def hold(self, revocations: Sequence[Revocation]) -> Hold:
        self._held.update(hold_key(r) for r in revocations)
        return Hold(tuple(revocations))

    def release(self, hold: Hold) -> None:
        self._held.subtract(hold_key(r) for r in hold.revocations)
        self._held = +self._held  # drop the zeros

    def apply(self, hold: Hold) -> tuple[list[Removed], list[str]]:
        """End what the hold covers; returns the subscriptions ended and the connections
        to close (their sessions ended). The hold is lifted: the tombstones take over."""
        removed: list[Removed] = []
        to_close: list[str] = []
        forget_at = self.clock() + TOMBSTONE_SECONDS
        for revocation in hold.revocations:
            if isinstance(revocation, MemberRevoked):
                self._remember(revocation, forget_at)
                removed += self._end_subscriptions(
                    revocation.room_id, self._by_user.get(revocation.user_id, ())
                )
            elif isinstance(revocation, RoomGone):
                self._gone[revocation.room_id] = forget_at
                if len(self._gone) > MAX_TOMBSTONES:
                    self._sweep()
                pending = [c for c, conn in self._conns.items() if revocation.room_id in conn.rooms]
                removed += self._end_subscriptions(revocation.room_id, pending)
            elif isinstance(revocation, SessionEnded):
                for conn_id in self._by_session.get(revocation.session_id, ()):
                    self._conns[conn_id].ended = True
                    to_close.append(conn_id)
        self.release(hold)
        return removed, sorted(set(to_close))

    def _remember(self, revocation: MemberRevoked, forget_at: float) -> None:
        key = (revocation.user_id, revocation.room_id)
        known = self._revoked.get(key)
        if known is None or known[0] < revocation.version:
            self._revoked[key] = (revocation.version, forget_at)
        if len(self._revoked) > MAX_TOMBSTONES:
            self._sweep()

    def _sweep(self) -> None:
        now = self.clock()
        self._revoked = {k: v for k, v in self._revoked.items() if v[1] > now}
        self._gone = {k: v for k, v in self._gone.items() if v > now}
        _keep_newest(self._revoked, MAX_TOMBSTONES)
        _keep_newest(self._gone, MAX_TOMBSTONES)

    def _end_subscriptions(self, room_id: int, conn_ids: Iterable[str]) -> list[Removed]:
        removed = []
        for conn_id in sorted(conn_ids):
            conn = self._conns.get(conn_id)
            if conn is None or room_id not in conn.rooms:
                continue
            confirmed = self.unsubscribe(conn_id, room_id)
            if confirmed and conn.user_id is not None:
                removed.append(Removed(conn_id, conn.user_id, room_id))
        return removed


def _keep_newest(tombstones: dict[K, V], most: int) -> None:
    """Forget the oldest entries (dicts keep insertion order) beyond ``most``."""
    while len(tombstones) > most:
        del tombstones[next(iter(tombstones))]


def _discard(index: dict[K, set[str]], key: K, conn_id: str) -> None:
    members = index.get(key)
    if members is None:
        return
    members.discard(conn_id)
    if not members:
        del index[key]
