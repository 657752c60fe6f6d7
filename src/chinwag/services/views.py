"""ORM rows to wire models. The only place that knows both."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, cast

from pydantic import TypeAdapter

from chinwag.db.models import Message, Room, User
from chinwag.schemas import AdminUserOut, MessageOut, RoomOut, RoomSummary, UserOut

AVATAR_PATH = "/media/avatars/"
_DATETIME = TypeAdapter(datetime)


class Profile(Protocol):
    """What the wire shows of a user: a ``User`` row, or a row read without the ORM
    (``chinwag.db.live_reads.OnlineUser``)."""

    @property
    def username(self) -> str: ...
    @property
    def full_name(self) -> str: ...
    @property
    def avatar(self) -> str | None: ...


def user_out(user: Profile) -> UserOut:
    return UserOut(**user_wire(user))


def user_wire(user: Profile) -> dict[str, Any]:
    """``user_out(user).model_dump(mode="json")``, built directly."""
    avatar_url = f"{AVATAR_PATH}{user.avatar}" if user.avatar else None
    return {"username": user.username, "full_name": user.full_name, "avatar_url": avatar_url}


def datetime_wire(value: datetime) -> str:
    """A timestamp as the wire models write it (pydantic's JSON form)."""
    return cast(str, _DATETIME.dump_python(value, mode="json"))


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


def room_wire(code: str, name: str, owner: str, created_at: datetime) -> dict[str, Any]:
    """``room_out(...).model_dump(mode="json")`` built directly: the same keys in the same
    order, ``created_at`` as ``datetime_wire`` writes it."""
    return {"code": code, "name": name, "owner": owner, "created_at": datetime_wire(created_at)}


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


def message_wire(
    id: int,
    room_code: str,
    seq: int,
    sender: dict[str, Any],
    to: str | None,
    body: str,
    created_at: str,
    client_id: str,
) -> dict[str, Any]:
    """``MessageOut(...).model_dump(mode="json")`` built directly, without validating what the
    message writer built itself: ``sender`` from ``user_wire``, ``created_at`` from
    ``datetime_wire``. The same keys in the same order."""
    return {
        "id": id,
        "room": room_code,
        "seq": seq,
        "sender": sender,
        "to": to,
        "body": body,
        "created_at": created_at,
        "client_id": client_id,
    }
