"""Queries. They never commit and never raise transport errors: services decide."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Select,
    Table,
    case,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from chinwag.db.models import (
    AuthSession,
    Avatar,
    Conversation,
    Membership,
    Message,
    PasswordReset,
    Room,
    SiteInvite,
    User,
)


async def get_user_by_username(s: AsyncSession, username: str) -> User | None:
    result = await s.execute(select(User).where(User.username_key == username.casefold()))
    return result.scalar_one_or_none()


async def get_users(s: AsyncSession, ids: Sequence[int]) -> dict[int, User]:
    if not ids:
        return {}
    result = await s.execute(select(User).where(User.id.in_(set(ids))))
    return {user.id: user for user in result.scalars()}


def _live_sessions(now: datetime) -> Select[AuthSession, User]:
    """Sessions that have not expired, with their users, who are neither disabled nor
    deleted."""
    return (
        select(AuthSession, User)
        .join(User, User.id == AuthSession.user_id)
        .where(
            AuthSession.expires_at > now,
            User.disabled_at.is_(None),
            User.deleted_at.is_(None),
        )
    )


async def get_session_user(
    s: AsyncSession, session_id: str, now: datetime
) -> tuple[AuthSession, User] | None:
    result = await s.execute(_live_sessions(now).where(AuthSession.id == session_id))
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


async def list_sessions(s: AsyncSession, user_id: int, now: datetime) -> list[AuthSession]:
    result = await s.execute(
        select(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.expires_at > now)
        .order_by(AuthSession.created_at.desc(), AuthSession.id)
    )
    return list(result.scalars())


async def touch_session(s: AsyncSession, session_id: str, now: datetime, before: datetime) -> None:
    """Set the session's last-seen time, unless it was set after ``before``."""
    await s.execute(
        update(AuthSession)
        .where(
            AuthSession.id == session_id,
            or_(AuthSession.last_seen_at.is_(None), AuthSession.last_seen_at < before),
        )
        .values(last_seen_at=now)
    )


async def list_sent_messages(
    s: AsyncSession, user_id: int
) -> list[tuple[Message, str, str | None]]:
    """Every message the user sent, oldest first, with its room's code and the recipient's
    username (None for a public message)."""
    recipient = aliased(User)
    result = await s.execute(
        select(Message, Room.code, recipient.username)
        .join(Room, Room.id == Message.room_id)
        .outerjoin(recipient, recipient.id == Message.recipient_id)
        .where(Message.sender_id == user_id)
        .order_by(Message.id)
    )
    return [(row[0], row[1], row[2]) for row in result]


async def delete_expired_sessions(s: AsyncSession, now: datetime) -> None:
    await s.execute(delete(AuthSession).where(AuthSession.expires_at <= now))


async def use_invite(s: AsyncSession, invite_id: str, now: datetime) -> bool:
    """Take one use of a live invite in one statement (the row stays locked until the
    transaction ends, so concurrent sign-ups cannot overuse it); False if there is none."""
    result = await s.execute(
        update(SiteInvite)
        .where(
            SiteInvite.id == invite_id,
            SiteInvite.uses_left > 0,
            SiteInvite.expires_at > now,
        )
        .values(uses_left=SiteInvite.uses_left - 1)
    )
    return cast(CursorResult[Any], result).rowcount == 1


async def get_avatar_data(s: AsyncSession, name: str) -> bytes | None:
    return (await s.execute(select(Avatar.data).where(Avatar.name == name))).scalar_one_or_none()


async def claim_avatar(s: AsyncSession, name: str, data: bytes) -> bool:
    """Make avatar ``name`` exist and keep it until the transaction ends; False if another
    transaction deleted it between the two statements (then call again).

    Dialect spot: ``INSERT … ON CONFLICT DO NOTHING`` (the row is content-addressed: whoever
    stored it stored the same bytes), then ``SELECT … FOR KEY SHARE``, the lock a foreign
    key check takes: a concurrent clean-up's DELETE of the row waits for this transaction
    and then fails on the foreign key, or it deleted the row first and the SELECT finds
    nothing. SQLite has no row locks and needs none: its write transactions take turns.
    """
    insert = postgresql_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    await s.execute(insert(Avatar).values(name=name, data=data).on_conflict_do_nothing())
    locked = select(Avatar.name).where(Avatar.name == name).with_for_update(key_share=True)
    return (await s.execute(locked)).scalar_one_or_none() is not None


async def delete_avatar_if_unused(s: AsyncSession, name: str) -> bool:
    """Delete avatar ``name`` unless a user shows it; True if it was deleted.

    A user who started showing it after this statement's snapshot is still protected: the
    foreign key (ON DELETE RESTRICT) makes the DELETE fail with an IntegrityError.
    """
    unused = ~select(User.id).where(User.avatar == name).exists()
    result = await s.execute(delete(Avatar).where(Avatar.name == name, unused))
    return bool(cast("CursorResult[Any]", result).rowcount)


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


async def bump_version(s: AsyncSession, room_id: int) -> int | None:
    """Take the room's row lock and its next version (every write in a room does, so that
    writes and revocations there are ordered); None if the room is gone."""
    result = await s.execute(
        update(Room)
        .where(Room.id == room_id)
        .values(version=Room.version + 1)
        .returning(Room.version)
    )
    version = result.scalar_one_or_none()
    return None if version is None else int(version)


async def get_message_and_room(s: AsyncSession, message_id: int) -> tuple[Message, Room] | None:
    result = await s.execute(
        select(Message, Room).join(Room, Room.id == Message.room_id).where(Message.id == message_id)
    )
    row = result.one_or_none()
    return (row[0], row[1]) if row else None


def take_private_position(conn: Connection, room_id: int, a: int, b: int) -> tuple[int, int]:
    """Hand out the next position in the conversation of ``a`` and ``b`` in a room, creating
    the conversation on its first message; returns (conversation id, seq).

    Dialect spot: an upsert (``INSERT … ON CONFLICT DO UPDATE … RETURNING``), which SQLite
    and PostgreSQL both speak, through each dialect's own insert construct. Its row lock
    serialises concurrent senders in one conversation.
    """
    insert = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    low, high = pair(a, b)
    table = cast(Table, Conversation.__table__)
    statement = (
        insert(table)
        .values(room_id=room_id, user_low=low, user_high=high, last_seq=1)
        .on_conflict_do_update(
            index_elements=["room_id", "user_low", "user_high"],
            set_={"last_seq": table.c.last_seq + 1},
        )
        .returning(table.c.id, table.c.last_seq)
    )
    row = conn.execute(statement).one()
    return int(row[0]), int(row[1])


def pair(a: int, b: int) -> tuple[int, int]:
    """A conversation's two member ids in its stored order (smaller first)."""
    return (a, b) if a < b else (b, a)


async def get_conversation(s: AsyncSession, room_id: int, a: int, b: int) -> Conversation | None:
    low, high = pair(a, b)
    result = await s.execute(
        select(Conversation).where(
            Conversation.room_id == room_id,
            Conversation.user_low == low,
            Conversation.user_high == high,
        )
    )
    return result.scalar_one_or_none()


async def list_conversations(
    s: AsyncSession, room_id: int, user_id: int
) -> list[tuple[Conversation, User]]:
    """The user's private conversations in a room, with the other member, newest first."""
    other = case(
        (Conversation.user_low == user_id, Conversation.user_high),
        else_=Conversation.user_low,
    )
    result = await s.execute(
        select(Conversation, User)
        .join(User, User.id == other)
        .where(
            Conversation.room_id == room_id,
            or_(Conversation.user_low == user_id, Conversation.user_high == user_id),
        )
        .order_by(Conversation.id.desc())
    )
    return [(conversation, user) for conversation, user in result.all()]


async def page_messages(
    s: AsyncSession,
    room_id: int,
    *,
    conversation_id: int | None,
    before: int | None,
    after: int | None,
    limit: int,
) -> list[Message]:
    """Public messages (``conversation_id`` None) or those of one private conversation.

    Newest first when paging back (``before`` or neither), oldest first after ``after``.
    One more row than ``limit`` is fetched so the caller can tell whether more remain.
    """
    query = select(Message).where(Message.room_id == room_id)
    if conversation_id is None:
        query = query.where(Message.conversation_id.is_(None))
    else:
        query = query.where(Message.conversation_id == conversation_id)
    if after is not None:
        query = query.where(Message.seq > after).order_by(Message.seq.asc())
    else:
        if before is not None:
            query = query.where(Message.seq < before)
        query = query.order_by(Message.seq.desc())
    result = await s.execute(query.limit(limit + 1))
    return list(result.scalars())


# ---- administration ---------------------------------------------------------------------------
def _like_pattern(text: str) -> str:
    escaped = text.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_accounts(
    s: AsyncSession, q: str, limit: int, offset: int
) -> tuple[list[tuple[User, datetime | None]], int]:
    """Accounts that are not deleted, by username, with their latest session activity;
    ``q`` filters username and full name (case-insensitive); and how many match in all."""
    last_seen = (
        select(AuthSession.user_id, func.max(AuthSession.last_seen_at).label("seen"))
        .group_by(AuthSession.user_id)
        .subquery()
    )
    where: list[ColumnElement[bool]] = [User.deleted_at.is_(None)]
    if q:
        pattern = _like_pattern(q)
        where.append(
            or_(
                User.username_key.like(pattern, escape="\\"),
                func.lower(User.full_name).like(pattern, escape="\\"),
            )
        )
    total = (await s.execute(select(func.count()).select_from(User).where(*where))).scalar_one()
    result = await s.execute(
        select(User, last_seen.c.seen)
        .outerjoin(last_seen, last_seen.c.user_id == User.id)
        .where(*where)
        .order_by(User.username_key)
        .limit(limit)
        .offset(offset)
    )
    return [(user, seen) for user, seen in result.all()], int(total)


async def get_account(s: AsyncSession, user_id: int) -> User | None:
    """A user that is not deleted, locked for the transaction's writes on PostgreSQL."""
    result = await s.execute(
        select(User).where(User.id == user_id, User.deleted_at.is_(None)).with_for_update()
    )
    return result.scalar_one_or_none()


async def delete_password_resets(s: AsyncSession, user_id: int) -> None:
    await s.execute(delete(PasswordReset).where(PasswordReset.user_id == user_id))


async def take_password_reset(s: AsyncSession, reset_id: str, now: datetime) -> int | None:
    """Use a live reset code once: the user it is for, or None (wrong, expired or used)."""
    result = await s.execute(
        delete(PasswordReset)
        .where(PasswordReset.id == reset_id, PasswordReset.expires_at > now)
        .returning(PasswordReset.user_id)
    )
    return result.scalar_one_or_none()


async def list_owned_rooms(s: AsyncSession, user_id: int) -> list[Room]:
    result = await s.execute(select(Room).where(Room.owner_id == user_id).order_by(Room.id))
    return list(result.scalars())


async def longest_member(s: AsyncSession, room_id: int, but: int) -> User | None:
    """The member who joined the room first, other than ``but`` (who hands it over)."""
    result = await s.execute(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.room_id == room_id, Membership.user_id != but)
        .order_by(Membership.joined_at, Membership.user_id)
        .limit(1)
    )
    return result.scalar_one_or_none()


async def last_seen(s: AsyncSession, user_id: int) -> datetime | None:
    result = await s.execute(
        select(func.max(AuthSession.last_seen_at)).where(AuthSession.user_id == user_id)
    )
    return result.scalar_one_or_none()


async def delete_membership(s: AsyncSession, room_id: int, user_id: int) -> None:
    await s.execute(
        delete(Membership).where(Membership.room_id == room_id, Membership.user_id == user_id)
    )
