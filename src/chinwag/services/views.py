"""ORM rows to wire models. The only place that knows both."""

from __future__ import annotations

from datetime import datetime

from chinwag.db.models import Message, Room, User
from chinwag.schemas import AdminUserOut, MessageOut, RoomOut, RoomSummary, UserOut

AVATAR_PATH = "/media/avatars/"


def user_out(user: User) -> UserOut:
    avatar_url = f"{AVATAR_PATH}{user.avatar}" if user.avatar else None
    return UserOut(username=user.username, full_name=user.full_name, avatar_url=avatar_url)


def admin_user_out(user: User, last_seen_at: datetime | None) -> AdminUserOut:
    """An account as administrators see it (``last_seen_at``: its sessions' latest request)."""
    return AdminUserOut(
        **user_out(user).model_dump(),
        id=user.id,
        is_admin=user.is_admin,
        disabled=user.disabled_at is not None,
        created_at=user.created_at,
        last_seen_at=last_seen_at,
    )


def room_out(room: Room, owner: User) -> RoomOut:
    return RoomOut(code=room.code, name=room.name, owner=owner.username, created_at=room.created_at)


def room_summary(room: Room, owner: User) -> RoomSummary:
    return RoomSummary(**room_out(room, owner).model_dump(), last_seq=room.last_seq)


def message_out(message: Message, room: Room, sender: User, recipient: User | None) -> MessageOut:
    return MessageOut(
        id=message.id,
        room=room.code,
        seq=message.seq,
        sender=user_out(sender),
        to=recipient.username if recipient else None,
        body=message.body,
        created_at=message.created_at,
        client_id=message.client_id,
    )
