"""Typing indicators: stamped by the server, rate-limited, and expired by the server.

A client that vanishes mid-typing never leaves a stuck indicator: every "active" state is
dropped ``typing_ttl_seconds`` after its last refresh, when its last connection leaves the
room, or when its author sends the message.

Which indicators are up is shared by the nodes (``Backends.typing``); the node that put
one up keeps its timer. Whichever node takes an indicator down announces the stop, so it
is announced once: the timer's node only if its token is still the indicator's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from chinwag.backends import Backends, BackendUnavailable, TypingKey
from chinwag.config import Settings
from chinwag.db import queries
from chinwag.db.engine import Database
from chinwag.db.models import Room, User
from chinwag.errors import InvalidInput
from chinwag.events import TypingEvent, emit
from chinwag.logs import get_logger
from chinwag.services.access import access_room, require_member_by_username
from chinwag.services.ratelimit import RateLimiter
from chinwag.services.realtime import Audience, Realtime
from chinwag.services.views import user_out

log = get_logger(__name__)


class RoomLike(Protocol):
    """What an indicator needs of its room: a ``Room``, or the writer's ``RoomRow``."""

    @property
    def id(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def version(self) -> int: ...


@dataclass
class Timer:
    """An indicator this node put up: its timer, its token, and who to tell at its end."""

    handle: asyncio.TimerHandle
    token: str
    room: RoomLike
    user: User
    to: User | None


class TypingService:
    def __init__(
        self, settings: Settings, db: Database, realtime: Realtime, backends: Backends
    ) -> None:
        self.db = db
        self.realtime = realtime
        self.state = backends.typing
        self.ttl = settings.typing_ttl_seconds
        self.limiter = RateLimiter(
            backends.counters, "typing", settings.typing_per_window, settings.typing_window_seconds
        )
        self._timers: dict[TypingKey, Timer] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def set_typing(self, user: User, code: str, to: str | None, active: bool) -> None:
        await self.limiter.hit(f"typing:{user.id}", "Too many typing updates; slow down.")
        async with self.db.read() as s:
            room = await access_room(s, user, code)
            recipient = await require_member_by_username(s, room, to) if to else None
        if recipient is not None and recipient.id == user.id:
            raise InvalidInput("You cannot type to yourself.", code="invalid_recipient")
        key: TypingKey = (room.id, user.id, recipient.id if recipient else None)
        if active:
            token = await self.state.arm(key, self.ttl)  # unreachable: refused, nothing sent
            self._arm(key, token, room, user, recipient)
        else:
            self._cancel(key)
            await self._take_down(key)  # said stopped: announced whether it was up or not
        await self._publish(room, user, recipient, active)

    async def stopped(self, room: RoomLike, user: User, recipient: User | None) -> None:
        """The typist sent their message: drop the indicator if it is up."""
        key: TypingKey = (room.id, user.id, recipient.id if recipient else None)
        mine = self._cancel(key)
        was_up = await self._take_down(key)
        if was_up or (was_up is None and mine):
            await self._publish(room, user, recipient, False)

    async def clear_user(self, room_id: int, user_id: int) -> None:
        """The user's last connection left the room: drop all their indicators there,
        wherever they were put up."""
        mine = {k: self._timers[k] for k in self._timers if k[0] == room_id and k[1] == user_id}
        for key in mine:
            self._cancel(key)
        try:
            cleared = await self.state.clear_user(room_id, user_id)
        except BackendUnavailable:
            cleared = list(mine)  # at least this node's, so none of them stays up
        if not cleared:
            return
        recipients = [key[2] for key in cleared if key[2] is not None]
        async with self.db.read() as s:
            room = await s.get(Room, room_id)
            users = await queries.get_users(s, [user_id, *recipients])
        user = users.get(user_id)
        if room is None or user is None:  # gone meanwhile: nobody to tell
            return
        for _, _, to in cleared:
            recipient = None if to is None else users.get(to)
            if to is None or recipient is not None:
                await self._publish(room, user, recipient, False)

    async def drop_room(self, room_id: int) -> None:
        """The room was destroyed: forget its indicators; nobody is left to tell."""
        for key in [k for k in self._timers if k[0] == room_id]:
            self._cancel(key)
        try:
            await self.state.drop_room(room_id)
        except BackendUnavailable:
            pass  # its records expire by themselves

    def _arm(self, key: TypingKey, token: str, room: RoomLike, user: User, to: User | None) -> None:
        self._cancel(key)
        handle = asyncio.get_running_loop().call_later(self.ttl, self._expire, key)
        self._timers[key] = Timer(handle, token, room, user, to)

    def _cancel(self, key: TypingKey) -> bool:
        """Stop this node's timer of the indicator; True if it had one."""
        timer = self._timers.pop(key, None)
        if timer is None:
            return False
        timer.handle.cancel()
        return True

    async def _take_down(self, key: TypingKey) -> bool | None:
        """Take the indicator down everywhere; whether it was up, None if nobody knows."""
        try:
            return await self.state.disarm(key)
        except BackendUnavailable:
            return None

    def _expire(self, key: TypingKey) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            self._spawn(self._expired(key, timer))

    async def _expired(self, key: TypingKey, timer: Timer) -> None:
        try:
            still_mine = await self.state.expire(key, timer.token)
        except BackendUnavailable:
            still_mine = True  # a stop twice is harmless; one never sent is not
        if still_mine:
            await self._publish(timer.room, timer.user, timer.to, False)

    async def _publish(
        self, room: RoomLike, user: User, recipient: User | None, active: bool
    ) -> None:
        event = TypingEvent(
            room=room.code,
            user=user_out(user),
            to=recipient.username if recipient else None,
            active=active,
            expires_in=self.ttl,
        )
        if recipient is None:
            audience = Audience.room_subscribers(room.id)
        else:
            audience = Audience.members(room.id, [recipient.id], room.version)
        await emit(self.realtime, event, audience)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """This node stops: its indicators are taken down and their stops announced."""
        for key, timer in list(self._timers.items()):
            self._cancel(key)
            try:
                await self._expired(key, timer)
            except Exception:  # stopping goes on; the others' clients drop it by its expiry
                log.exception("typing.goodbye_failed")
