"""Live state in Redis, shared by every node: the client, counters in sorted sets, locks as
leased keys (presence and typing: ``redis_live``).

Every key starts with the cluster's prefix (``CHINWAG_REDIS_PREFIX``), so several clusters
can share one Redis. Each operation is one atomic step on the server: a Lua script for the
counters, ``SET NX PX`` and a compare-and-delete script for the locks (redis-py's ``Lock``).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from math import ceil
from urllib.parse import urlsplit, urlunsplit

from redis import exceptions as redis_errors
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.lock import Lock

from chinwag.backends.ports import (
    BackendUnavailable,
    Clock,
    LockUnavailable,
    wait_until_free,
)
from chinwag.logs import get_logger

log = get_logger(__name__)

# How long one command may take (or wait for a free connection) before the request is
# answered 503, how often an idle pooled connection is checked before it is used again, and
# how many connections a node opens at most (more concurrent commands wait their turn).
COMMAND_TIMEOUT_SECONDS = 5.0
HEALTH_CHECK_SECONDS = 15
POOL_CONNECTIONS = 50
# How often a waiter tries a lock again while another node holds it.
LOCK_POLL_SECONDS = 0.05

# KEYS[1]: the key's sorted set (member: one event, score: its time).
# ARGV: now, the cutoff (now - window: events at or before it no longer count), the limit
# ("0": do not check), the member to add ("": count nothing), the key's lifetime in ms.
# Returns the oldest counted event's time when the key is at its limit (nothing counted),
# else nil.
SLIDING_WINDOW = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local limit = tonumber(ARGV[3])
if limit > 0 and redis.call('ZCARD', KEYS[1]) >= limit then
  return redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
end
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
return false
"""


def connect(url: str) -> Redis:
    """A client for ``redis://`` URLs: a pool of connections, opened on first use, where a
    command waits for a free connection (redis-py's default pool refuses it at once)."""
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=POOL_CONNECTIONS,
        timeout=COMMAND_TIMEOUT_SECONDS,
        socket_timeout=COMMAND_TIMEOUT_SECONDS,
        socket_connect_timeout=COMMAND_TIMEOUT_SECONDS,
        health_check_interval=HEALTH_CHECK_SECONDS,
    )
    return Redis.from_pool(pool)  # closing the client closes its pool


def redacted(url: str) -> str:
    """``url`` with its password, if any, as ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit(parts._replace(netloc=user + netloc))


@contextlib.contextmanager
def answered() -> Iterator[None]:
    """Redis not answering is a 503 for the request (``BackendUnavailable``), not a 500."""
    try:
        yield
    except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
        log.error("redis.unavailable", error=type(exc).__name__)
        raise BackendUnavailable() from exc


class RedisRateCounters:
    """Sliding windows as sorted sets, one per key, each expiring a window after its last
    event. Times come from ``clock`` (the wall clock: nodes must agree on the time to well
    under a window)."""

    def __init__(self, redis: Redis, prefix: str, clock: Clock) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:rate:"
        self.clock = clock
        self._script = redis.register_script(SLIDING_WINDOW)

    async def retry_after(self, key: str, limit: int, window: float) -> float | None:
        return await self._run(key, limit, window, count=False)

    async def record(self, key: str, window: float) -> None:
        await self._run(key, 0, window, count=True)

    async def hit(self, key: str, limit: int, window: float) -> float | None:
        return await self._run(key, limit, window, count=True)

    async def reset(self, key: str) -> None:
        with answered():
            await self.redis.delete(self.prefix + key)

    async def _run(self, key: str, limit: int, window: float, *, count: bool) -> float | None:
        now = self.clock.now()
        member = f"{now!r}:{secrets.token_hex(6)}" if count else ""
        args: list[str | int] = [repr(now), repr(now - window), limit, member, ceil(window * 1000)]
        with answered():
            oldest = await self._script(keys=[self.prefix + key], args=args)
        if oldest is None:
            return None
        return wait_until_free(float(oldest), now, window)


class RedisLocks:
    """Leased keys: ``SET NX PX`` with a random token, deleted on release only while they
    still hold that token. A waiter tries again every ``LOCK_POLL_SECONDS``."""

    def __init__(self, redis: Redis, prefix: str, *, lease: float, wait: float) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:lock:"
        self.lease = lease
        self.wait = wait

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        lock = Lock(
            self.redis,
            self.prefix + name,
            timeout=self.lease,
            sleep=LOCK_POLL_SECONDS,
            blocking_timeout=self.wait,
            thread_local=False,  # the token belongs to this task, not to the event loop's thread
        )
        with answered():
            if not await lock.acquire():
                raise LockUnavailable(self.wait)
        try:
            yield
        finally:
            try:
                await lock.release()
            except redis_errors.LockNotOwnedError:
                # the lease ran out while the block ran: the key was gone, or someone else's
                log.warning("lock.lease_lapsed", lock=name.split(":", 1)[0], lease=self.lease)
            except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
                # the work is done; the lease frees the lock
                log.error("redis.unavailable", error=type(exc).__name__)


class RedisUnreachable(Exception):
    """Redis did not answer at start; the message names it (password hidden) and why."""


async def check_reachable(url: str) -> None:
    """Ping Redis once, so a wrong URL stops the start with one clear line."""
    client = connect(url)
    try:
        await client.ping()
    except redis_errors.RedisError as exc:
        raise RedisUnreachable(f"cannot reach Redis at {redacted(url)}: {exc}") from exc
    finally:
        await client.aclose()
