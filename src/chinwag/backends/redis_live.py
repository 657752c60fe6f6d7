"""Presence and typing indicators in Redis, shared by every node: hashes changed by Lua scripts.

Every key starts with the cluster's prefix (``CHINWAG_REDIS_PREFIX``). Each operation is
one atomic step on the server. The presence scripts that take out a whole node name the
rooms' keys themselves, which a single Redis (not Redis Cluster) allows.
"""

from __future__ import annotations

import secrets
from math import ceil

from redis.asyncio import Redis

from chinwag.backends.ports import Clock, Entry, RoomUser, TypingKey
from chinwag.backends.redis import answered
from chinwag.logs import get_logger

log = get_logger(__name__)

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
