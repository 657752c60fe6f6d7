"""Rooms and memberships: create, join, leave, destroy, and the access rule for all."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chinwag.db import queries
from chinwag.db.engine import Database
from chinwag.db.models import Conversation, Membership, Message, Room, User, utcnow
from chinwag.errors import Conflict, Forbidden, NotFound
from chinwag.logs import get_logger
from chinwag.schemas import RoomDestroyedEvent, RoomLeftEvent, RoomOut, RoomSummary
from chinwag.services.presence import PresenceRegistry
from chinwag.services.realtime import Realtime
from chinwag.services.views import presence_event, room_out, room_summary

if TYPE_CHECKING:  # typing imports this module for the access rules
    from chinwag.services.typing import TypingService

log = get_logger(__name__)


def normalize_code(code: str) -> str:
    """Room codes are UUIDs; anything else cannot name a room."""
    try:
        return str(uuid.UUID(code))
    except ValueError:
        raise NotFound("No room has this code.", code="room_not_found") from None


async def require_room(s: AsyncSession, code: str) -> Room:
    room = await queries.get_room_by_code(s, normalize_code(code))
    if room is None:
        raise NotFound("No room has this code.", code="room_not_found")
    return room


async def access_room(s: AsyncSession, user: User, code: str) -> Room:
    """The room, if ``user`` is a member; NotFound or Forbidden otherwise."""
    room = await require_room(s, code)
    if await queries.get_membership(s, room.id, user.id) is None:
        raise Forbidden("You are not a member of this room; join it first.", code="not_member")
    return room


async def require_member_by_username(s: AsyncSession, room: Room, username: str) -> User:
    other = await queries.get_user_by_username(s, username)
    if other is None or await queries.get_membership(s, room.id, other.id) is None:
        raise NotFound(f"{username} is not a member of this room.", code="recipient_not_member")
    return other


async def load_room_out(s: AsyncSession, room: Room) -> RoomOut:
    owner = await s.get(User, room.owner_id)
    if owner is None:  # the foreign key (ON DELETE CASCADE) rules this out
        raise NotFound("No room has this code.", code="room_not_found")
    return room_out(room, owner)


class RoomService:
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
        self.typing = typing  # clears the indicators of whoever leaves or is destroyed out

    async def create_room(self, owner: User, name: str) -> RoomOut:
        room = Room(code=str(uuid.uuid4()), name=name, owner_id=owner.id, last_seq=0)
        async with self.db.transaction() as s:
            s.add(room)
            await s.flush()
            s.add(Membership(room_id=room.id, user_id=owner.id, joined_at=utcnow()))
        log.info("room.created", room_id=room.id, user_id=owner.id)
        return room_out(room, owner)

    async def join_room(self, user: User, code: str) -> RoomOut:
        """Become a member; joining again changes nothing."""
        try:
            async with self.db.transaction() as s:
                room = await require_room(s, code)
                if await queries.get_membership(s, room.id, user.id) is None:
                    s.add(Membership(room_id=room.id, user_id=user.id, joined_at=utcnow()))
                    await s.flush()
                    log.info("room.joined", room_id=room.id, user_id=user.id)
                return await load_room_out(s, room)
        except IntegrityError:
            # PostgreSQL (SQLite serialises writers): a concurrent join by the same user won
            # the race, or the room is being destroyed. Answer what is true now.
            async with self.db.read() as s:
                room = await require_room(s, code)
                if await queries.get_membership(s, room.id, user.id) is None:
                    raise NotFound("No room has this code.", code="room_not_found") from None
                return await load_room_out(s, room)

    async def list_rooms(self, user: User) -> list[RoomSummary]:
        async with self.db.read() as s:
            rows = await queries.list_user_rooms(s, user.id)
        return [room_summary(room, owner) for room, owner in rows]

    async def get_room(self, user: User, code: str) -> RoomOut:
        async with self.db.read() as s:
            room = await access_room(s, user, code)
            return await load_room_out(s, room)

    async def leave_room(self, user: User, code: str) -> None:
        async with self.db.transaction() as s:
            room = await access_room(s, user, code)
            if room.owner_id == user.id:
                raise Conflict(
                    "The owner cannot leave their room; destroy it instead.",
                    code="owner_cannot_leave",
                )
            await s.execute(
                delete(Membership).where(
                    Membership.room_id == room.id, Membership.user_id == user.id
                )
            )
        conns = await self.realtime.remove_user_from_room(user.id, room.id)
        went_offline = [self.presence.remove(room.id, conn) for conn in conns]
        await self.typing.clear_user(room, user)
        await self.realtime.emit(
            "room:left", RoomLeftEvent(room=room.code).model_dump(mode="json"), users=[user.id]
        )
        if user.id in went_offline:
            await self.realtime.emit(
                "presence", presence_event(room, user, online=False), rooms=[room.id]
            )

    async def destroy_room(self, user: User, code: str) -> None:
        """Owner only: delete the room and everything in it, then tell every member."""
        async with self.db.transaction() as s:
            room = await access_room(s, user, code)
            if room.owner_id != user.id:
                raise Forbidden("Only the room's owner can destroy it.", code="not_owner")
            member_ids = await queries.list_member_ids(s, room.id)
            await s.execute(delete(Message).where(Message.room_id == room.id))
            await s.execute(delete(Conversation).where(Conversation.room_id == room.id))
            await s.execute(delete(Membership).where(Membership.room_id == room.id))
            await s.execute(delete(Room).where(Room.id == room.id))
        log.info("room.destroyed", room_id=room.id, user_id=user.id)
        self.typing.drop_room(room.id)
        event = RoomDestroyedEvent(room=room.code, name=room.name).model_dump(mode="json")
        await self.realtime.emit("room:destroyed", event, rooms=[room.id], users=member_ids)
        await self.realtime.close_room(room.id)
        self.presence.drop_room(room.id)
