"""Typing indicators: stamped by the server, rate-limited, and expired by the server.

A client that vanishes mid-typing never leaves a stuck indicator: every "active" state is
dropped ``typing_ttl_seconds`` after its last refresh, when its last connection leaves the
room, or when its author sends the message.
"""

from __future__ import annotations

import asyncio

from chinwag.backends import Backends
from chinwag.config import Settings
from chinwag.db.engine import Database
from chinwag.db.models import Room, User
from chinwag.errors import InvalidInput
from chinwag.schemas import TypingEvent
from chinwag.services.access import access_room, require_member_by_username
from chinwag.services.ratelimit import RateLimiter
from chinwag.services.realtime import Audience, Realtime
from chinwag.services.views import user_out

# (room id, typist id, recipient id or None for the room itself)
TypingKey = tuple[int, int, int | None]


class TypingService:
    def __init__(
        self, settings: Settings, db: Database, realtime: Realtime, backends: Backends
    ) -> None:
        self.db = db
        self.realtime = realtime
        self.ttl = settings.typing_ttl_seconds
        self.limiter = RateLimiter(
            backends.counters, "typing", settings.typing_per_window, settings.typing_window_seconds
        )
        self._timers: dict[TypingKey, tuple[asyncio.TimerHandle, Room, User, User | None]] = {}
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
            self._arm(key, room, user, recipient)
        else:
            self._disarm(key)
        await self._publish(room, user, recipient, active)

    async def stopped(self, room: Room, user: User, recipient: User | None) -> None:
        """The typist sent their message: drop the indicator if it is up."""
        key: TypingKey = (room.id, user.id, recipient.id if recipient else None)
        if self._disarm(key):
            await self._publish(room, user, recipient, False)

    async def clear_user(self, room_id: int, user_id: int) -> None:
        """The user's last connection left the room: drop all their indicators there."""
        for key in [k for k in self._timers if k[0] == room_id and k[1] == user_id]:
            entry = self._timers.get(key)
            if entry and self._disarm(key):
                await self._publish(entry[1], entry[2], entry[3], False)

    def drop_room(self, room_id: int) -> None:
        """The room was destroyed: forget its indicators; nobody is left to tell."""
        for key in [k for k in self._timers if k[0] == room_id]:
            self._disarm(key)

    def _arm(self, key: TypingKey, room: Room, user: User, recipient: User | None) -> None:
        self._disarm(key)
        loop = asyncio.get_running_loop()
        handle = loop.call_later(self.ttl, self._expire, key)
        self._timers[key] = (handle, room, user, recipient)

    def _disarm(self, key: TypingKey) -> bool:
        entry = self._timers.pop(key, None)
        if entry is None:
            return False
        entry[0].cancel()
        return True

    def _expire(self, key: TypingKey) -> None:
        entry = self._timers.pop(key, None)
        if entry is None:
            return
        _, room, user, recipient = entry
        task = asyncio.get_running_loop().create_task(self._publish(room, user, recipient, False))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, room: Room, user: User, recipient: User | None, active: bool) -> None:
        event = TypingEvent(
            room=room.code,
            user=user_out(user),
            to=recipient.username if recipient else None,
            active=active,
            expires_in=self.ttl,
        ).model_dump(mode="json")
        if recipient is None:
            audience = Audience.room_subscribers(room.id)
        else:
            audience = Audience.members(room.id, [recipient.id], room.version)
        await self.realtime.emit("typing", event, audience)

    def close(self) -> None:
        for key in list(self._timers):
            self._disarm(key)
