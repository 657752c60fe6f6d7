"""Live state in Redis, shared by every node: counters in sorted sets, locks as leased keys,
presence and typing indicators in hashes.

Every key starts with the cluster's prefix (``CHINWAG_REDIS_PREFIX``), so several clusters
can share one Redis. Each operation is one atomic step on the server: a Lua script for the
counters, presence and typing, ``SET NX PX`` and a compare-and-delete script for the locks
(redis-py's ``Lock``). The presence scripts that take out a whole node name the rooms' keys
themselves, which a single Redis (not Redis Cluster) allows.
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
    Entry,
    LockUnavailable,
    RoomUser,
    TypingKey,
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

# Presence. ``nodes``: sorted set, member: a node's instance, score: the time it is dead
# after. ``node:<instance>``: hash, field "<room>:<conn>" -> user: that node's connections.
# ``room:<room>``: hash, field user -> how many connections (on every node) are in the room.
# A count that would fall below one (the room was dropped meanwhile) is deleted.
PRESENCE_COUNT = """
local function count(prefix, room, user, delta)
  local key = prefix .. 'room:' .. room
  local n = redis.call('HINCRBY', key, user, delta)
  if n <= 0 then redis.call('HDEL', key, user) end
  return n
end
"""
# KEYS: nodes, node:<instance>. ARGV: prefix, instance, deadline, room, conn, user.
# Returns {1 if the user came online, 1 if the node was not in ``nodes``}.
PRESENCE_ADD = (
    PRESENCE_COUNT
    + """
local missing = redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
local came = 0
if redis.call('HSETNX', KEYS[2], ARGV[4] .. ':' .. ARGV[5], ARGV[6]) == 1 then
  if count(ARGV[1], ARGV[4], ARGV[6], 1) == 1 then came = 1 end
end
return {came, missing}
"""
)
# KEYS: node:<instance>. ARGV: prefix, room, conn. Returns 1 if the user went offline.
PRESENCE_REMOVE = (
    PRESENCE_COUNT
    + """
local field = ARGV[2] .. ':' .. ARGV[3]
local user = redis.call('HGET', KEYS[1], field)
if not user then return 0 end
redis.call('HDEL', KEYS[1], field)
if count(ARGV[1], ARGV[2], user, -1) == 0 then return 1 end
return 0
"""
)
# KEYS: nodes, node:<instance>. ARGV: prefix, instance, deadline, then room, conn, user
# for each wanted connection. Returns {1 if the node was missing, came, gone}: came and
# gone as flat lists of room, user.
PRESENCE_RESYNC = (
    PRESENCE_COUNT
    + """
local missing = redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
local wanted = {}
for i = 4, #ARGV, 3 do wanted[ARGV[i] .. ':' .. ARGV[i + 1]] = {ARGV[i], ARGV[i + 2]} end
local came, gone = {}, {}
for field, entry in pairs(wanted) do
  if redis.call('HSETNX', KEYS[2], field, entry[2]) == 1 then
    if count(ARGV[1], entry[1], entry[2], 1) == 1 then
      came[#came + 1] = entry[1]; came[#came + 1] = entry[2]
    end
  end
end
local have = redis.call('HGETALL', KEYS[2])
for i = 1, #have, 2 do
  if not wanted[have[i]] then
    redis.call('HDEL', KEYS[2], have[i])
    local room = string.match(have[i], '^([^:]+):')
    if count(ARGV[1], room, have[i + 1], -1) == 0 then
      gone[#gone + 1] = room; gone[#gone + 1] = have[i + 1]
    end
  end
end
return {missing, came, gone}
"""
)
# KEYS: nodes. ARGV: prefix, now, instance. Takes out the given instance, or (with "")
# every instance dead at ``now``: claimed and cleared in one step, so once. Returns gone,
# a flat list of room, user.
PRESENCE_CLEAR = (
    PRESENCE_COUNT
    + """
local instances = {ARGV[3]}
if ARGV[3] == '' then instances = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2]) end
local gone = {}
for _, instance in ipairs(instances) do
  redis.call('ZREM', KEYS[1], instance)
  local node = ARGV[1] .. 'node:' .. instance
  local have = redis.call('HGETALL', node)
  for i = 1, #have, 2 do
    local room = string.match(have[i], '^([^:]+):')
    if count(ARGV[1], room, have[i + 1], -1) == 0 then
      gone[#gone + 1] = room; gone[#gone + 1] = have[i + 1]
    end
  end
  redis.call('DEL', node)
end
return gone
"""
)

# Typing. ``typing:<room>``: hash, field "<typist>:<recipient or empty>" -> "<token> <up
# until> <kept until>"; the key expires when its last record is to be forgotten.
TYPING_RECORD = """
local function record(value)
  local token, up, kept = string.match(value, '^(%S+) (%S+) (%S+)$')
  return token, tonumber(up), tonumber(kept)
end
"""
# KEYS: typing:<room>. ARGV: field, record, its lifetime in ms, now. Forgets stale records.
TYPING_ARM = (
    TYPING_RECORD
    + """
local have = redis.call('HGETALL', KEYS[1])
for i = 1, #have, 2 do
  local _, _, kept = record(have[i + 1])
  if kept <= tonumber(ARGV[4]) then redis.call('HDEL', KEYS[1], have[i]) end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
"""
)
# KEYS: typing:<room>. ARGV: field, now, token ("": any). Deletes the record (if its token
# matches); returns 1 if it was up (any token) or still kept (a given token), else 0.
TYPING_TAKE = (
    TYPING_RECORD
    + """
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return 0 end
local token, up, kept = record(value)
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  if up > tonumber(ARGV[2]) then return 1 end
  return 0
end
if token ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
if kept > tonumber(ARGV[2]) then return 1 end
return 0
"""
)
# KEYS: typing:<room>. ARGV: "<typist>:", now. Deletes the typist's records; returns the
# fields of those that were up.
TYPING_CLEAR_USER = (
    TYPING_RECORD
    + """
local have = redis.call('HGETALL', KEYS[1])
local cleared = {}
for i = 1, #have, 2 do
  if string.sub(have[i], 1, #ARGV[1]) == ARGV[1] then
    redis.call('HDEL', KEYS[1], have[i])
    local _, up = record(have[i + 1])
    if up > tonumber(ARGV[2]) then cleared[#cleared + 1] = have[i] end
  end
end
return cleared
"""
)


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


def pairs(flat: list[bytes]) -> list[RoomUser]:
    """A script's flat list of room, user as (room, user) pairs."""
    return [(int(flat[i]), int(flat[i + 1])) for i in range(0, len(flat), 2)]


class RedisPresence:
    """Presence in hashes, one per node and one per room, and a sorted set of the nodes'
    deadlines (times from ``clock``, the wall clock: nodes must agree on the time to well
    under ``dead_after``)."""

    def __init__(self, redis: Redis, prefix: str, clock: Clock, *, dead_after: float) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:presence:"
        self.clock = clock
        self.dead_after = dead_after
        self.instance = secrets.token_hex(8)
        self._nodes = self.prefix + "nodes"
        self._node = f"{self.prefix}node:{self.instance}"
        self._beating = False
        self._revived = False
        self._add = redis.register_script(PRESENCE_ADD)
        self._remove = redis.register_script(PRESENCE_REMOVE)
        self._resync = redis.register_script(PRESENCE_RESYNC)
        self._clear = redis.register_script(PRESENCE_CLEAR)

    async def add(self, room_id: int, user_id: int, conn_id: str) -> bool:
        args: list[str | int] = [*self._me(), room_id, conn_id, user_id]
        with answered():
            came, missing = await self._add(keys=[self._nodes, self._node], args=args)
        self._seen(bool(missing))
        return bool(came)

    async def remove(self, room_id: int, conn_id: str) -> bool:
        with answered():
            went = await self._remove(keys=[self._node], args=[self.prefix, room_id, conn_id])
        return bool(went)

    async def online(self, room_id: int) -> set[int]:
        with answered():
            users = await self.redis.hkeys(f"{self.prefix}room:{room_id}")
        return {int(user) for user in users}

    async def drop_room(self, room_id: int) -> None:
        with answered():
            await self.redis.delete(f"{self.prefix}room:{room_id}")

    async def heartbeat(self) -> bool:
        with answered():
            missing = await self.redis.zadd(self._nodes, {self.instance: self._deadline()})
        self._seen(bool(missing))
        revived, self._revived = self._revived, False
        return revived

    async def resync(self, entries: list[Entry]) -> tuple[list[RoomUser], list[RoomUser]]:
        args: list[str | int] = list(self._me())
        for room_id, conn_id, user_id in entries:
            args += [room_id, conn_id, user_id]
        with answered():
            missing, came, gone = await self._resync(keys=[self._nodes, self._node], args=args)
        self._seen(bool(missing))
        self._revived = False
        return pairs(came), pairs(gone)

    async def reap(self) -> list[RoomUser]:
        args = [self.prefix, repr(self.clock.now()), ""]
        with answered():
            return pairs(await self._clear(keys=[self._nodes], args=args))

    async def leave(self) -> list[RoomUser]:
        args = [self.prefix, repr(self.clock.now()), self.instance]
        with answered():
            gone = pairs(await self._clear(keys=[self._nodes], args=args))
        self._beating = False
        return gone

    def _deadline(self) -> str:
        return repr(self.clock.now() + self.dead_after)

    def _me(self) -> tuple[str, str, str]:
        return self.prefix, self.instance, self._deadline()

    def _seen(self, missing: bool) -> None:
        """The node was (``missing``: was not) among the living until this call."""
        if missing and self._beating:
            self._revived = True
        self._beating = True


def typing_field(key: TypingKey) -> str:
    return f"{key[1]}:{'' if key[2] is None else key[2]}"


class RedisTypingState:
    """Typing indicators in one hash per room, expiring with its last record. Times come
    from ``clock`` (the wall clock)."""

    def __init__(self, redis: Redis, prefix: str, clock: Clock) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:typing:"
        self.clock = clock
        self._arm = redis.register_script(TYPING_ARM)
        self._take = redis.register_script(TYPING_TAKE)
        self._clear_user = redis.register_script(TYPING_CLEAR_USER)

    async def arm(self, key: TypingKey, ttl: float) -> str:
        now = self.clock.now()
        token = secrets.token_hex(8)
        record = f"{token} {now + ttl!r} {now + 2 * ttl!r}"
        args: list[str | int] = [typing_field(key), record, ceil(2 * ttl * 1000), repr(now)]
        with answered():
            await self._arm(keys=[self._room(key[0])], args=args)
        return token

    async def disarm(self, key: TypingKey) -> bool:
        return await self._take_down(key, "")

    async def expire(self, key: TypingKey, token: str) -> bool:
        return await self._take_down(key, token)

    async def clear_user(self, room_id: int, user_id: int) -> list[TypingKey]:
        args = [f"{user_id}:", repr(self.clock.now())]
        with answered():
            fields = await self._clear_user(keys=[self._room(room_id)], args=args)
        cleared: list[TypingKey] = []
        for name in fields:
            typist, recipient = name.decode().split(":")
            cleared.append((room_id, int(typist), int(recipient) if recipient else None))
        return cleared

    async def drop_room(self, room_id: int) -> None:
        with answered():
            await self.redis.delete(self._room(room_id))

    async def _take_down(self, key: TypingKey, token: str) -> bool:
        args = [typing_field(key), repr(self.clock.now()), token]
        with answered():
            return bool(await self._take(keys=[self._room(key[0])], args=args))

    def _room(self, room_id: int) -> str:
        return f"{self.prefix}{room_id}"


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
