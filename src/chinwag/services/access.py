"""Access rules shared by every service: ``require_*`` finds or raises, ``access_*`` also
checks that the user may see it. Reads only; nothing here writes or publishes."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from chinwag.db import queries
from chinwag.db.models import Room, User
from chinwag.errors import Forbidden, NotFound
from chinwag.schemas import RoomOut
from chinwag.services.views import room_out

ROOM_NOT_FOUND = "No room has this code."


def room_not_found() -> NotFound:
    return NotFound(ROOM_NOT_FOUND, code="room_not_found")


def not_member() -> Forbidden:
    return Forbidden("You are not a member of this room; join it first.", code="not_member")


def normalize_code(code: str) -> str:
    """Room codes are UUIDs; anything else cannot name a room."""
    try:
        return str(uuid.UUID(code))
    except ValueError:
        raise room_not_found() from None


async def require_room(s: AsyncSession, code: str) -> Room:
    room = await queries.get_room_by_code(s, normalize_code(code))
    if room is None:
        raise room_not_found()
    return room


async def access_room(s: AsyncSession, user: User, code: str) -> Room:
    """The room, if ``user`` is a member; NotFound or Forbidden otherwise."""
    room = await require_room(s, code)
    await require_member(s, user, room)
    return room


async def require_member(s: AsyncSession, user: User, room: Room) -> None:
    if await queries.get_membership(s, room.id, user.id) is None:
        raise not_member()


async def require_member_by_username(s: AsyncSession, room: Room, username: str) -> User:
    other = await queries.get_user_by_username(s, username)
    if other is None or await queries.get_membership(s, room.id, other.id) is None:
        raise NotFound(f"{username} is not a member of this room.", code="recipient_not_member")
    return other


async def load_room_out(s: AsyncSession, room: Room) -> RoomOut:
    owner = await s.get(User, room.owner_id)
    if owner is None:  # the foreign key (ON DELETE CASCADE) rules this out
        raise room_not_found()
    return room_out(room, owner)
