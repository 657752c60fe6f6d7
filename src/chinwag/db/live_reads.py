"""The live service's hot reads (``chinwag.services.live``): entering a room, leaving it, and
the online list's pages, as SQL text on the driver's own connection, as the message writer's
statements are (``chinwag.db.batch``).

They run inside the caller's read (``Database.run_read``): on SQLite the whole read is one
hop to the writer thread and back, where the ORM session hops a thread for every call; on
PostgreSQL it runs on SQLAlchemy's asyncpg adapter through the greenlet bridge. Each answers
plain tuples: nothing here is in a session.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Table
from sqlalchemy.engine import Connection

from chinwag.db.batch import POSTGRESQL, SQLITE
from chinwag.db.batch import _run as run_text
from chinwag.db.models import Room

_ROOM_ID = {
    SQLITE: "SELECT id FROM rooms WHERE code = ?",
    POSTGRESQL: "SELECT id FROM rooms WHERE code = $1",
}
# the room, its owner's username and whether the user is a member, in one statement; a room
# whose owner is missing (the foreign key rules it out) is no room
_ROOM_ENTRY = {
    SQLITE: (
        "SELECT r.id, r.name, r.created_at, r.last_seq, o.username,"
        " EXISTS (SELECT 1 FROM memberships AS m WHERE m.room_id = r.id AND m.user_id = ?)"
        " FROM rooms AS r JOIN users AS o ON o.id = r.owner_id WHERE r.code = ?"
    ),
    POSTGRESQL: (
        "SELECT r.id, r.name, r.created_at, r.last_seq, o.username,"
        " EXISTS (SELECT 1 FROM memberships AS m WHERE m.room_id = r.id AND m.user_id = $1)"
        " FROM rooms AS r JOIN users AS o ON o.id = r.owner_id WHERE r.code = $2"
    ),
}
_ROOM_MEMBER = {
    SQLITE: (
        "SELECT r.id,"
        " EXISTS (SELECT 1 FROM memberships AS m WHERE m.room_id = r.id AND m.user_id = ?)"
        " FROM rooms AS r WHERE r.code = ?"
    ),
    POSTGRESQL: (
        "SELECT r.id,"
        " EXISTS (SELECT 1 FROM memberships AS m WHERE m.room_id = r.id AND m.user_id = $1)"
        " FROM rooms AS r WHERE r.code = $2"
    ),
}
# (after a username key, or from the first) x dialect
_USERS_PAGE = {
    False: {
        SQLITE: (
            "SELECT u.id, u.username, u.username_key, u.full_name, u.avatar FROM users AS u"
            " WHERE u.id IN (SELECT value FROM json_each(?))"
            " ORDER BY u.username_key LIMIT ?"
        ),
        POSTGRESQL: (
            "SELECT u.id, u.username, u.username_key, u.full_name, u.avatar FROM users AS u"
            " WHERE u.id = ANY($1::bigint[])"
            " ORDER BY u.username_key LIMIT $2"
        ),
    },
    True: {
        SQLITE: (
            "SELECT u.id, u.username, u.username_key, u.full_name, u.avatar FROM users AS u"
            " WHERE u.id IN (SELECT value FROM json_each(?)) AND u.username_key > ?"
            " ORDER BY u.username_key LIMIT ?"
        ),
        POSTGRESQL: (
            "SELECT u.id, u.username, u.username_key, u.full_name, u.avatar FROM users AS u"
            " WHERE u.id = ANY($1::bigint[]) AND u.username_key > $2"
            " ORDER BY u.username_key LIMIT $3"
        ),
    },
}
_MEMBERS_PAGE = {
    False: {
        SQLITE: (
            "SELECT u.id, u.username, u.username_key, u.full_name, u.avatar FROM users AS u"
            " JOIN memberships AS m ON m.user_id = u.id WHERE m.room_id = ?"
            " ORDER BY u.username_key LIMIT ?"
        ),
        POSTGRESQL: (
            "SELECT u.id, u.username, u.username_key, u.full_name, u.avatar FROM users AS u"
            " JOIN memberships AS m ON m.user_id = u.id WHERE m.room_id = $1"
            " ORDER BY u.username_key LIMIT $2"
        ),
    },
    True: {
        SQLITE: (
            "SELECT u.id, u.username, u.username_key, u.full_name, u.avatar FROM users AS u"
            " JOIN memberships AS m ON m.user_id = u.id WHERE m.room_id = ? AND u.username_key > ?"
            " ORDER BY u.username_key LIMIT ?"
        ),
        POSTGRESQL: (
            "SELECT u.id, u.username, u.username_key, u.full_name, u.avatar FROM users AS u"
            " JOIN memberships AS m ON m.user_id = u.id"
            " WHERE m.room_id = $1 AND u.username_key > $2"
            " ORDER BY u.username_key LIMIT $3"
        ),
    },
}
_created_at = cast(Table, Room.__table__).c.created_at
_read_created_at: dict[str, Callable[[Any], Any] | None] = {}


class RoomEntry(NamedTuple):
    """What entering a room needs of it: the room, its owner's username, and whether the
    user asking is a member."""

    id: int
    code: str
    name: str
    created_at: datetime
    last_seq: int
    owner: str
    is_member: bool


class OnlineUser(NamedTuple):
    """A user as the online list shows them (``chinwag.services.views.user_wire``)."""

    id: int
    username: str
    username_key: str
    full_name: str
    avatar: str | None


def get_room_id(conn: Connection, code: str) -> int | None:
    rows = run_text(conn, _ROOM_ID, [code])
    return int(rows[0][0]) if rows else None


def get_room_entry(conn: Connection, code: str, user_id: int) -> RoomEntry | None:
    """The room with this (normalized) code as ``user_id`` would enter it; None if none."""
    rows = run_text(conn, _ROOM_ENTRY, [user_id, code])
    if not rows:
        return None
    room_id, name, created_at, last_seq, owner, is_member = rows[0]
    return RoomEntry(
        int(room_id), code, name, _created(conn, created_at), int(last_seq), owner, bool(is_member)
    )


def get_room_membership(conn: Connection, code: str, user_id: int) -> tuple[int, bool] | None:
    """The id of the room with this (normalized) code and whether ``user_id`` is a member of
    it; None if there is no such room."""
    rows = run_text(conn, _ROOM_MEMBER, [user_id, code])
    return (int(rows[0][0]), bool(rows[0][1])) if rows else None


def get_users_page(
    conn: Connection, ids: Collection[int], *, after: str | None, limit: int
) -> list[OnlineUser]:
    """Of these users (a page or two of them: the ids travel as one JSON array or one
    array), the first ``limit`` by username key after ``after``, in that order."""
    if not ids:
        return []
    listed: Any = sorted(set(ids))
    if conn.dialect.name == SQLITE:
        listed = json.dumps(listed)
    params = [listed, limit] if after is None else [listed, after, limit]
    return _users(run_text(conn, _USERS_PAGE[after is not None], params))


def list_members_page(
    conn: Connection, room_id: int, *, after: str | None, limit: int
) -> list[OnlineUser]:
    """The room's first ``limit`` members by username key after ``after``."""
    params = [room_id, limit] if after is None else [room_id, after, limit]
    return _users(run_text(conn, _MEMBERS_PAGE[after is not None], params))


def _users(rows: list[Any]) -> list[OnlineUser]:
    return [OnlineUser(int(i), name, key, full, avatar) for i, name, key, full, avatar in rows]


def _created(conn: Connection, value: Any) -> datetime:
    """A stored ``created_at`` as the ORM reads it (the column type's own result processing)."""
    dialect = conn.dialect.name
    if dialect not in _read_created_at:
        column_type = _created_at.type.dialect_impl(conn.dialect)
        _read_created_at[dialect] = column_type.result_processor(conn.dialect, None)
    process = _read_created_at[dialect]
    return cast(datetime, process(value) if process is not None else value)
