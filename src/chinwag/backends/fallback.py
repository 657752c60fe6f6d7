"""Rate limits that keep counting while Redis is away: on this node alone, until it is back.

Refusing every message because the shared counters cannot be reached would stop the chat
for a limit's sake; counting per node for that while keeps each client bounded (by the
limit times the number of nodes) and the chat going. Locks do not fall back: a lock that
only this node knows is no lock.
"""

from __future__ import annotations

from chinwag.backends.memory import MemoryRateCounters
from chinwag.backends.ports import BackendUnavailable, Clock, RateCounters
from chinwag.logs import get_logger

log = get_logger(__name__)


class FallbackRateCounters:
    def __init__(self, shared: RateCounters, clock: Clock) -> None:
        self.shared = shared
        self.local = MemoryRateCounters(clock)

    async def retry_after(self, key: str, limit: int, window: float) -> float | None:
        try:
            return await self.shared.retry_after(key, limit, window)
        except BackendUnavailable:
            return await self.local.retry_after(key, limit, window)

    async def record(self, key: str, window: float) -> None:
        try:
            await self.shared.record(key, window)
        except BackendUnavailable:
            await self.local.record(key, window)

    async def hit(self, key: str, limit: int, window: float) -> float | None:
        try:
            return await self.shared.hit(key, limit, window)
        except BackendUnavailable:
            log.warning("rate.counting_on_this_node")
            return await self.local.hit(key, limit, window)

    async def reset(self, key: str) -> None:
        await self.local.reset(key)
        try:
            await self.shared.reset(key)
        except BackendUnavailable:
            pass
