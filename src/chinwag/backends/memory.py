"""Live state in this process's memory: the single-node default, no Redis needed."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from chinwag.backends.ports import (
    Clock,
    Entry,
    LockUnavailable,
    RoomUser,
    TypingKey,
    wait_until_free,
)
from chinwag.logs import get_logger

log = get_logger(__name__)

# Past this many keys, a record sweeps out the keys whose events have all left their window.
MAX_KEYS = 100_000
# How often a waiter looks again at a lock whose holder may have let its lease run out
# (a release wakes the waiters at once).
LEASE_POLL_SECONDS = 0.05


@dataclass
class Window:
    """One key's events (their times, oldest first) and the window they count over."""

    seconds: float
    events: deque[float] = field(default_factory=deque)

    def recent(self, now: float) -> deque[float]:
        while self.events and self.events[0] <= now - self.seconds:
            self.events.popleft()
        return self.events


class MemoryRateCounters:
    """Sliding windows in a dict. Nothing awaits inside a call, so each is atomic."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._keys: dict[str, Window] = {}

    async def retry_after(self, key: str, limit: int, window: float) -> float | None:
        return self._retry_after(key, limit, window, self.clock.now())

    async def record(self, key: str, window: float) -> None:
        self._record(key, window, self.clock.now())

    async def hit(self, key: str, limit: int, window: float) -> float | None:
        now = self.clock.now()
        wait = self._retry_after(key, limit, window, now)
        if wait is None:
            self._record(key, window, now)
        return wait

    async def reset(self, key: str) -> None:
        self._keys.pop(key, None)

    def _retry_after(self, key: str, limit: int, window: float, now: float) -> float | None:
        counter = self._keys.get(key)
        if counter is None:
            return None
        counter.seconds = window
        events = counter.recent(now)
        if len(events) < limit:
            if not events:
                del self._keys[key]
            return None
        return wait_until_free(events[0], now, window)

    def _record(self, key: str, window: float, now: float) -> None:
        counter = self._keys.get(key)
        if counter is None:
            counter = self._keys[key] = Window(window)
        counter.seconds = window
        counter.recent(now).append(now)
        if len(self._keys) > MAX_KEYS:
            for stale in [k for k, c in self._keys.items() if not c.recent(now)]:
                del self._keys[stale]


@dataclass
class Holder:
    token: object
    expires: float


@dataclass
class LockTable:
    """Who holds which lock, and an event per lock that its release sets."""

    held: dict[str, Holder] = field(default_factory=dict)
    freed: dict[str, asyncio.Event] = field(default_factory=dict)


class MemoryLocks:
    """Named locks with a lease and a bounded wait, as the Redis ones have, so the same
    code and tests run on both. A release wakes the waiters; a lapsed lease is seen by
    the next look (every ``LEASE_POLL_SECONDS``). Clients with other leases or waits may
    share one ``table``, as nodes share a Redis."""

    def __init__(
        self, clock: Clock, *, lease: float, wait: float, table: LockTable | None = None
    ) -> None:
        self.clock = clock
        self.lease = lease
        self.wait = wait
        self.table = table or LockTable()

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        token = await self._acquire(name)
        try:
            yield
        finally:
            self._release(name, token)

    async def _acquire(self, name: str) -> object:
        token = object()
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self.wait
        while True:
            now = self.clock.now()
            holder = self.table.held.get(name)
            if holder is None or holder.expires <= now:
                self.table.held[name] = Holder(token, now + self.lease)
                return token
            remaining = give_up_at - loop.time()
            if remaining <= 0:
                raise LockUnavailable(self.wait)
            freed = self.table.freed.setdefault(name, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(freed.wait(), min(remaining, LEASE_POLL_SECONDS))

    def _release(self, name: str, token: object) -> None:
        holder = self.table.held.get(name)
        if holder is None or holder.token is not token:
            # the lease ran out while the block ran: the lock was free, or someone else's
            log.warning("lock.lease_lapsed", lock=name.split(":", 1)[0], lease=self.lease)
            return
        del self.table.held[name]
        freed = self.table.freed.pop(name, None)
        if freed is not None:
            freed.set()


@dataclass
class PresenceTable:
    """What the nodes of one process share (in tests, several ``MemoryPresence`` act as
    nodes): each room's users with their count of connections, each node's connections
    (``(room, conn)`` -> user), and each node's deadline."""

    rooms: dict[int, dict[int, int]] = field(default_factory=dict)
    nodes: dict[str, dict[tuple[int, str], int]] = field(default_factory=dict)
    deadlines: dict[str, float] = field(default_factory=dict)

    def count(self, room_id: int, user_id: int, delta: int) -> int:
        """Change the user's count of connections in the room; returns the new count (a
        count that would fall below one, after ``drop_room``, is gone)."""
        users = self.rooms.setdefault(room_id, {})
        n = users.get(user_id, 0) + delta
        if n > 0:
            users[user_id] = n
        else:
            users.pop(user_id, None)
            if not users:
                del self.rooms[room_id]
        return n

    def clear(self, instance: str) -> list[RoomUser]:
        gone = []
        for (room_id, _), user_id in self.nodes.pop(instance, {}).items():
            if self.count(room_id, user_id, -1) == 0:
                gone.append((room_id, user_id))
        return gone


class MemoryPresence:
    """Presence in a dict, the same model as the Redis one. Nothing awaits inside a call,
    so each is atomic. Nodes sharing one ``table`` are the nodes of one cluster."""

    def __init__(
        self, clock: Clock, *, dead_after: float, table: PresenceTable | None = None
    ) -> None:
        self.clock = clock
        self.dead_after = dead_after
        self.table = table or PresenceTable()
        self.instance = secrets.token_hex(8)
        self._beating = False  # it has announced itself (so missing later means reaped)
        self._revived = False

    async def add(self, room_id: int, user_id: int, conn_id: str) -> bool:
        self._touch()
        node = self.table.nodes.setdefault(self.instance, {})
        if (room_id, conn_id) in node:
            return False
        node[room_id, conn_id] = user_id
        return self.table.count(room_id, user_id, 1) == 1

    async def remove(self, room_id: int, conn_id: str) -> bool:
        user_id = self.table.nodes.get(self.instance, {}).pop((room_id, conn_id), None)
        if user_id is None:
            return False
        return self.table.count(room_id, user_id, -1) == 0

    async def online(self, room_id: int) -> set[int]:
        return set(self.table.rooms.get(room_id, {}))

    async def drop_room(self, room_id: int) -> None:
        self.table.rooms.pop(room_id, None)

    async def heartbeat(self) -> bool:
        self._touch()
        revived, self._revived = self._revived, False
        return revived

    async def resync(self, entries: list[Entry]) -> tuple[list[RoomUser], list[RoomUser]]:
        self._touch()
        self._revived = False
        node = self.table.nodes.setdefault(self.instance, {})
        wanted = {(room_id, conn_id): user_id for room_id, conn_id, user_id in entries}
        came, gone = [], []
        for key, user_id in wanted.items():  # adds first: a user moving between their
            if key not in node:  # connections does not flicker offline
                node[key] = user_id
                if self.table.count(key[0], user_id, 1) == 1:
                    came.append((key[0], user_id))
        for key, user_id in list(node.items()):
            if key not in wanted:
                del node[key]
                if self.table.count(key[0], user_id, -1) == 0:
                    gone.append((key[0], user_id))
        return came, gone

    async def reap(self) -> list[RoomUser]:
        now = self.clock.now()
        dead = [instance for instance, at in self.table.deadlines.items() if at <= now]
        gone = []
        for instance in dead:
            del self.table.deadlines[instance]
            gone += self.table.clear(instance)
        return gone

    async def leave(self) -> list[RoomUser]:
        self.table.deadlines.pop(self.instance, None)
        self._beating = False
        return self.table.clear(self.instance)

    def _touch(self) -> None:
        known = self.instance in self.table.deadlines
        self.table.deadlines[self.instance] = self.clock.now() + self.dead_after
        if not known and self._beating:
            self._revived = True
        self._beating = True


@dataclass
class Indicator:
    token: str
    up_until: float
    kept_until: float


class MemoryTypingState:
    """Typing indicators in a dict per room; records past ``kept_until`` are forgotten
    when their room is next looked at. Nothing awaits inside a call."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._rooms: dict[int, dict[tuple[int, int | None], Indicator]] = {}

    async def arm(self, key: TypingKey, ttl: float) -> str:
        now = self.clock.now()
        token = secrets.token_hex(8)
        indicators = self._rooms.setdefault(key[0], {})
        indicators[key[1], key[2]] = Indicator(token, now + ttl, now + 2 * ttl)
        self._forget_stale(key[0], now)
        return token

    async def disarm(self, key: TypingKey) -> bool:
        now = self.clock.now()
        indicator = self._kept(key[0], now).pop((key[1], key[2]), None)
        self._forget_stale(key[0], now)
        return indicator is not None and indicator.up_until > now

    async def expire(self, key: TypingKey, token: str) -> bool:
        now = self.clock.now()
        indicators = self._kept(key[0], now)
        indicator = indicators.get((key[1], key[2]))
        if indicator is None or indicator.token != token:
            return False
        del indicators[key[1], key[2]]
        self._forget_stale(key[0], now)
        return True

    async def clear_user(self, room_id: int, user_id: int) -> list[TypingKey]:
        now = self.clock.now()
        indicators = self._kept(room_id, now)
        cleared: list[TypingKey] = []
        for typist, recipient in [k for k in indicators if k[0] == user_id]:
            if indicators.pop((typist, recipient)).up_until > now:
                cleared.append((room_id, typist, recipient))
        self._forget_stale(room_id, now)
        return cleared

    async def drop_room(self, room_id: int) -> None:
        self._rooms.pop(room_id, None)

    def _kept(self, room_id: int, now: float) -> dict[tuple[int, int | None], Indicator]:
        self._forget_stale(room_id, now)
        return self._rooms.get(room_id, {})

    def _forget_stale(self, room_id: int, now: float) -> None:
        indicators = self._rooms.get(room_id)
        if indicators is None:
            return
        for stale in [k for k, i in indicators.items() if i.kept_until <= now]:
            del indicators[stale]
        if not indicators:
            del self._rooms[room_id]
