"""The live-state ports (counters, locks), the same tests over memory and over Redis.

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
from chinwag.backends.memory import LockTable, MemoryLocks, MemoryRateCounters
from chinwag.backends.ports import Clock, Locks, RateCounters
from chinwag.backends.redis import RedisLocks, RedisRateCounters, connect
from chinwag.config import Settings
from tests.support import free_port

REDIS_URL = "redis://127.0.0.1:6379/0"


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
    await memory.close()

    shared = Backends.from_settings(Settings(redis_url=REDIS_URL, redis_prefix=redis_prefix))
    assert isinstance(shared.counters, FallbackRateCounters) and shared.redis is not None
    assert isinstance(shared.counters.shared, RedisRateCounters)
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
    ],
)
def test_bad_redis_settings_are_refused(field: str, value: object, reason: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(**{field: value})
    assert reason in str(refused.value)
