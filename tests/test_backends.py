"""The live-state ports (counters, locks, presence, typing), the same tests over memory and
over Redis.

"Two clients" are two Redis clients (each its own pool of connections) sharing a key prefix,
as two nodes would be; in memory, two users of one process's state. Every Redis test has its
own random prefix and deletes its keys afterwards.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from chinwag.backends import Backends, BackendUnavailable, LockUnavailable, ManualClock
from chinwag.backends.clock import MonotonicClock
from chinwag.backends.fallback import FallbackRateCounters
from chinwag.backends.memory import (
    LockTable,
    MemoryLocks,
    MemoryPresence,
    MemoryRateCounters,
    MemoryTypingState,
    PresenceTable,
)
from chinwag.backends.ports import Clock, Locks, Presence, RateCounters, TypingState
from chinwag.backends.redis import RedisLocks, RedisRateCounters, connect
from chinwag.backends.redis_live import RedisPresence, RedisTypingState
from chinwag.config import Settings
from tests.support import free_port

REDIS_URL = "redis://127.0.0.1:6379/0"
DEAD_AFTER = 15.0


async def delete_prefixed(client: Redis, prefix: str) -> None:
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
    if keys:
        await client.delete(*keys)


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A fresh key prefix on the shared Redis; its keys are deleted after the test."""
    client = connect(REDIS_URL)
    try:
        await client.ping()
    except RedisError:
        await client.aclose()
        pytest.skip("no Redis on 127.0.0.1:6379 (scripts/services starts one)")
    prefix = f"test-{secrets.token_hex(6)}"
    try:
        yield prefix
    finally:
        await delete_prefixed(client, prefix)
        await client.aclose()


class Nodes:
    """Makes two clients of one backend: in memory, or on Redis under one prefix."""

    def __init__(self, kind: str, prefix: str | None) -> None:
        self.kind = kind
        self.prefix = prefix or ""
        self.clients: list[Redis] = []
        self.table = LockTable()  # the one process's locks, in memory
        self.presence_table = PresenceTable()  # and its presence

    def _redis(self) -> Redis:
        client = connect(REDIS_URL)
        self.clients.append(client)
        return client

    def counters(self, clock: Clock) -> tuple[RateCounters, RateCounters]:
        if self.kind == "memory":
            shared = MemoryRateCounters(clock)
            return shared, shared
        return (
            RedisRateCounters(self._redis(), self.prefix, clock),
            RedisRateCounters(self._redis(), self.prefix, clock),
        )

    def locks(self, *, lease: float, wait: float) -> Locks:
        """One more client of the same locks, with its own lease and wait."""
        if self.kind == "memory":
            return MemoryLocks(MonotonicClock(), lease=lease, wait=wait, table=self.table)
        return RedisLocks(self._redis(), self.prefix, lease=lease, wait=wait)

    def presence(self, clock: Clock, *, dead_after: float = DEAD_AFTER) -> Presence:
        """One more node of the same presence (a process of its own, with its own id)."""
        if self.kind == "memory":
            return MemoryPresence(clock, dead_after=dead_after, table=self.presence_table)
        return RedisPresence(self._redis(), self.prefix, clock, dead_after=dead_after)

    def typing(self, clock: Clock) -> tuple[TypingState, TypingState]:
        if self.kind == "memory":
            shared = MemoryTypingState(clock)
            return shared, shared
        return (
            RedisTypingState(self._redis(), self.prefix, clock),
            RedisTypingState(self._redis(), self.prefix, clock),
        )

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """The backend's kind, and its key prefix on Redis (only Redis tests need a Redis)."""
    if request.param == "redis":
        return "redis", request.getfixturevalue("redis_prefix")
    return "memory", None


@pytest.fixture
async def nodes(backend: tuple[str, str | None]) -> AsyncIterator[Nodes]:
    made = Nodes(*backend)
    yield made
    await made.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


# ---- counters ---------------------------------------------------------------------------------
async def test_a_key_at_its_limit_waits_until_its_oldest_event_leaves_the_window(
    nodes: Nodes, clock: ManualClock
) -> None:
    a, b = nodes.counters(clock)
    for counters in (a, b, a):  # events at 0, 10 and 20 s, from either client
        assert await counters.hit("k", 3, 60) is None
        clock.advance(10)
    # at 30 s: full, until the event of 0 s leaves at 60 s
    assert await b.hit("k", 3, 60) == 30
    assert await a.retry_after("k", 3, 60) == 30
    clock.advance(29.75)
    assert await b.retry_after("k", 3, 60) == 0.25
    clock.advance(0.25)  # 60 s: an event exactly a window old no longer counts
    assert await a.retry_after("k", 3, 60) is None
    assert await b.hit("k", 3, 60) is None
    # full again (10, 20, 60): the next to leave is the event of 10 s
    assert await a.hit("k", 3, 60) == 10


async def test_a_refused_hit_counts_nothing(nodes: Nodes, clock: ManualClock) -> None:
    a, b = nodes.counters(clock)
    assert await a.hit("k", 2, 10) is None
    assert await b.hit("k", 2, 10) is None
    clock.advance(5)
    for counters in (a, b, a, b):
        assert await counters.hit("k", 2, 10) == 5
    clock.advance(5)  # the two counted events leave; the refused ones were never there
    assert await b.hit("k", 2, 10) is None
    assert await a.hit("k", 2, 10) is None
    assert await b.hit("k", 2, 10) == 10


async def test_record_counts_past_the_limit_and_reset_forgets(
    nodes: Nodes, clock: ManualClock
) -> None:
    a, b = nodes.counters(clock)
    for _ in range(4):
        await a.record("k", 60)  # failures are recorded whatever the count
    assert await b.retry_after("k", 3, 60) == 60
    assert await b.hit("k", 3, 60) == 60
    assert await a.hit("other", 3, 60) is None  # keys are independent
    await b.reset("k")
    assert await a.retry_after("k", 3, 60) is None
    assert await a.hit("k", 3, 60) is None


async def test_two_clients_hitting_one_key_at_once_never_pass_the_limit(
    nodes: Nodes, clock: ManualClock
) -> None:
    """More at once than a node's Redis connection pool holds: they wait for a connection."""
    a, b = nodes.counters(clock)
    limit = 25
    results = await asyncio.gather(
        *(counters.hit("shared", limit, 60) for _ in range(200) for counters in (a, b))
    )
    assert sum(result is None for result in results) == limit
    assert all(result == 60 for result in results if result is not None)
    assert await a.retry_after("shared", limit, 60) == 60


async def test_redis_counter_keys_are_prefixed_and_expire_by_themselves(
    redis_prefix: str, clock: ManualClock
) -> None:
    client = connect(REDIS_URL)
    try:
        counters = RedisRateCounters(client, redis_prefix, clock)
        key = f"{redis_prefix}:rate:k"
        assert await counters.retry_after("k", 3, 60) is None
        assert await client.exists(key) == 0  # a check alone leaves nothing behind
        assert await counters.hit("k", 3, 60) is None
        assert 0 < await client.pttl(key) <= 60_000
        await counters.reset("k")
        assert await client.exists(key) == 0
    finally:
        await client.aclose()


# ---- locks ------------------------------------------------------------------------------------
async def test_a_lock_is_held_by_one_holder_at_a_time(nodes: Nodes) -> None:
    a, b = nodes.locks(lease=30, wait=10), nodes.locks(lease=30, wait=10)
    state: dict[str, Any] = {"inside": 0, "most": 0, "total": 0}

    async def add_one(locks: Locks) -> None:
        async with locks.hold("counter"):
            state["inside"] += 1
            state["most"] = max(state["most"], state["inside"])
            total = state["total"]
            await asyncio.sleep(0.01)  # let the others try while this one holds it
            state["total"] = total + 1
            state["inside"] -= 1

    await asyncio.gather(*(add_one(locks) for _ in range(6) for locks in (a, b)))
    assert state == {"inside": 0, "most": 1, "total": 12}


async def test_a_lock_not_had_within_the_wait_is_a_clear_503(nodes: Nodes) -> None:
    a, b = nodes.locks(lease=30, wait=0.2), nodes.locks(lease=30, wait=0.2)
    async with a.hold("avatar-files"):
        async with b.hold("another-name"):  # names are independent
            pass
        with pytest.raises(LockUnavailable) as refused:
            async with b.hold("avatar-files"):
                raise AssertionError("two holders at once")
    assert refused.value.status == 503 and refused.value.code == "server_busy"
    assert refused.value.retry_after == 1
    assert "try again" in refused.value.message
    async with b.hold("avatar-files"):  # released: had at once
        pass


async def test_a_lease_frees_a_dead_holders_lock_and_its_late_release_frees_nothing(
    nodes: Nodes,
) -> None:
    short_lease = nodes.locks(lease=0.3, wait=5)
    waiter = nodes.locks(lease=30, wait=5)
    impatient = nodes.locks(lease=30, wait=0.2)
    dead = short_lease.hold("login:user:ana")
    await dead.__aenter__()  # a holder that never lets go (its node died)
    async with waiter.hold("login:user:ana"):  # had once the dead holder's lease ran out
        await dead.__aexit__(None, None, None)  # the "dead" holder comes back and lets go
        with pytest.raises(LockUnavailable):  # ... of nothing: the waiter still holds it
            async with impatient.hold("login:user:ana"):
                raise AssertionError("the late release freed someone else's lock")
    async with impatient.hold("login:user:ana"):
        pass


# ---- presence ---------------------------------------------------------------------------------
async def test_a_user_is_online_in_a_room_while_any_of_their_connections_on_any_node_is(
    nodes: Nodes, clock: ManualClock
) -> None:
    a, b = nodes.presence(clock), nodes.presence(clock)
    assert a.instance != b.instance
    assert await a.add(1, 10, "tab-1") is True  # came online
    assert await b.add(1, 10, "tab-2") is False  # already was, through node a
    assert await a.add(1, 10, "tab-1") is False  # counted once, however often it enters
    assert await b.add(2, 10, "tab-2") is True  # rooms are counted apart
    assert await a.add(1, 11, "tab-3") is True
    assert await a.online(1) == await b.online(1) == {10, 11}
    assert await b.remove(1, "tab-1") is False  # another node's connection: not b's to remove
    assert await a.remove(1, "tab-1") is False  # tab-2 is still in the room
    assert await a.online(1) == {10, 11}
    assert await b.remove(1, "tab-2") is True  # the last one: offline
    assert await b.remove(1, "tab-2") is False
    assert await a.online(1) == {11}
    assert await a.online(2) == {10}
    assert await a.online(3) == set()


async def test_connections_entering_at_once_on_two_nodes_bring_a_user_online_once(
    nodes: Nodes, clock: ManualClock
) -> None:
    a, b = nodes.presence(clock), nodes.presence(clock)
    tabs = [(node, f"tab-{i}") for i in range(40) for node in (a, b)]
    came = await asyncio.gather(*(node.add(1, 10, tab) for node, tab in tabs))
    assert sum(came) == 1
    went = await asyncio.gather(*(node.remove(1, tab) for node, tab in tabs))
    assert sum(went) == 1
    assert await a.online(1) == set()


async def test_a_dead_nodes_users_go_offline_reaped_by_exactly_one_node(
    nodes: Nodes, clock: ManualClock
) -> None:
    a, b, dead = nodes.presence(clock), nodes.presence(clock), nodes.presence(clock)
    for node in (a, b, dead):
        assert await node.heartbeat() is False
    await dead.add(1, 10, "d-1")  # only on the dead node
    await dead.add(1, 10, "d-2")
    await dead.add(2, 10, "d-1")
    await dead.add(1, 11, "d-3")  # also on a living node
    await a.add(1, 11, "a-1")
    clock.advance(DEAD_AFTER - 5)
    assert await a.heartbeat() is False and await b.heartbeat() is False
    clock.advance(4.5)  # 0.5 s before the dead node's deadline: not dead yet
    assert await b.reap() == []
    assert await a.online(1) == {10, 11}
    clock.advance(0.5)
    reaped = await asyncio.gather(a.reap(), b.reap(), a.reap(), b.reap())
    assert sorted(reaped, key=len)[:3] == [[], [], []]  # one reaper, and once
    assert sorted(reaped[0] + reaped[1] + reaped[2] + reaped[3]) == [(1, 10), (2, 10)]
    assert await a.online(1) == {11}
    assert await b.online(2) == set()
    assert await a.reap() == []  # the living beat: nobody else is dead


async def test_a_node_taken_for_dead_counts_its_connections_again(
    nodes: Nodes, clock: ManualClock
) -> None:
    """A node that could not beat for a while (or whose Redis lost everything) hears it at
    its next heartbeat and counts its connections again."""
    a, b = nodes.presence(clock), nodes.presence(clock)
    assert await a.heartbeat() is False
    await a.add(1, 10, "a-1")
    clock.advance(DEAD_AFTER)
    assert await b.heartbeat() is False
    assert await b.reap() == [(1, 10)]
    assert await a.heartbeat() is True  # a was reaped
    assert await a.heartbeat() is False  # said once
    assert await a.resync([(1, "a-1", 10)]) == ([(1, 10)], [])
    assert await b.online(1) == {10}
    clock.advance(DEAD_AFTER)  # an add after a reap counts the node among the living too
    assert await b.heartbeat() is False
    assert await b.reap() == [(1, 10)]
    await a.add(2, 10, "a-1")
    assert await a.heartbeat() is True
    assert await a.online(2) == {10}


async def test_a_resync_makes_a_nodes_connections_exactly_the_given_ones(
    nodes: Nodes, clock: ManualClock
) -> None:
    a, b = nodes.presence(clock), nodes.presence(clock)
    await a.add(1, 10, "old-tab")
    await a.add(1, 11, "tab-11")
    await b.add(1, 12, "tab-12")
    came, gone = await a.resync([(1, "new-tab", 10), (1, "tab-13", 13), (2, "tab-11", 11)])
    # 10 moved from one connection to another: neither offline nor online meanwhile
    assert sorted(came) == [(1, 13), (2, 11)]
    assert gone == [(1, 11)]
    assert await b.online(1) == {10, 12, 13}
    assert await a.remove(1, "old-tab") is False
    assert await a.remove(1, "new-tab") is True
    assert await a.resync([]) == ([], [(1, 13), (2, 11)])
    assert await b.online(1) == {12}


async def test_a_clean_goodbye_takes_out_only_the_nodes_own_connections(
    nodes: Nodes, clock: ManualClock
) -> None:
    a, b = nodes.presence(clock), nodes.presence(clock)
    await a.add(1, 10, "a-1")
    await a.add(1, 11, "a-2")
    await b.add(1, 11, "b-1")
    assert await a.leave() == [(1, 10)]
    assert await b.online(1) == {11}
    clock.advance(DEAD_AFTER * 2)
    assert await b.heartbeat() is False
    assert await b.reap() == []  # a said goodbye: nothing left to reap
    # a process started again is a new node: it inherits nothing of the old one
    again = nodes.presence(clock)
    assert again.instance not in (a.instance, b.instance)
    assert await again.leave() == []
    assert await b.online(1) == {11}


async def test_a_node_started_after_another_died_reaps_it(nodes: Nodes, clock: ManualClock) -> None:
    dead = nodes.presence(clock)
    await dead.add(1, 10, "d-1")
    clock.advance(DEAD_AFTER)
    fresh = nodes.presence(clock)  # the same machine's node, restarted after a SIGKILL
    assert await fresh.heartbeat() is False
    assert await fresh.online(1) == {10}  # until the old one is found dead
    assert await fresh.reap() == [(1, 10)]
    assert await fresh.online(1) == set()


async def test_a_dropped_room_has_nobody_online_and_nothing_left_to_count_out(
    nodes: Nodes, clock: ManualClock
) -> None:
    a, b = nodes.presence(clock), nodes.presence(clock)
    await a.add(1, 10, "a-1")
    await b.add(1, 11, "b-1")
    await a.add(2, 10, "a-1")
    await b.drop_room(1)
    assert await a.online(1) == set()
    assert await a.remove(1, "a-1") is False  # counted out of nothing: nobody "went offline"
    clock.advance(DEAD_AFTER)
    await a.heartbeat()
    assert await a.reap() == []  # b's connection in the dropped room is no news either
    assert await a.online(2) == {10}
    assert await a.online(1) == set()


async def test_redis_presence_keys_are_prefixed_and_all_gone_after_goodbyes(
    redis_prefix: str, clock: ManualClock
) -> None:
    client = connect(REDIS_URL)
    try:
        a = RedisPresence(client, redis_prefix, clock, dead_after=DEAD_AFTER)
        b = RedisPresence(client, redis_prefix, clock, dead_after=DEAD_AFTER)
        await a.add(7, 10, "a-1")
        await b.add(7, 11, "b-1")
        nodes = await client.zrange(f"{redis_prefix}:presence:nodes", 0, -1, withscores=True)
        deadline = clock.now() + DEAD_AFTER
        assert sorted(nodes) == sorted(
            [(a.instance.encode(), deadline), (b.instance.encode(), deadline)]
        )
        assert await client.hgetall(f"{redis_prefix}:presence:room:7") == {b"10": b"1", b"11": b"1"}
        assert await client.hgetall(f"{redis_prefix}:presence:node:{a.instance}") == {
            b"7:a-1": b"10"
        }
        await a.leave()
        await b.leave()
        assert [key async for key in client.scan_iter(match=f"{redis_prefix}:*")] == []
    finally:
        await client.aclose()


# ---- typing -----------------------------------------------------------------------------------
TTL = 6.0


async def test_an_indicator_put_up_on_one_node_is_cleared_by_another_and_stopped_once(
    nodes: Nodes, clock: ManualClock
) -> None:
    a, b = nodes.typing(clock)
    to_room, to_bo = await a.arm((1, 10, None), TTL), await a.arm((1, 10, 12), TTL)
    await a.arm((1, 11, None), TTL)  # someone else in the room
    await a.arm((2, 10, None), TTL)  # and the user in another room
    assert sorted(await b.clear_user(1, 10), key=str) == [(1, 10, 12), (1, 10, None)]
    assert await b.clear_user(1, 10) == []
    # the timers of the node that put them up find them taken down: no second stop
    assert await a.expire((1, 10, None), to_room) is False
    assert await a.expire((1, 10, 12), to_bo) is False
    assert await a.disarm((1, 11, None)) is True
    assert await b.disarm((2, 10, None)) is True


async def test_only_the_latest_token_takes_an_indicator_down_at_its_timer(
    nodes: Nodes, clock: ManualClock
) -> None:
    a, b = nodes.typing(clock)
    key = (1, 10, None)
    first = await a.arm(key, TTL)
    clock.advance(3)
    second = await b.arm(key, TTL)  # refreshed through another node
    assert first != second
    clock.advance(3)
    assert await a.expire(key, first) is False  # the first timer: not its indicator any more
    clock.advance(3)
    assert await b.expire(key, second) is True
    assert await b.expire(key, second) is False
    assert await a.disarm(key) is False


async def test_an_indicator_is_up_for_its_ttl_and_kept_a_ttl_longer_for_a_late_timer(
    nodes: Nodes, clock: ManualClock
) -> None:
    a, b = nodes.typing(clock)
    late, lapsed = await a.arm((1, 10, None), TTL), await a.arm((1, 11, None), TTL)
    await a.arm((1, 12, None), TTL)
    await a.arm((1, 14, 10), TTL)
    clock.advance(TTL - 0.5)
    assert await b.clear_user(1, 14) == [(1, 14, 10)]  # still up
    clock.advance(0.5)  # no longer up: clients dropped it by themselves
    assert await b.disarm((1, 12, None)) is False
    later = await a.arm((1, 13, None), TTL)
    assert await a.expire((1, 10, None), late) is True  # a timer a little late still finds it
    clock.advance(TTL)  # kept no longer
    assert await a.expire((1, 11, None), lapsed) is False
    assert await a.expire((1, 13, None), later) is True  # armed later: kept for its own time


async def test_a_dropped_room_forgets_its_indicators(nodes: Nodes, clock: ManualClock) -> None:
    a, b = nodes.typing(clock)
    token = await a.arm((1, 10, None), TTL)
    await a.arm((2, 10, None), TTL)
    await b.drop_room(1)
    assert await a.clear_user(1, 10) == []
    assert await a.expire((1, 10, None), token) is False
    assert await b.clear_user(2, 10) == [(2, 10, None)]


async def test_redis_typing_keys_are_prefixed_and_expire_by_themselves(
    redis_prefix: str, clock: ManualClock
) -> None:
    client = connect(REDIS_URL)
    try:
        typing = RedisTypingState(client, redis_prefix, clock)
        key = f"{redis_prefix}:typing:5"
        await typing.arm((5, 10, 12), TTL)
        assert list(await client.hkeys(key)) == [b"10:12"]
        assert 0 < await client.pttl(key) <= 2 * TTL * 1000
        assert await typing.disarm((5, 10, 12)) is True
        assert await client.exists(key) == 0
    finally:
        await client.aclose()


# ---- when Redis does not answer ---------------------------------------------------------------
async def test_redis_not_answering_is_a_503_not_a_crash(clock: ManualClock) -> None:
    client = connect(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    try:
        counters = RedisRateCounters(client, "nowhere", clock)
        locks = RedisLocks(client, "nowhere", lease=1, wait=1)
        with pytest.raises(BackendUnavailable) as refused:
            await counters.hit("k", 3, 60)
        assert refused.value.status == 503 and refused.value.code == "backend_unavailable"
        with pytest.raises(BackendUnavailable):
            async with locks.hold("x"):
                raise AssertionError("held a lock on no Redis")
        presence = RedisPresence(client, "nowhere", clock, dead_after=DEAD_AFTER)
        for call in (presence.add(1, 10, "c"), presence.online(1), presence.heartbeat()):
            with pytest.raises(BackendUnavailable):
                await call
        typing = RedisTypingState(client, "nowhere", clock)
        for call in (typing.arm((1, 10, None), TTL), typing.clear_user(1, 10)):
            with pytest.raises(BackendUnavailable):
                await call
    finally:
        await client.aclose()


async def test_limits_count_on_this_node_while_redis_does_not_answer(clock: ManualClock) -> None:
    client = connect(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    try:
        counters = FallbackRateCounters(RedisRateCounters(client, "nowhere", clock), clock)
        assert [await counters.hit("k", 2, 60) for _ in range(2)] == [None, None]
        assert await counters.hit("k", 2, 60) == pytest.approx(60)
        assert await counters.hit("other", 2, 60) is None
        clock.advance(60)
        assert await counters.hit("k", 2, 60) is None
    finally:
        await client.aclose()


# ---- built once, from the settings ------------------------------------------------------------
async def test_backends_are_in_memory_unless_a_redis_url_is_set(redis_prefix: str) -> None:
    memory = Backends.from_settings(Settings(redis_url=None))
    assert isinstance(memory.counters, MemoryRateCounters) and memory.redis is None
    assert isinstance(memory.presence, MemoryPresence) and not memory.shared
    assert isinstance(memory.typing, MemoryTypingState)
    await memory.close()

    shared = Backends.from_settings(Settings(redis_url=REDIS_URL, redis_prefix=redis_prefix))
    assert isinstance(shared.counters, FallbackRateCounters) and shared.redis is not None
    assert isinstance(shared.counters.shared, RedisRateCounters)
    assert isinstance(shared.presence, RedisPresence) and shared.shared
    assert isinstance(shared.typing, RedisTypingState)
    try:
        assert await shared.counters.hit("k", 1, 60) is None
        async with shared.locks.hold("x"):
            assert await shared.redis.exists(f"{redis_prefix}:lock:x") == 1
        assert await shared.redis.exists(f"{redis_prefix}:rate:k") == 1
    finally:
        await shared.close()


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("redis_url", "http://127.0.0.1:6379", "is not a Redis URL"),
        ("redis_prefix", "two words", "should match pattern"),
        ("redis_prefix", "", "should match pattern"),
        ("lock_wait_seconds", 0, "greater than 0"),
        ("node_dead_seconds", 9, "at least twice CHINWAG_NODE_HEARTBEAT_SECONDS"),
        ("node_heartbeat_seconds", 0, "greater than 0"),
    ],
)
def test_bad_redis_settings_are_refused(field: str, value: object, reason: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(**{field: value})
    assert reason in str(refused.value)
