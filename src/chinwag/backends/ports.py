"""The ports live state sits behind: small async interfaces with a memory and a Redis side.

Services receive these (``Backends``) and never build their own, so one node keeps its
state in memory and several nodes share it through Redis without a change in the services.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Protocol

from chinwag.errors import Busy


class Clock(Protocol):
    """Seconds, as a float; tests move a ``ManualClock`` instead of sleeping."""

    def now(self) -> float: ...


class RateCounters(Protocol):
    """Sliding-window event counters per key.

    An event counts for ``window`` seconds after it happened: a key is at its limit while
    ``limit`` of its events are younger than that, and may act again when the oldest of them
    leaves the window. Keys are forgotten by themselves once their events are all older.
    """

    async def retry_after(self, key: str, limit: int, window: float) -> float | None:
        """Seconds until ``key`` may act again, or None if it may act now."""
        ...

    async def record(self, key: str, window: float) -> None:
        """Count one event for ``key`` now, whatever its count."""
        ...

    async def hit(self, key: str, limit: int, window: float) -> float | None:
        """Check and count at once: None if the event was counted, else the seconds to wait
        (and nothing counted). Concurrent hits never count past ``limit``."""
        ...

    async def reset(self, key: str) -> None:
        """Forget every event of ``key``."""
        ...


class Locks(Protocol):
    """Named locks, each held by one holder at a time (across every node that shares them).

    A holder that dies keeps its lock no longer than the lease; a waiter that cannot have
    the lock within the bounded wait gets ``LockUnavailable``. A holder whose lease ran out
    and whose lock someone else took releases nothing of theirs.
    """

    def hold(self, name: str) -> AbstractAsyncContextManager[None]:
        """Hold the lock ``name`` for the ``async with`` block."""
        ...


class LockUnavailable(Busy):
    """Another request held the lock for the whole bounded wait."""

    def __init__(self, wait: float) -> None:
        super().__init__(
            f"Another request like this one is still running (waited {wait:g} s); try again.",
            retry_after=1,
        )


class BackendUnavailable(Busy):
    """The shared live state (Redis) did not answer; the request did nothing."""

    code = "backend_unavailable"

    def __init__(self) -> None:
        super().__init__("The server cannot reach its shared state; try again.", retry_after=1)


def wait_until_free(oldest: float, now: float, window: float) -> float:
    """Seconds until an event at ``oldest`` leaves the window: at least 1 ms (the caller is
    refused now), at most the window (a peer node's clock a little ahead counts no longer)."""
    return min(max(oldest + window - now, 0.001), window)
