"""Queries. They never commit and never raise transport errors: services decide."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chinwag.db.models import AuthSession, Membership, Message, Room, User


async def get_user_by_username(s: AsyncSession, username: str) -> User | None:
    result = await s.execute(select(User).where(User.username_key == username.casefold()))
    return result.scalar_one_or_none()


async def get_users(s: AsyncSession, ids: Sequence[int]) -> dict[int, User]:
    if not ids:
        return {}
    result = await s.execute(select(User).where(User.id.in_(set(ids))))
    return {user.id: user for user in result.scalars()}


async def get_session_user(
    s: AsyncSession, session_id: str, now: datetime
) -> tuple[AuthSession, User] | None:
    result = await s.execute(
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(AuthSession.id == session_id, AuthSession.expires_at > now)
    )
    row = result.one_or_none()
    return (row[0], row[1]) if row else None


async def delete_session(s: AsyncSession, session_id: str) -> None:
    await s.execute(delete(AuthSession).where(AuthSession.id == session_id))


async def delete_sessions(s: AsyncSession, user_id: int, *, keep: str | None = None) -> list[str]:
    query = select(AuthSession.id).where(AuthSession.user_id == user_id)
    if keep is not None:
        query = query.where(AuthSession.id != keep)
    ids = list((await s.execute(query)).scalars())
    if ids:
        await s.execute(delete(AuthSession).where(AuthSession.id.in_(ids)))
    return ids


async def delete_expired_sessions(s: AsyncSession, now: datetime) -> None:
    await s.execute(delete(AuthSession).where(AuthSession.expires_at <= now))


async def count_avatar_users(s: AsyncSession, avatar: str) -> int:
    result = await s.execute(select(User.id).where(User.avatar == avatar).limit(2))
    return len(result.all())


async def get_room_by_code(s: AsyncSession, code: str) -> Room | None:
    result = await s.execute(select(Room).where(Room.code == code))
    return result.scalar_one_or_none()


async def get_membership(s: AsyncSession, room_id: int, user_id: int) -> Membership | None:
    return await s.get(Membership, (room_id, user_id))


async def list_user_rooms(s: AsyncSession, user_id: int) -> list[tuple[Room, User]]:
    result = await s.execute(
        select(Room, User)
        .join(Membership, Membership.room_id == Room.id)
        .join(User, User.id == Room.owner_id)
        .where(Membership.user_id == user_id)
        .order_by(Room.created_at.desc(), Room.id.desc())
    )
    return [(room, user) for room, user in result.all()]


async def list_room_ids_of_user(s: AsyncSession, user_id: int) -> list[int]:
    result = await s.execute(select(Membership.room_id).where(Membership.user_id == user_id))
    return list(result.scalars())


async def list_members(s: AsyncSession, room_id: int) -> list[User]:
    result = await s.execute(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.room_id == room_id)
        .order_by(User.username_key)
    )
    return list(result.scalars())


async def list_member_ids(s: AsyncSession, room_id: int) -> list[int]:
    result = await s.execute(select(Membership.user_id).where(Membership.room_id == room_id))
    return list(result.scalars())


async def next_seq(s: AsyncSession, room_id: int) -> int | None:
    """Hand out the room's next position. The row lock serialises concurrent senders.

    None if the room is gone: destroyed by a transaction that committed while this one
    waited for the lock.
    """
    result = await s.execute(
        update(Room)
        .where(Room.id == room_id)
        .values(last_seq=Room.last_seq + 1)
        .returning(Room.last_seq)
    )
    seq = result.scalar_one_or_none()
    return None if seq is None else int(seq)


async def get_message_by_client_id(
    s: AsyncSession, room_id: int, sender_id: int, client_id: str
) -> Message | None:
    result = await s.execute(
        select(Message).where(
            Message.room_id == room_id,
            Message.sender_id == sender_id,
            Message.client_id == client_id,
        )
    )
    return result.scalar_one_or_none()


async def page_messages(
    s: AsyncSession,
    room_id: int,
    *,
    between: tuple[int, int] | None,
    before: int | None,
    after: int | None,
    limit: int,
) -> list[Message]:
    """Public messages (``between`` None) or the private ones between two users.

    Newest first when paging back (``before`` or neither), oldest first after ``after``.
    One more row than ``limit`` is fetched so the caller can tell whether more remain.
    """
    query = select(Message).where(Message.room_id == room_id)
    if between is None:
        query = query.where(Message.recipient_id.is_(None))
    else:
        a, b = between
        query = query.where(
            or_(
                and_(Message.sender_id == a, Message.recipient_id == b),
                and_(Message.sender_id == b, Message.recipient_id == a),
            )
        )
    if after is not None:
        query = query.where(Message.seq > after).order_by(Message.seq.asc())
    else:
        if before is not None:
            query = query.where(Message.seq < before)
        query = query.order_by(Message.seq.desc())
    result = await s.execute(query.limit(limit + 1))
    return list(result.scalars())
