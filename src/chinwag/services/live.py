"""Live state of rooms: entering and leaving channels, presence, member search."""

from __future__ import annotations

from chinwag.db import queries
from chinwag.db.engine import Database
from chinwag.db.models import Room, User
from chinwag.schemas import MemberOut, RoomOut
from chinwag.services.presence import PresenceRegistry
from chinwag.services.realtime import Realtime
from chinwag.services.rooms import access_room, load_room_out
from chinwag.services.typing import TypingService
from chinwag.services.views import presence_event, user_out

MAX_RESULTS = 100


def matches(user: User, query: str) -> bool:
    """Case-insensitive prefix of the username, the full name, or a word of the full name."""
    if not query:
        return True
    query = query.casefold()
    full_name = user.full_name.casefold()
    return (
        user.username_key.startswith(query)
        or full_name.startswith(query)
        or any(word.startswith(query) for word in full_name.split())
    )


class LiveService:
    def __init__(
        self,
        db: Database,
        realtime: Realtime,
        presence: PresenceRegistry,
        typing: TypingService,
    ) -> None:
        self.db = db
        self.realtime = realtime
        self.presence = presence
        self.typing = typing

    async def enter(self, user: User, conn_id: str, code: str) -> tuple[RoomOut, list[User], int]:
        """Subscribe a connection to a member's room; returns the room, who is online, last seq."""
        async with self.db.read() as s:
            room = await access_room(s, user, code)
            room_view = await load_room_out(s, room)
            await self.realtime.enter(conn_id, room.id)
            came_online = self.presence.add(room.id, user.id, conn_id)
            online = await queries.get_users(s, sorted(self.presence.online(room.id)))
        if came_online:
            await self.realtime.emit(
                "presence", presence_event(room, user, online=True), rooms=[room.id]
            )
        users = sorted(online.values(), key=lambda u: u.username_key)
        return room_view, users, room.last_seq

    async def exit(self, user: User, conn_id: str, code: str) -> None:
        async with self.db.read() as s:
            room = await access_room(s, user, code)
        await self.realtime.leave(conn_id, room.id)
        if self.presence.remove(room.id, conn_id) is not None:
            await self.typing.clear_user(room, user)
            await self.realtime.emit(
                "presence", presence_event(room, user, online=False), rooms=[room.id]
            )

    async def disconnected(self, user: User, conn_id: str) -> None:
        """A connection ended: the user goes offline where this was their last one."""
        rooms = []
        for room_id in self.presence.rooms_of(conn_id):
            if self.presence.remove(room_id, conn_id) is not None:
                rooms.append(room_id)
        if not rooms:
            return
        async with self.db.read() as s:
            found = [await s.get(Room, room_id) for room_id in rooms]
        for room in found:
            if room is None:
                continue
            await self.typing.clear_user(room, user)
            await self.realtime.emit(
                "presence", presence_event(room, user, online=False), rooms=[room.id]
            )

    async def list_members(
        self, user: User, code: str, *, online_only: bool, query: str
    ) -> list[MemberOut]:
        async with self.db.read() as s:
            room = await access_room(s, user, code)
            members = await queries.list_members(s, room.id)
        online = self.presence.online(room.id)
        found = []
        for member in members:
            is_online = member.id in online
            if (online_only and not is_online) or not matches(member, query):
                continue
            found.append(MemberOut(**user_out(member).model_dump(), online=is_online))
            if len(found) >= MAX_RESULTS:
                break
        return found
