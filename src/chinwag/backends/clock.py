"""Clocks: the node's own for one node, the wall clock nodes share, one tests move."""

from __future__ import annotations

import time


class MonotonicClock:
    """This process's monotonic clock: never jumps, but means nothing to another process."""

    def now(self) -> float:
        return time.monotonic()


class WallClock:
    """Seconds since the epoch, the time several nodes agree on (keep them on NTP)."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to, so expiry tests need no sleeps."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self._now += seconds
