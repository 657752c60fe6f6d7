"""Bounded pools for heavy work (password hashes, image decodes): a few threads each and a
short line in front of them; past that line, work is refused at once instead of queued."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, TypeVarTuple

import anyio
import anyio.to_thread

from chinwag.errors import Busy
from chinwag.logs import get_logger

log = get_logger(__name__)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class WorkPool:
    """Runs blocking functions on at most ``workers`` threads, with at most ``queue`` more
    calls waiting for one; a call beyond that raises Busy without waiting.

    The pool has its own CapacityLimiter, so its work neither counts against nor waits for
    anyio's default limiter (shared by every other ``to_thread`` call), and a burst of one
    kind of request costs at most ``workers`` jobs' memory and CPU at a time. A call whose
    request is cancelled keeps its place until its thread has finished: the count is of work
    really running or waiting, not of requests still connected.
    """

    def __init__(self, name: str, *, workers: int, queue: int, retry_after: float) -> None:
        self.name = name
        self.workers = workers
        self.capacity = workers + queue
        self.retry_after = retry_after
        self._limiter = anyio.CapacityLimiter(workers)
        self._admitted = 0

    @property
    def admitted(self) -> int:
        """Calls running or waiting now."""
        return self._admitted

    async def run(self, func: Callable[[*Ts], T], *args: *Ts) -> T:
        if self._admitted >= self.capacity:
            log.info("pool.full", pool=self.name, admitted=self._admitted)
            raise Busy(
                f"The server is busy ({self.name}); try again in a moment.",
                retry_after=self.retry_after,
            )
        self._admitted += 1
        try:
            return await anyio.to_thread.run_sync(func, *args, limiter=self._limiter)
        finally:
            self._admitted -= 1
