"""``Realtime`` over python-socketio: the registry decides, socket.io carries the packets.

Every connection is addressed by its own sid; python-socketio's rooms are not used for
audiences (an emit to a list of sids still encodes the packet once). The connection
registry (``chinwag.realtime.registry``) is the only source of truth for who hears what.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import socketio

from chinwag.logs import get_logger
from chinwag.realtime.registry import ConnectionRegistry
from chinwag.services.realtime import Audience, Hold, Removed, Revocation

NAMESPACE = "/"
# asyncio's call_later cannot wait for ever: sessions that outlive this are re-armed.
MAX_TIMER_SECONDS = 24 * 3600.0

log = get_logger(__name__)


class SocketIORealtime:
    def __init__(self, sio: socketio.AsyncServer, registry: ConnectionRegistry | None = None):
        self.sio = sio
        self.registry = registry or ConnectionRegistry()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

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

    # ---- events and revocations --------------------------------------------------------------
    async def emit(self, event: str, data: dict[str, Any], *audiences: Audience) -> None:
        targets = self.registry.targets(*audiences)
        if targets:
            await self.sio.emit(event, data, to=targets, namespace=NAMESPACE)

    async def hold(self, revocations: Sequence[Revocation]) -> Hold:
        return self.registry.hold(revocations)

    async def release(self, hold: Hold) -> None:
        self.registry.release(hold)

    async def apply(self, hold: Hold) -> list[Removed]:
        removed, to_close = self.registry.apply(hold)
        await self._disconnect(to_close)
        return removed

    async def _disconnect(self, conn_ids: Sequence[str]) -> None:
        for conn_id in conn_ids:
            await self.sio.disconnect(conn_id, namespace=NAMESPACE)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
