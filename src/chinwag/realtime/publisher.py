"""``Realtime`` over a Socket.IO carrier and the fan-out: the registry decides, the carrier carries.

Every event goes out on the fan-out (``chinwag.backends.fanout``) as its Socket.IO packet,
encoded once, with its audiences; every node, this one included, hears it in one order and
sends those bytes to those of its own connections that its registry names. Revocation
intents travel the same way, so each node ends its own connections' subscriptions and
sockets; no node ever handles another node's connection ids.

A hold is in force here at once and on the other nodes from when they hear it. A hold whose
node never says how it ended (it died between hold and commit) lapses after the lease: the
database then tells whether it committed. A node that lost the fan-out for a while reads the
holds it missed, checks its connections against the database, and tells its clients to
resync (fetch what they may have missed).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from chinwag.backends.fanout import Fanout, MemoryFanout
from chinwag.backends.ports import BackendUnavailable
from chinwag.events import ResyncEvent
from chinwag.logs import get_logger
from chinwag.metrics import Metrics
from chinwag.realtime import envelopes
from chinwag.realtime.carrier import Carrier
from chinwag.realtime.envelopes import Envelope
from chinwag.realtime.registry import ConnectionRegistry
from chinwag.services.realtime import Audience, Hold, NodeHooks, Removed, Revocation

# asyncio's call_later cannot wait for ever: sessions that outlive this are re-armed.
MAX_TIMER_SECONDS = 24 * 3600.0
DEFAULT_HOLD_LEASE_SECONDS = 30.0

log = get_logger(__name__)


class SocketIORealtime:
    def __init__(
        self,
        carrier: Carrier,
        fanout: Fanout | None = None,
        registry: ConnectionRegistry | None = None,
        *,
        hold_lease: float = DEFAULT_HOLD_LEASE_SECONDS,
        metrics: Metrics | None = None,
    ) -> None:
        self.carrier = carrier
        self.metrics = metrics or Metrics()
        self.fanout = fanout or MemoryFanout()
        self.registry = registry or ConnectionRegistry()
        self.hold_lease = hold_lease
        self.instance = secrets.token_hex(8)  # this process, among the nodes
        self.hooks: NodeHooks | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._remote: dict[str, tuple[Hold, asyncio.TimerHandle]] = {}  # other nodes' holds
        self._lost = False  # an event could not be published: others must resync
        self._tasks: set[asyncio.Task[None]] = set()
        # the last envelope this node published, with its bytes: on one node the fan-out
        # hands those same bytes straight back, and they need no decoding
        self._sent: tuple[bytes, Envelope] | None = None

    # ---- the node ----------------------------------------------------------------------------
    async def start(self, hooks: NodeHooks) -> None:
        self.hooks = hooks
        self.fanout.listen(self._on_message, self._on_joined)

    async def stop(self) -> None:
        await self.fanout.close()
        for _, timer in self._remote.values():
            timer.cancel()
        self._remote.clear()

    async def announce_user_changed(self, user_id: int) -> None:
        await self._publish(Envelope(envelopes.USER_CHANGED, self.instance, user_id=user_id))

    # ---- connections -------------------------------------------------------------------------
    async def open(self, conn_id: str, session_id: str) -> None:
        self.registry.open(conn_id, session_id)

    async def activate(self, conn_id: str, user_id: int, expires_at: datetime) -> bool:
        if not self.registry.activate(conn_id, user_id, expires_at.timestamp()):
            return False
        self._arm_expiry(conn_id)
        return True

    async def close(self, conn_id: str) -> list[int]:
        timer = self._timers.pop(conn_id, None)
        if timer is not None:
            timer.cancel()
        return self.registry.close(conn_id)

    async def is_live(self, conn_id: str) -> bool:
        return self.registry.is_live(conn_id)

    def _arm_expiry(self, conn_id: str) -> None:
        conn = self.registry.get(conn_id)
        if conn is None:
            return
        delay = max(conn.expires_at - self.registry.clock(), 0.0)
        loop = asyncio.get_running_loop()
        self._timers[conn_id] = loop.call_later(
            min(delay, MAX_TIMER_SECONDS), self._on_timer, conn_id
        )

    def _on_timer(self, conn_id: str) -> None:
        self._timers.pop(conn_id, None)
        conn = self.registry.get(conn_id)
        if conn is None:
            return
        if conn.expires_at > self.registry.clock():
            self._arm_expiry(conn_id)  # a long session: wait some more
            return
        log.info("socket.session_expired")
        self._spawn(self._disconnect([conn_id]))

    # ---- rooms -------------------------------------------------------------------------------
    async def subscribe(self, conn_id: str, room_id: int) -> None:
        self.registry.subscribe(conn_id, room_id)

    async def confirm(self, conn_id: str, room_id: int) -> bool:
        return self.registry.confirm(conn_id, room_id)

    async def unsubscribe(self, conn_id: str, room_id: int) -> bool:
        return self.registry.unsubscribe(conn_id, room_id)

    # ---- events ------------------------------------------------------------------------------
    async def emit(self, event: str, data: dict[str, Any], *audiences: Audience) -> None:
        """Publish once for every node; a fan-out that cannot be reached loses the live
        copy (the event is stored: clients are told to resync once it is back)."""
        if not audiences:
            return
        body = self._encode(event, data).encode()
        envelope = Envelope(
            envelopes.EVENT, self.instance, audiences, body=body, event=event, sent_at=time.time()
        )
        if await self._publish(envelope):
            self.metrics.published(event)

    async def _publish(self, envelope: Envelope) -> bool:
        """Whether the fan-out took it."""
        try:
            if self._lost:
                await self.fanout.publish(envelopes.encode(Envelope(envelopes.RESYNC)))
                self._lost = False
            message = envelopes.encode(envelope)
            self._sent = (message, envelope)
            await self.fanout.publish(message)
        except BackendUnavailable:
            self._lost = True
            self.metrics.publish_failed()
            log.error("fanout.event_lost", kind=envelope.kind)
            return False
        return True

    async def _deliver(self, envelope: Envelope) -> None:
        targets = self.registry.targets(*envelope.audiences)
        if targets:
            await self._send(targets, envelope.body.decode())
        lag = time.time() - envelope.sent_at if envelope.sent_at else None
        self.metrics.delivered(envelope.event, len(targets), lag)

    async def _send(self, conn_ids: Sequence[str], encoded: str) -> None:
        await self.carrier.send(conn_ids, encoded)

    # ---- revocations -------------------------------------------------------------------------
    async def hold(self, revocations: Sequence[Revocation]) -> Hold:
        hold = replace(self.registry.hold(revocations), id=secrets.token_hex(12))
        envelope = Envelope(
            envelopes.HOLD, self.instance, hold_id=hold.id, revocations=hold.revocations
        )
        try:
            await self.fanout.publish_hold(hold.id, envelopes.encode(envelope), self.hold_lease)
        except BackendUnavailable:
            self.registry.release(hold)
            raise
        return hold

    async def release(self, hold: Hold) -> None:
        self.registry.release(hold)
        await self._end(hold, applied=False)

    async def apply(self, hold: Hold) -> list[Removed]:
        await self._end(hold, applied=True)
        return await self._apply_here(hold)

    async def _end(self, hold: Hold, *, applied: bool) -> None:
        envelope = Envelope(
            envelopes.END,
            self.instance,
            hold_id=hold.id,
            revocations=hold.revocations,
            applied=applied,
        )
        try:
            await self.fanout.publish_end(hold.id, envelopes.encode(envelope))
        except BackendUnavailable:  # the other nodes' leases run out and they ask the database
            log.error("fanout.hold_end_lost", applied=applied)

    async def _apply_here(self, hold: Hold) -> list[Removed]:
        removed, to_close = self.registry.apply(hold)
        await self._disconnect(to_close)
        if self.hooks is not None:
            await self.hooks.revoked(list(hold.revocations), removed)
        return removed

    async def _disconnect(self, conn_ids: Sequence[str]) -> None:
        for conn_id in conn_ids:
            await self.carrier.disconnect(conn_id)

    # ---- what the other nodes say ------------------------------------------------------------
    async def _on_message(self, message: bytes) -> None:
        sent = self._sent
        if sent is not None and sent[0] is message:  # our own, handed back as it was
            envelope = sent[1]
        else:
            envelope = envelopes.decode(message)
        kind, mine = envelope.kind, envelope.origin == self.instance
        if kind == envelopes.EVENT:
            await self._deliver(envelope)
        elif kind == envelopes.HOLD and not mine:
            self._hold_remote(envelope.hold_id, envelope.revocations)
        elif kind == envelopes.END and not mine:
            await self._end_remote(envelope.hold_id, applied=envelope.applied)
        elif kind == envelopes.USER_CHANGED and not mine and self.hooks is not None:
            await self.hooks.user_changed(envelope.user_id)
        elif kind == envelopes.RESYNC:
            await self._resync_here()

    def _hold_remote(self, hold_id: str, revocations: Sequence[Revocation]) -> None:
        if hold_id in self._remote:
            return  # heard again after a rejoin
        hold = replace(self.registry.hold(revocations), id=hold_id)
        timer = asyncio.get_running_loop().call_later(
            self.hold_lease, lambda: self._spawn(self._lapse(hold_id))
        )
        self._remote[hold_id] = (hold, timer)

    async def _end_remote(self, hold_id: str, *, applied: bool) -> None:
        entry = self._remote.pop(hold_id, None)
        if entry is None:
            return
        hold, timer = entry
        timer.cancel()
        if applied:
            await self._apply_here(hold)
        else:
            self.registry.release(hold)

    async def _lapse(self, hold_id: str) -> None:
        """A hold whose node never said how it ended: the database decides (applied if the
        database cannot be asked: a wrongly ended subscription reconnects, a leak cannot)."""
        entry = self._remote.get(hold_id)
        if entry is None:
            return
        committed = True
        if self.hooks is not None:
            try:
                committed = await self.hooks.committed(entry[0].revocations)
            except Exception:
                log.exception("fanout.hold_unresolved")
        log.warning("fanout.hold_lapsed", committed=committed)
        await self._end_remote(hold_id, applied=committed)

    async def _on_joined(self, first: bool) -> None:
        """(Re)joined the fan-out: take the holds in force, and after a gap, catch up."""
        for message in await self.fanout.pending_holds():
            envelope = envelopes.decode(message)
            if envelope.origin != self.instance:
                self._hold_remote(envelope.hold_id, envelope.revocations)
        if first:
            return
        if self.hooks is not None:
            missed = await self.hooks.revalidate(self.registry.snapshot())
            if missed:
                await self._apply_here(self.registry.hold(missed))
        await self._resync_here()

    async def _resync_here(self) -> None:
        """Tell this node's clients that events may have been lost: fetch what you missed."""
        conn_ids = [c.conn_id for c in self.registry.snapshot() if self.registry.is_live(c.conn_id)]
        if conn_ids:
            event, data = ResyncEvent().wire()
            await self._send(conn_ids, self._encode(event, data))
            self.metrics.delivered(event, len(conn_ids), None)

    def _encode(self, event: str, data: dict[str, Any]) -> str:
        return self.carrier.encode(event, data)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
