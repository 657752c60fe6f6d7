"""Live state in this process's memory: the single-node default, no Redis needed."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from chinwag.backends.ports import Clock, LockUnavailable, wait_until_free
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
