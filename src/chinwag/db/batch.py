"""The message writer's batch statements (``chinwag.services.ingest``), as SQL text run on the
driver's own connection: the hot path neither compiles nor result-processes anything.

Each statement has one text per dialect whatever the batch's size (PostgreSQL prepares it
once per connection, SQLite's statement cache keeps it): lists travel as one JSON array
that SQLite reads with ``json_each``, and as arrays that PostgreSQL ``unnest``\\ s. Lookups
name exact tuples (room code, sender, client_id), never a cross product of lists.

They run inside the caller's transaction (``Database.run_write`` / ``run_read``), on the
same connection SQLAlchemy began: on SQLite the pysqlite connection, on PostgreSQL
SQLAlchemy's asyncpg adapter (whose cursor awaits through the greenlet bridge). A driver
error is raised as SQLAlchemy's (``IntegrityError`` …), as ``Connection.execute`` would.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from chinwag.db.models import Message, User

SQLITE, POSTGRESQL = "sqlite", "postgresql"

_FIND_STORED = {
    SQLITE: (
        "SELECT r.code, m.sender_id, m.client_id, m.id FROM json_each(?) AS j"
        " CROSS JOIN rooms AS r CROSS JOIN messages AS m"
        " WHERE r.code = json_extract(j.value, '$[0]') AND m.room_id = r.id"
        " AND m.sender_id = json_extract(j.value, '$[1]')"
        " AND m.client_id = json_extract(j.value, '$[2]')"
    ),
    POSTGRESQL: (
        "SELECT r.code, m.sender_id, m.client_id, m.id"
        " FROM unnest($1::varchar[], $2::bigint[], $3::varchar[]) AS j(code, sender_id, client_id)"
        " JOIN rooms AS r ON r.code = j.code"
        " JOIN messages AS m ON m.room_id = r.id AND m.sender_id = j.sender_id"
        " AND m.client_id = j.client_id"
    ),
}
# each asked (room code, user id): the room, if it exists, and whether the user is a member
_ROOMS_AND_MEMBERS = {
    SQLITE: (
        "SELECT r.id, r.code, r.version, j.user_id, m.user_id IS NOT NULL FROM"
        " (SELECT json_extract(value, '$[0]') AS code, json_extract(value, '$[1]') AS user_id"
        " FROM json_each(?)) AS j JOIN rooms AS r ON r.code = j.code"
        " LEFT JOIN memberships AS m ON m.room_id = r.id AND m.user_id = j.user_id"
    ),
    POSTGRESQL: (
        "SELECT r.id, r.code, r.version, j.user_id, m.user_id IS NOT NULL"
        " FROM unnest($1::varchar[], $2::bigint[]) AS j(code, user_id)"
        " JOIN rooms AS r ON r.code = j.code"
        " LEFT JOIN memberships AS m ON m.room_id = r.id AND m.user_id = j.user_id"
    ),
}
_USERS_BY_KEY = {
    SQLITE: (
        "SELECT id, username, username_key FROM users"
        " WHERE username_key IN (SELECT value FROM json_each(?))"
    ),
    POSTGRESQL: (
        "SELECT id, username, username_key FROM users WHERE username_key = ANY($1::varchar[])"
    ),
}
# Every room of the batch in one statement. PostgreSQL: its rows are locked first, in room
# id order (a sort under the lock), so two nodes' batches cannot deadlock; SQLite has one
# writer at a time.
_TAKE_POSITIONS = {
    SQLITE: (
        "UPDATE rooms SET last_seq = last_seq + json_extract(j.value, '$[1]'),"
        " version = version + json_extract(j.value, '$[2]')"
        " FROM json_each(?) AS j WHERE rooms.id = json_extract(j.value, '$[0]')"
        " RETURNING rooms.id, rooms.last_seq, rooms.version"
    ),
    POSTGRESQL: (
        "WITH w AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])"
        " AS w(id, public, total)),"
        " locked AS MATERIALIZED (SELECT r.id FROM rooms AS r WHERE r.id IN (SELECT id FROM w)"
        " ORDER BY r.id FOR UPDATE)"
        " UPDATE rooms SET last_seq = rooms.last_seq + w.public,"
        " version = rooms.version + w.total"
        " FROM w JOIN locked ON locked.id = w.id WHERE rooms.id = w.id"
        " RETURNING rooms.id, rooms.last_seq, rooms.version"
    ),
}
# Rows go in in the batch's order; RETURNING rows come back in no promised order, so each
# names its message by its unique (room, sender, client_id).
_INSERT_MESSAGES = {
    SQLITE: (
        "INSERT INTO messages"
        " (room_id, conversation_id, seq, sender_id, recipient_id, body, client_id, created_at)"
        " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
        " json_extract(value, '$[2]'), json_extract(value, '$[3]'),"
        " json_extract(value, '$[4]'), json_extract(value, '$[5]'),"
        " json_extract(value, '$[6]'), ? FROM json_each(?) ORDER BY key"
        " RETURNING id, room_id, sender_id, client_id"
    ),
    POSTGRESQL: (
        "INSERT INTO messages"
        " (room_id, conversation_id, seq, sender_id, recipient_id, body, client_id, created_at)"
        " SELECT room_id, conversation_id, seq, sender_id, recipient_id, body, client_id, $8"
        " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],"
        " $6::text[], $7::varchar[]) WITH ORDINALITY"
        " AS r(room_id, conversation_id, seq, sender_id, recipient_id, body, client_id, n)"
        " ORDER BY n RETURNING id, room_id, sender_id, client_id"
    ),
}
_created_at = cast(Table, Message.__table__).c.created_at


class RoomRow(NamedTuple):
    """A room as the writer reads it: id, code and version (not an ORM object)."""

    id: int
    code: str
    version: int


class NewMessage(NamedTuple):
    room_id: int
    conversation_id: int | None
    seq: int
    sender_id: int
    recipient_id: int | None
    body: str
    client_id: str


def _run(conn: Connection, texts: dict[str, str], params: Sequence[Any]) -> list[Any]:
    """Run this dialect's text with positional ``params`` on the driver's connection; its
    rows (tuples, or asyncpg records: both index by position)."""
    statement = texts[conn.dialect.name]
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement, params)
        return list(cursor.fetchall()) if cursor.description is not None else []
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(  # without the parameters: they hold message bodies
            statement,
            params,
            exc,
            conn.dialect.loaded_dbapi.Error,
            hide_parameters=True,
            dialect=conn.dialect,
        ) from exc
    finally:
        cursor.close()


def _lists(conn: Connection, columns: list[list[Any]]) -> list[Any]:
    """Rows (given column by column) as this dialect binds them: SQLite one JSON array of
    rows, PostgreSQL one array per column."""
    if conn.dialect.name == SQLITE:
        return [json.dumps(list(zip(*columns, strict=True)), ensure_ascii=False)]
    return columns


def find_stored_client_ids(
    conn: Connection, keys: Sequence[tuple[str, int, str]]
) -> dict[tuple[str, int, str], int]:
    """Which of these sends (room code, sender, client_id) are already stored: their message
    ids, in one statement."""
    codes, senders, client_ids = (list(column) for column in zip(*keys, strict=True))
    rows = _run(conn, _FIND_STORED, _lists(conn, [codes, senders, client_ids]))
    return {(code, int(sender), client): int(i) for code, sender, client, i in rows}


def get_rooms_and_members(
    conn: Connection, pairs: set[tuple[str, int]]
) -> tuple[dict[str, RoomRow], set[tuple[int, int]]]:
    """For these (room code, user id) pairs, in one statement: the rooms that exist by code,
    and which (room id, user id) pairs are memberships."""
    codes, users = (list(column) for column in zip(*pairs, strict=True))
    rows = _run(conn, _ROOMS_AND_MEMBERS, _lists(conn, [codes, users]))
    rooms: dict[str, RoomRow] = {}
    members: set[tuple[int, int]] = set()
    for room_id, code, version, user_id, member in rows:
        if code not in rooms:
            rooms[code] = RoomRow(int(room_id), code, int(version))
        if member:
            members.add((int(room_id), int(user_id)))
    return rooms, members


def get_user_rows(conn: Connection, keys: set[str]) -> dict[str, User]:
    """Users by casefolded username (id and usernames only; not in any session)."""
    rows = _run(conn, _USERS_BY_KEY, _one_list(conn, list(keys)))
    return {
        key: User(id=int(user_id), username=username, username_key=key)
        for user_id, username, key in rows
    }


def _one_list(conn: Connection, values: list[Any]) -> list[Any]:
    return [json.dumps(values, ensure_ascii=False)] if conn.dialect.name == SQLITE else [values]


def take_positions(
    conn: Connection, counts: dict[int, tuple[int, int]]
) -> dict[int, tuple[int, int]]:
    """For each room id, take its ``(public, total)`` count of public positions and versions
    in one statement for the batch, under the rooms' row locks (held until the transaction
    ends, so positions are handed out in commit order); returns the last of each (seq,
    version) by room id. A room that is gone is not in the answer."""
    ids = sorted(counts)
    columns = [ids, [counts[i][0] for i in ids], [counts[i][1] for i in ids]]
    rows = _run(conn, _TAKE_POSITIONS, _lists(conn, columns))
    return {int(room_id): (int(seq), int(version)) for room_id, seq, version in rows}


def insert_messages(conn: Connection, rows: list[NewMessage], created_at: datetime) -> list[int]:
    """Insert messages in one INSERT … SELECT … RETURNING; their ids, in ``rows`` order
    (no two rows may share a room, sender and client_id)."""
    process = _created_at.type.bind_processor(conn.dialect)  # the column's own storage form
    created = process(created_at) if process is not None else created_at
    columns = [list(column) for column in zip(*rows, strict=True)]
    if conn.dialect.name == SQLITE:
        params = [created, *_lists(conn, columns)]
    else:
        params = [*columns, created]
    returned = _run(conn, _INSERT_MESSAGES, params)
    ids = {(int(r), int(u), c): int(i) for i, r, u, c in returned}
    return [ids[(row.room_id, row.sender_id, row.client_id)] for row in rows]
