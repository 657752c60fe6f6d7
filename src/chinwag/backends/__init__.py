"""Where live state is kept: in this process (one node) or in Redis (many nodes).

``Backends.from_settings`` builds every port once at start; services receive them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from chinwag.backends.clock import ManualClock, MonotonicClock, WallClock
from chinwag.backends.fallback import FallbackRateCounters
from chinwag.backends.fanout import Fanout, MemoryFanout, RedisFanout
from chinwag.backends.memory import (
    MemoryLocks,
    MemoryPresence,
    MemoryRateCounters,
    MemoryTypingState,
)
from chinwag.backends.ports import (
    BackendUnavailable,
    Clock,
    Locks,
    LockUnavailable,
    Presence,
    RateCounters,
    RoomUser,
    TypingKey,
    TypingState,
)
from chinwag.backends.redis import RedisLocks, RedisRateCounters, connect
from chinwag.backends.redis_live import RedisPresence, RedisTypingState
from chinwag.config import Settings

__all__ = [
    "BackendUnavailable",
    "Backends",
    "Clock",
    "Fanout",
    "LockUnavailable",
    "Locks",
    "ManualClock",
    "Presence",
    "RateCounters",
    "RoomUser",
    "TypingKey",
    "TypingState",
]


@dataclass
class Backends:
    clock: Clock
    counters: RateCounters
    locks: Locks
    presence: Presence
    typing: TypingState
    redis: Redis | None = None  # the client they share, closed with them
    fanout: Fanout = field(default_factory=MemoryFanout)

    @classmethod
    def from_settings(cls, settings: Settings) -> Backends:
        """In memory unless ``CHINWAG_REDIS_URL`` is set; then in Redis, under the prefix."""
        lease, wait = settings.lock_lease_seconds, settings.lock_wait_seconds
        dead_after = settings.node_dead_seconds
        if settings.redis_url is None:
            return cls.in_memory(MonotonicClock(), lease=lease, wait=wait, dead_after=dead_after)
        return cls.on_redis(
            connect(settings.redis_url),
            settings.redis_prefix,
            WallClock(),
            lease=lease,
            wait=wait,
            dead_after=dead_after,
        )

    @classmethod
    def in_memory(cls, clock: Clock, *, lease: float, wait: float, dead_after: float) -> Backends:
        return cls(
            clock=clock,
            counters=MemoryRateCounters(clock),
            locks=MemoryLocks(clock, lease=lease, wait=wait),
            presence=MemoryPresence(clock, dead_after=dead_after),
            typing=MemoryTypingState(clock),
        )

    @classmethod
    def on_redis(
        cls,
        redis: Redis,
        prefix: str,
        clock: Clock,
        *,
        lease: float,
        wait: float,
        dead_after: float,
    ) -> Backends:
        return cls(
            clock=clock,
            counters=FallbackRateCounters(RedisRateCounters(redis, prefix, clock), clock),
            locks=RedisLocks(redis, prefix, lease=lease, wait=wait),
            presence=RedisPresence(redis, prefix, clock, dead_after=dead_after),
            typing=RedisTypingState(redis, prefix, clock),
            redis=redis,
            fanout=RedisFanout(redis, prefix),
        )

    @property
    def shared(self) -> bool:
        """Whether other nodes share this state (then nodes must keep themselves alive)."""
        return self.redis is not None

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
