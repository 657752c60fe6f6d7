"""ORM models. They stay inside services; the wire shapes live in ``chinwag.schemas``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# An Integer that is BIGINT on PostgreSQL but stays INTEGER on SQLite (its rowid alias).
BigId = BigInteger().with_variant(Integer(), "sqlite")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            value = datetime.fromisoformat(str(value))
        aware: datetime = value
        return aware.replace(tzinfo=UTC) if aware.tzinfo is None else aware.astimezone(UTC)


# SQLite reuses the largest rowid after a delete unless the table says AUTOINCREMENT; ids name
# live channels and caches, so a destroyed room's id must never name another room.
NEVER_REUSE_IDS: dict[str, Any] = {"sqlite_autoincrement": True}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(32))
    # casefolded username: the unique index enforces case-insensitive uniqueness
    username_key: Mapped[str] = mapped_column(String(32), unique=True)
    full_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    # RESTRICT: the database refuses to delete an avatar someone shows, so no user can ever
    # point at a missing one, whichever node deletes it
    avatar: Mapped[str | None] = mapped_column(
        String(128), ForeignKey("avatars.name", ondelete="RESTRICT"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # a site administrator: `chinwag admin create-admin`, the web app's admin page
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # set: log-in is refused and no session of theirs works (`chinwag admin disable`)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # set: the account was deleted; the row stays, anonymised, as the author of its messages
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Avatar(Base):
    """A re-encoded 256 px WebP thumbnail, named ``<sha256 of its bytes>.webp``: users with
    the same picture share one row, deleted when the last of them moves on."""

    __tablename__ = "avatars"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuthSession(Base):
    """A login. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # what the owner sees in their list of sessions (``GET /api/me/sessions``); empty for
    # sessions opened before these were recorded
    user_agent: Mapped[str] = mapped_column(String(200), default="", server_default="")
    address: Mapped[str] = mapped_column(String(64), default="", server_default="")
    # refreshed at most once per CHINWAG_SESSION_SEEN_INTERVAL_SECONDS, not on every request
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class SiteInvite(Base):
    """A code that lets its holder sign up while registration is by invite. Like a
    session's token, the code is shown once and only its SHA-256 is stored."""

    __tablename__ = "site_invites"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    uses_left: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PasswordReset(Base):
    """A one-time code an administrator handed out (`chinwag admin reset-password`) to set
    a new password with; only its SHA-256 is stored, like a session's token."""

    __tablename__ = "password_resets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Room(Base):
    __tablename__ = "rooms"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(36), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    owner_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the last position handed out in the room's public chat; bumped in the sending transaction
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # the room's change cursor: bumped, under the row's lock, by every write in the room
    # (messages, joins, leaves), so writes and revocations in a room are totally ordered
    version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class Membership(Base):
    __tablename__ = "memberships"

    room_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("rooms.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Conversation(Base):
    """A private conversation between two members of a room, with its own positions."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("room_id", "user_low", "user_high"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    room_id: Mapped[int] = mapped_column(BigId, ForeignKey("rooms.id", ondelete="CASCADE"))
    # the two members' ids, smaller first, so each pair has one row
    user_low: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    user_high: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


_PUBLIC = text("conversation_id IS NULL")
_PRIVATE = text("conversation_id IS NOT NULL")


class Message(Base):
    """A public message (no conversation) or a private one. ``seq`` is its position in the
    room's public chat or in its conversation: each of those counts 1, 2, 3... on its own,
    so a member never sees gaps left by other people's private messages."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("room_id", "sender_id", "client_id"),
        Index(
            "uq_messages_public_seq",
            "room_id",
            "seq",
            unique=True,
            sqlite_where=_PUBLIC,
            postgresql_where=_PUBLIC,
        ),
        Index(
            "uq_messages_private_seq",
            "conversation_id",
            "seq",
            unique=True,
            sqlite_where=_PRIVATE,
            postgresql_where=_PRIVATE,
        ),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    room_id: Mapped[int] = mapped_column(BigId, ForeignKey("rooms.id", ondelete="CASCADE"))
    conversation_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("conversations.id", ondelete="CASCADE"), default=None
    )
    seq: Mapped[int] = mapped_column(BigInteger)
    sender_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    recipient_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), default=None
    )
    body: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
