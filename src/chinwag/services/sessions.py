"""Login sessions looked up together: everyone who asks while a lookup runs shares the next.

A burst of Socket.IO handshakes (a node restarting, a network coming back) asks for
thousands of sessions at once. Each lookup on its own costs a read transaction, a query
and the database driver's round trips; here the ids asked for while one lookup is under
way wait for it to end and then go in one query together, so the cost per handshake falls
as the burst grows. Each caller still gets the database's answer from after it asked (the
registry's "register, then check" rule holds) and objects of its own: an id asked for twice
at once is looked up again in the following batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from chinwag.db import live_reads
from chinwag.db.engine import Database
from chinwag.db.models import AuthSession, User, utcnow

# at most this many ids in one query (SQLite allows 32,766 bound parameters)
MAX_BATCH = 500

Found = tuple[AuthSession, User] | None


class SessionLookup:
    def __init__(
        self, db: Database, clock: Callable[[], datetime] = utcnow, most: int = MAX_BATCH
    ) -> None:
        self.db = db
        self.clock = clock
        self.most = most
        self._waiting: dict[str, asyncio.Future[Found]] = {}
        self._later: list[tuple[str, asyncio.Future[Found]]] = []  # ids asked for twice
        self._running: asyncio.Task[None] | None = None

    async def get(self, session_id: str) -> Found:
        """The live session with this id and its user, or None (ended, expired, disabled)."""
        future: asyncio.Future[Found] = asyncio.get_running_loop().create_future()
        if session_id in self._waiting:
            self._later.append((session_id, future))
        else:
            self._waiting[session_id] = future
        if self._running is None:
            self._running = asyncio.get_running_loop().create_task(self._run())
        return await future

    async def _run(self) -> None:
        try:
            while self._waiting:
                batch = dict(list(self._waiting.items())[: self.most])
                for session_id in batch:
                    del self._waiting[session_id]
                later, self._later = self._later, []
                for session_id, future in later:
                    if session_id in self._waiting:
                        self._later.append((session_id, future))
                    else:
                        self._waiting[session_id] = future
                await self._look_up(batch)
        finally:
            self._running = None

    async def _look_up(self, batch: dict[str, asyncio.Future[Found]]) -> None:
        try:
            ids, now = list(batch), self.clock()
            found = await self.db.run_read(lambda c: live_reads.get_session_users(c, ids, now))
        except Exception as exc:  # the database failed: every caller hears it
            for future in batch.values():
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:
            for future in batch.values():
                future.cancel()
            raise
        for session_id, future in batch.items():
            if not future.done():  # its caller may have been cancelled
                future.set_result(found.get(session_id))
