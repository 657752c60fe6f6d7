"""Named limits over the shared sliding-window counters (``Backends.counters``)."""

from __future__ import annotations

from chinwag.backends import RateCounters
from chinwag.errors import RateLimited


class RateLimiter:
    """At most ``limit`` events per key in any ``window`` seconds; ``hit`` refuses past it.

    The counts live in ``counters`` (this process's memory, or Redis for every node); the
    limiter's ``name`` keeps its keys apart from other limiters' over the same counters.
    """

    def __init__(self, counters: RateCounters, name: str, limit: int, window: float) -> None:
        self.counters = counters
        self.name = name
        self.limit = limit
        self.window = window

    def _key(self, key: str) -> str:
        return f"{self.name}:{key}"

    async def retry_after(self, key: str) -> float | None:
        """Seconds until ``key`` may act again, or None if it may act now."""
        return await self.counters.retry_after(self._key(key), self.limit, self.window)

    async def check(self, key: str, message: str) -> None:
        wait = await self.retry_after(key)
        if wait is not None:
            raise RateLimited(message, retry_after=wait, limiter=self.name)

    async def record(self, key: str) -> None:
        await self.counters.record(self._key(key), self.window)

    async def hit(self, key: str, message: str) -> None:
        """Check, then count one event, in one step: concurrent hits never pass the limit."""
        wait = await self.counters.hit(self._key(key), self.limit, self.window)
        if wait is not None:
            raise RateLimited(message, retry_after=wait, limiter=self.name)

    async def reset(self, key: str) -> None:
        await self.counters.reset(self._key(key))
