"""Rooms and memberships: create, join, leave, destroy."""

from __future__ import annotations

import uuid

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from chinwag.backends import Backends
from chinwag.config import Settings
from chinwag.db import queries
from chinwag.db.engine import Database
from chinwag.db.models import Conversation, Membership, Message, Room, User, utcnow
from chinwag.errors import Conflict, Forbidden, NotFound
from chinwag.events import RoomDestroyedEvent, RoomLeftEvent, publish
from chinwag.logs import get_logger
from chinwag.schemas import RoomOut, RoomSummary
from chinwag.services.access import (
    access_room,
    load_room_out,
    require_room,
    room_not_found,
)
from chinwag.services.ratelimit import RateLimiter
from chinwag.services.realtime import Audience, MemberRevoked, RoomGone
from chinwag.services.tx import Committer, Tx
from chinwag.services.views import room_out, room_summary

log = get_logger(__name__)


class RoomService:
    def __init__(
        self, settings: Settings, db: Database, committer: Committer, backends: Backends
    ) -> None:
        self.db = db
        self.committer = committer
        self.creations = RateLimiter(
            backends.counters, "rooms", settings.rooms_per_window, settings.room_window_seconds
        )

    async def create_room(self, owner: User, name: str) -> RoomOut:
        await self.creations.hit(f"rooms:{owner.id}", "You are creating rooms too fast; slow down.")
        room = Room(code=str(uuid.uuid4()), name=name, owner_id=owner.id, last_seq=0, version=0)
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
                    if await queries.bump_version(s, room.id) is None:
                        raise room_not_found()
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
        """Stop being a member: from the commit on, none of the user's connections hears
        the room (held before the commit, so not even an event racing the leave)."""
        async with self.committer.transaction() as tx:
            room = await access_room(tx.s, user, code)
            if room.owner_id == user.id:
                raise Conflict(
                    "The owner cannot leave their room; destroy it instead.",
                    code="owner_cannot_leave",
                )
            version = await queries.bump_version(tx.s, room.id)
            if version is None:
                raise room_not_found()
            await queries.delete_membership(tx.s, room.id, user.id)
            tx.revoke(MemberRevoked(user.id, room.id, version))
            publish(tx, RoomLeftEvent(room=room.code), Audience.own(user.id))
        log.info("room.left", room_id=room.id, user_id=user.id)

    async def destroy_room(self, user: User, code: str) -> None:
        """Owner only: delete the room and everything in it, then tell every member."""
        async with self.committer.transaction() as tx:
            s = tx.s
            room = await access_room(s, user, code)
            if room.owner_id != user.id:
                raise Forbidden("Only the room's owner can destroy it.", code="not_owner")
            if await queries.bump_version(s, room.id) is None:  # the lock: no join slips by
                raise room_not_found()
            await remove_room(tx, room)
        log.info("room.destroyed", room_id=room.id, user_id=user.id)


async def remove_room(tx: Tx, room: Room) -> None:
    """Delete the room and everything in it, then tell every member. The caller has bumped
    its version first: that row lock keeps a join from slipping in."""
    s = tx.s
    member_ids = await queries.list_member_ids(s, room.id)
    await s.execute(delete(Message).where(Message.room_id == room.id))
    await s.execute(delete(Conversation).where(Conversation.room_id == room.id))
    await s.execute(delete(Membership).where(Membership.room_id == room.id))
    await s.execute(delete(Room).where(Room.id == room.id))
    tx.revoke(RoomGone(room.id))
    publish(tx, RoomDestroyedEvent(room=room.code, name=room.name), Audience.own(*member_ids))
