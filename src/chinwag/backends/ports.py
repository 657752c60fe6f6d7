"""The ports live state sits behind: small async interfaces with a memory and a Redis side.

Services receive these (``Backends``) and never build their own, so one node keeps its
state in memory and several nodes share it through Redis without a change in the services.
"""

from __future__ import annotations

import asyncio
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


def stop_if_cancelled() -> None:
    """Raise CancelledError if the running task was asked to stop.

    For loops that catch a backend's errors and try again: redis-py can turn a task's
    cancellation into one of its own errors (redis/redis-py#2028, #2551), and a loop that
    goes on after it would never stop (a node that cannot bind its port would then hang in
    its shutdown for ever)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class BackendUnavailable(Busy):
    """The shared live state (Redis) did not answer; the request did nothing."""

    code = "backend_unavailable"

    def __init__(self) -> None:
        super().__init__("The server cannot reach its shared state; try again.", retry_after=1)


def wait_until_free(oldest: float, now: float, window: float) -> float:
    """Seconds until an event at ``oldest`` leaves the window: at least 1 ms (the caller is
    refused now), at most the window (a peer node's clock a little ahead counts no longer)."""
    return min(max(oldest + window - now, 0.001), window)


# (room id, user id): one user in one room, as presence reports who came or went
RoomUser = tuple[int, int]
# (room id, connection id, user id): one connection of this node in a room
Entry = tuple[int, str, int]


class Presence(Protocol):
    """Who is online in which room, counted over every connection on every node.

    A user is online in a room while at least one of their connections, on any node, is in
    it. Each client of this port is one node (one process, with its own random
    ``instance``): it adds and removes its own connections, and keeps itself alive with
    ``heartbeat``. A node that stops beating for ``dead_after`` seconds is dead: the next
    ``reap`` on any node takes its connections out, so its users go offline for everyone.
    """

    instance: str

    async def add(self, room_id: int, user_id: int, conn_id: str) -> bool:
        """This node's connection entered the room; True if the user just came online there."""
        ...

    async def remove(self, room_id: int, conn_id: str) -> bool:
        """This node's connection left the room; True if the user just went offline there."""
        ...

    async def online(self, room_id: int) -> set[int]:
        """The users online in the room."""
        ...

    async def drop_room(self, room_id: int) -> None:
        """The room was destroyed: nobody is online there any more."""
        ...

    async def heartbeat(self) -> bool:
        """This node is alive for ``dead_after`` seconds more. True if it had been taken for
        dead meanwhile (reaped, or Redis lost its state): its connections are counted no
        more, and ``resync`` should count them again."""
        ...

    async def resync(self, entries: list[Entry]) -> tuple[list[RoomUser], list[RoomUser]]:
        """Make this node's connections exactly ``entries`` (after calls failed or state was
        lost); returns who came online and who went offline by it."""
        ...

    async def reap(self) -> list[RoomUser]:
        """Take out the connections of every dead node; returns who went offline by it.
        Each dead node is reaped once, by one caller, whichever node calls."""
        ...

    async def leave(self) -> list[RoomUser]:
        """This node stops (a clean shutdown): take out its connections; returns who went
        offline by it."""
        ...


# (room id, typist id, recipient id or None for the room itself)
TypingKey = tuple[int, int, int | None]


class TypingState(Protocol):
    """The typing indicators that are up, shared by every node, each with a token.

    An indicator is up for ``ttl`` seconds after it was armed. The node that armed it keeps
    the timer, and at its end takes the indicator down only if its token is still the one it
    armed (``expire``); any node may take one down (``disarm``, ``clear_user``). Whoever
    took an indicator down announces that its typist stopped, so exactly one node does.
    The record of an indicator is kept ``ttl`` longer than it is up, for a late timer, and
    is then forgotten by itself (a node that died leaves nothing behind).
    """

    async def arm(self, key: TypingKey, ttl: float) -> str:
        """Put the indicator up (again) for ``ttl`` seconds; returns its new token."""
        ...

    async def disarm(self, key: TypingKey) -> bool:
        """Take the indicator down; True if it was up."""
        ...

    async def expire(self, key: TypingKey, token: str) -> bool:
        """Take the indicator down if ``token`` is still its token; True if it was."""
        ...

    async def clear_user(self, room_id: int, user_id: int) -> list[TypingKey]:
        """Take down every indicator of the user in the room; returns those that were up."""
        ...

    async def drop_room(self, room_id: int) -> None:
        """The room was destroyed: forget its indicators."""
        ...
