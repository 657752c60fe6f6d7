"""Fan-out: every node hears every message, in one order, through one channel.

The connection registry of each node decides what its own connections receive; this port
only carries opaque messages between nodes. All of them travel on one ordered stream (a
single Redis pub/sub channel under the cluster's prefix), because the rule "nothing
committed after a revocation reaches what it covers" needs a revocation's *hold*, published
before its commit, to reach each node before any event committed after it: one channel
read by one connection keeps publish order, across every kind of message.

Holds are also kept in a hash while they are in force, so a node that (re)joins the
channel reads those it missed (``pending_holds``) before it delivers anything again.

In memory (one node) a publish is handed straight to this node's listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol

from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from chinwag.backends.ports import BackendUnavailable, stop_if_cancelled
from chinwag.logs import get_logger

log = get_logger(__name__)

OnMessage = Callable[[bytes], Awaitable[None]]
# Called after the listener (re)joined the channel, before it reads anything more: with
# True the first time, False after a gap in which messages may have been missed.
OnJoined = Callable[[bool], Awaitable[None]]

# The listener pings the channel's connection when it heard nothing for this long, and
# gives the connection up (and joins again) when even the ping went unanswered that long.
LISTENER_PING_SECONDS = 2.0
# Waits between attempts to join again: doubling from the first to the last.
REJOIN_FIRST_SECONDS = 0.1
REJOIN_LAST_SECONDS = 2.0


class Fanout(Protocol):
    async def publish(self, message: bytes) -> None:
        """Hand ``message`` to every node, this one included, after every message published
        before it. Raises ``BackendUnavailable`` if it could not be handed on."""
        ...

    async def publish_hold(self, hold_id: str, message: bytes, lease: float) -> None:
        """Publish a hold and keep it, for ``lease`` seconds at most, until ``publish_end``."""
        ...

    async def publish_end(self, hold_id: str, message: bytes) -> None:
        """Publish the end of a hold (applied or released) and stop keeping it."""
        ...

    async def pending_holds(self) -> list[bytes]:
        """The holds still kept: what a node that just (re)joined may have missed."""
        ...

    def listen(self, on_message: OnMessage, on_joined: OnJoined) -> None:
        """Start handing every message to ``on_message``, one at a time, in order."""
        ...

    @property
    def joined(self) -> bool:
        """Whether the listener hears the channel now."""
        ...

    async def close(self) -> None: ...


class MemoryFanout:
    """One node: a publish is delivered here and now, before ``publish`` returns."""

    def __init__(self) -> None:
        self._on_message: OnMessage | None = None

    @property
    def joined(self) -> bool:
        return self._on_message is not None

    async def publish(self, message: bytes) -> None:
        if self._on_message is not None:
            await self._on_message(message)

    async def publish_hold(self, hold_id: str, message: bytes, lease: float) -> None:
        await self.publish(message)

    async def publish_end(self, hold_id: str, message: bytes) -> None:
        await self.publish(message)

    async def pending_holds(self) -> list[bytes]:
        return []

    def listen(self, on_message: OnMessage, on_joined: OnJoined) -> None:
        self._on_message = on_message

    async def close(self) -> None:
        self._on_message = None


class RedisFanout:
    """One pub/sub channel, ``<prefix>:fanout``, and a hash ``<prefix>:holds`` of the holds
    in force. Pub/sub channels are shared by every database number of a Redis server, so
    the prefix, not the database, keeps two clusters apart."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.channel = f"{prefix}:fanout"
        self.holds_key = f"{prefix}:holds"
        self._task: asyncio.Task[None] | None = None
        self._joined = False

    @property
    def joined(self) -> bool:
        return self._joined

    async def publish(self, message: bytes) -> None:
        with _answered():
            await self.redis.publish(self.channel, message)

    async def publish_hold(self, hold_id: str, message: bytes, lease: float) -> None:
        # each hold's deadline is kept beside it; the hash lives while holds are added
        entry = f"{time.time() + lease!r}\n".encode() + message
        with _answered():
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(self.holds_key, hold_id, entry)
                pipe.pexpire(self.holds_key, int(lease * 2000))
                pipe.publish(self.channel, message)
                await pipe.execute()

    async def publish_end(self, hold_id: str, message: bytes) -> None:
        with _answered():
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hdel(self.holds_key, hold_id)
                pipe.publish(self.channel, message)
                await pipe.execute()

    async def pending_holds(self) -> list[bytes]:
        with _answered():
            entries = await self.redis.hgetall(self.holds_key)
        now, found, lapsed = time.time(), [], []
        for hold_id, entry in entries.items():
            raw = entry.encode() if isinstance(entry, str) else entry
            deadline, _, message = raw.partition(b"\n")
            if float(deadline) <= now:
                lapsed.append(hold_id)  # its node died between hold and end
            else:
                found.append(message)
        if lapsed:
            with contextlib.suppress(BackendUnavailable), _answered():
                await self.redis.hdel(self.holds_key, *lapsed)
        return found

    def listen(self, on_message: OnMessage, on_joined: OnJoined) -> None:
        self._task = asyncio.get_running_loop().create_task(self._listen(on_message, on_joined))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self, on_message: OnMessage, on_joined: OnJoined) -> None:
        first, wait = True, REJOIN_FIRST_SECONDS
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    await _wait_subscribed(pubsub)
                    self._joined = True
                    if not first:
                        log.warning("fanout.rejoined")
                    await on_joined(first)
                    first, wait = False, REJOIN_FIRST_SECONDS
                    await _read(pubsub, on_message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never die silently: join again
                if self._joined or first:
                    log.error("fanout.listener_lost", error=type(exc).__name__)
            finally:
                self._joined = False
            stop_if_cancelled()
            await asyncio.sleep(wait)
            wait = min(wait * 2, REJOIN_LAST_SECONDS)


async def _wait_subscribed(pubsub: PubSub) -> None:
    """Read until Redis confirms the subscription (messages are heard from then on)."""
    while True:
        stop_if_cancelled()
        reply = await pubsub.get_message(timeout=LISTENER_PING_SECONDS)
        if reply is None:
            raise redis_errors.TimeoutError("no subscription confirmation")
        if reply["type"] == "subscribe":
            return


async def _read(pubsub: PubSub, on_message: OnMessage) -> None:
    """Hand on messages until the connection fails; a silent connection is pinged, and one
    that stays silent after the ping is given up (Redis may have dropped a slow reader)."""
    pinged = False
    while True:
        stop_if_cancelled()
        reply = await pubsub.get_message(timeout=LISTENER_PING_SECONDS)
        if reply is None:
            if pinged:
                raise redis_errors.TimeoutError("the channel's connection stopped answering")
            await pubsub.ping()
            pinged = True
            continue
        pinged = False
        if reply["type"] == "message":
            try:
                await on_message(bytes(reply["data"]))
            except Exception:
                log.exception("fanout.message_failed")


@contextlib.contextmanager
def _answered() -> Iterator[None]:
    try:
        yield
    except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
        log.error("fanout.unavailable", error=type(exc).__name__)
        raise BackendUnavailable() from exc
