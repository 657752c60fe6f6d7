"""Write transactions that announce: events are sent after the commit, by a mechanism.

``async with committer.transaction() as tx:`` gives a session (``tx.s``) and two ways to
announce what the transaction does:

- ``tx.publish(event, data, *audiences)``: sent after the commit, in order; dropped if the
  transaction fails. Zulip's ``send_event_on_commit``; later the same call can also write
  the event into a durable log in the transaction (the transactional outbox).
- ``tx.revoke(revocation)``: held just before the commit (nothing more reaches what it
  covers, on any node), applied after it, released if the commit fails; applying runs the
  live service's clean-up (presence, typing) on each node. Then the events are published.
  A hold the other nodes cannot be told of stops the commit (``BackendUnavailable``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from chinwag.db.engine import Database
from chinwag.services.realtime import Audience, Realtime, Revocation


@dataclass(frozen=True)
class Event:
    name: str
    data: dict[str, Any]
    audiences: tuple[Audience, ...]


AfterCommit = Callable[[], Awaitable[None]]


@dataclass
class Steps:
    """What a transaction announces: events and live work, in the order they were asked for,
    and revocations to hold before its commit."""

    revocations: list[Revocation] = field(default_factory=list)
    steps: list[Event | AfterCommit] = field(default_factory=list)

    def publish(self, event: str, data: dict[str, Any], *audiences: Audience) -> None:
        self.steps.append(Event(event, data, audiences))

    def after_commit(self, step: AfterCommit) -> None:
        """Live work that must follow the commit in order with the events (never a write)."""
        self.steps.append(step)

    def revoke(self, revocation: Revocation) -> None:
        self.revocations.append(revocation)


@dataclass
class Tx(Steps):
    s: AsyncSession = field(kw_only=True)


T = TypeVar("T")


class Committer:
    def __init__(self, db: Database, realtime: Realtime) -> None:
        self.db = db
        self.realtime = realtime

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self.db.uncommitted() as s:
            tx = Tx(s=s)
            yield tx
            hold = await self.realtime.hold(tx.revocations) if tx.revocations else None
            try:
                await s.commit()
            except BaseException:
                if hold is not None:
                    await self.realtime.release(hold)
                raise
        if hold is not None:
            await self.realtime.apply(hold)
        await self._announce(tx)

    async def run(self, work: Callable[[Connection, Steps], T]) -> T:
        """Run ``work`` — synchronous statements on one connection, nothing awaited — in a
        write transaction (``Database.run_write``: on SQLite the whole of it at once, on the
        loop's thread or, when the lock is taken, on the writer thread), commit, then
        announce what it queued, as ``transaction`` does. Revocations are not supported here
        (nothing to hold them across the hop)."""
        steps = Steps()

        def checked(conn: Connection) -> T:
            result = work(conn, steps)
            if steps.revocations:  # refused before the commit: rolled back
                raise RuntimeError("Committer.run cannot hold revocations")
            return result

        result = await self.db.run_write(checked)
        await self._announce(steps)
        return result

    async def _announce(self, tx: Steps) -> None:
        for step in tx.steps:
            if isinstance(step, Event):
                await self.realtime.emit(step.name, step.data, *step.audiences)
            else:
                await step()
