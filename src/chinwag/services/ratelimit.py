"""Sliding-window counters for throttling. In memory for one node."""

from __future__ import annotations

import time
from collections import deque

from chinwag.errors import RateLimited


class RateLimiter:
    """Counts events per key within a window; ``hit`` refuses once the limit is reached."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque()
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    def retry_after(self, key: str) -> float | None:
        """Seconds until ``key`` may act again, or None if it may act now."""
        now = time.monotonic()
        events = self._recent(key, now)
        if len(events) < self.limit:
            if not events:
                self._events.pop(key, None)
            return None
        return max(events[0] + self.window - now, 0.001)

    def check(self, key: str, message: str) -> None:
        wait = self.retry_after(key)
        if wait is not None:
            raise RateLimited(message, retry_after=wait)

    def record(self, key: str) -> None:
        now = time.monotonic()
        self._recent(key, now).append(now)
        if len(self._events) > 100_000:
            self._sweep(now)

    def hit(self, key: str, message: str) -> None:
        """Check, then count one event."""
        self.check(key, message)
        self.record(key)

    def reset(self, key: str) -> None:
        self._events.pop(key, None)

    def _sweep(self, now: float) -> None:
        for key in list(self._events):
            if not self._recent(key, now):
                del self._events[key]
