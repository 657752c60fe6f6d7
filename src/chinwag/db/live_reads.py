"""The hot reads: a handshake's session lookup (``chinwag.services.sessions``) and the live
service's (``chinwag.services.live``): entering a room, leaving it, and the online list's
pages, as SQL text on the driver's own connection, as the message writer's
statements are (``chinwag.db.batch``).

They run inside the caller's read (``Database.run_read``): on SQLite the whole read runs at
once on the loop's thread (``chinwag.db.inline``), where aiosqlite's ORM session hops a
thread for every call; on PostgreSQL it runs on SQLAlchemy's asyncpg adapter through the
greenlet bridge. Each answers
plain tuples, except the session lookup, whose answers are detached ORM objects as the
ORM read's were: nothing here is in a session.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import Any, NamedTuple, TypeVar, cast

from sqlalchemy import Column, Table
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import configure_mappers, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict
from sqlalchemy.orm.instrumentation import manager_of_class

from chinwag.db.batch import POSTGRESQL, SQLITE
from chinwag.db.batch import _run as run_text
from chinwag.db.models import AuthSession, Room, User

Loaded = TypeVar("Loaded", AuthSession, User)

_session_columns = list(cast(Table, AuthSession.__table__).columns)
_expires_at = cast(Table, AuthSession.__table__).c.expires_at
_user_columns = list(cast(Table, User.__table__).columns)
# the mapped attribute of each column
_session_keys = [AuthSession.__mapper__.get_property_by_column(c).key for c in _session_columns]
_user_keys = [User.__mapper__.get_property_by_column(c).key for c in _user_columns]
_selected = ", ".join(
    [f"s.{c.name}" for c in _session_columns] + [f"u.{c.name}" for c in _user_columns]
)
# every column of the live sessions with these ids and of their users (as
# ``queries._live_sessions``: not expired, the user neither disabled nor deleted); the
# column names come from the models, never from input
_LIVE_SESSIONS = {
    SQLITE: (
        f"SELECT {_selected} FROM auth_sessions AS s JOIN users AS u ON u.id = s.user_id"  # noqa: S608
        " WHERE s.id IN (SELECT value FROM json_each(?)) AND s.expires_at > ?"
        " AND u.disabled_at IS NULL AND u.deleted_at IS NULL"
    ),
    POSTGRESQL: (
        f"SELECT {_selected} FROM auth_sessions AS s JOIN users AS u ON u.id = s.user_id"  # noqa: S608
        " WHERE s.id = ANY($1::varchar[]) AND s.expires_at > $2"
        " AND u.disabled_at IS NULL AND u.deleted_at IS NULL"
    ),
}

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
# (what, dialect): each column's result processing (None: the driver's value as is)
_readers: dict[tuple[str, str], list[Callable[[Any], Any] | None]] = {}


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


def get_session_users(
    conn: Connection, session_ids: list[str], now: datetime
) -> dict[str, tuple[AuthSession, User]]:
    """The live sessions among these ids and their users, by id, in one statement, as
    detached ORM objects with every column loaded: what the ORM read of
    ``queries._live_sessions`` answered (``tests/test_live_reads.py`` holds them equal)."""
    dialect = conn.dialect
    process = _expires_at.type.bind_processor(dialect)
    when = process(now) if process is not None else now
    ids: Any = json.dumps(session_ids) if dialect.name == SQLITE else session_ids
    rows = run_text(conn, _LIVE_SESSIONS, [ids, when])
    readers = _column_readers(dialect, "session row", [*_session_columns, *_user_columns])
    found: dict[str, tuple[AuthSession, User]] = {}
    split = len(_session_columns)
    for row in rows:
        values = [v if read is None else read(v) for read, v in zip(readers, row, strict=True)]
        session = _loaded(AuthSession, zip(_session_keys, values[:split], strict=True))
        user = _loaded(User, zip(_user_keys, values[split:], strict=True))
        found[session.id] = (session, user)
    return found


def _loaded(cls: type[Loaded], values: Iterable[tuple[str, Any]]) -> Loaded:
    """An instance as the ORM loads one (its attributes set without change events, which
    cost more than the query), then detached with its identity."""
    instance: Loaded = manager_of_class(cls).new_instance()
    instance_dict(instance).update(values)
    make_transient_to_detached(instance)
    return instance


def _column_readers(
    dialect: Dialect, what: str, columns: list[Column[Any]]
) -> list[Callable[[Any], Any] | None]:
    """Each column's own result processing on this dialect, as the ORM applies it (made
    once per ``what``)."""
    readers = _readers.get((what, dialect.name))
    if readers is None:
        configure_mappers()  # ``_loaded`` needs the attributes that the ORM's first use sets up
        readers = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
        _readers[what, dialect.name] = readers
    return readers


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
    (process,) = _column_readers(conn.dialect, "room created_at", [_created_at])
    return cast(datetime, process(value) if process is not None else value)
