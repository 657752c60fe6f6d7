"""The live service's plain-SQL reads (``chinwag.db.live_reads``) answer what the ORM reads
they replace answer, on SQLite and on PostgreSQL: the same room view, membership, last seq
and online pages, down to the bytes of the wire form."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Collection, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from chinwag.db import live_reads, queries
from chinwag.db.engine import Database
from chinwag.db.migrate import migrate
from chinwag.db.models import AuthSession, Avatar, Membership, Room, User
from chinwag.errors import Forbidden, NotFound
from chinwag.services.access import access_room, load_room_out, require_room
from chinwag.services.views import room_wire, user_wire
from tests.support import postgres_database

NAMES = ["ana", "Bo", "cyd", "Émile", "zed", "Ärger", "dina_2", "ELLA", "fritz", "Gü"]
WHEN = datetime(2026, 3, 9, 23, 59, 58, 123456, tzinfo=UTC)


@contextlib.contextmanager
def database_url(backend: str, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp / 'chinwag.db'}"
        return
    with postgres_database() as url:
        yield url


@contextlib.asynccontextmanager
async def seeded(url: str) -> AsyncIterator[tuple[Database, list[User], list[Room]]]:
    """Users with and without avatars; rooms of which some are members, one with nobody
    but its owner, and created at times with and without microseconds."""
    await migrate(url)
    db = Database(url)
    try:
        async with db.transaction() as s:
            s.add(Avatar(name="a" * 64 + ".webp", data=b"webp", created_at=WHEN))
            await s.flush()
            users = [
                User(
                    username=name,
                    username_key=name.casefold(),
                    full_name=f"Person {name} Ñ 🙂",
                    password_hash="!",
                    avatar="a" * 64 + ".webp" if i % 3 == 0 else None,
                    created_at=WHEN,
                )
                for i, name in enumerate(NAMES)
            ]
            s.add_all(users)
            await s.flush()
            rooms = [
                Room(
                    code=str(uuid.uuid4()),
                    name=f"Room {k} — ☕",
                    owner_id=users[k].id,
                    created_at=WHEN + timedelta(days=k, microseconds=-k * 123457),
                    last_seq=k * 7,
                    version=k,
                )
                for k in range(3)
            ]
            s.add_all(rooms)
            await s.flush()
            for k, room in enumerate(rooms):
                members = [u for i, u in enumerate(users) if k == 0 or i % (k + 1) == 0]
                if k == 2:
                    members = [users[2]]  # the owner only
                s.add_all(
                    Membership(room_id=room.id, user_id=u.id, joined_at=WHEN) for u in members
                )
        yield db, users, rooms
    finally:
        await db.dispose()


async def orm_entry(db: Database, user: User, code: str) -> tuple[str, object]:
    """What ``LiveService.enter`` read before: ("room", (view, last seq)), or the error."""
    try:
        async with db.read() as s:
            room = await access_room(s, user, code)
            view = await load_room_out(s, room)
            return "room", (view.model_dump(mode="json"), room.last_seq)
    except Forbidden as exc:
        return "refused", exc.code
    except NotFound as exc:
        return "refused", exc.code


def plain_entry(found: live_reads.RoomEntry | None) -> tuple[str, object]:
    if found is None:
        return "refused", "room_not_found"
    if not found.is_member:
        return "refused", "not_member"
    return "room", (
        room_wire(found.code, found.name, found.owner, found.created_at),
        found.last_seq,
    )


async def orm_users_page(
    s: AsyncSession, ids: Collection[int], *, after: str | None, limit: int
) -> list[User]:
    """The ORM query the online page read by id before."""
    query = select(User).where(User.id.in_(sorted(set(ids))))
    if after is not None:
        query = query.where(User.username_key > after)
    result = await s.execute(query.order_by(User.username_key).limit(limit))
    return list(result.scalars())


async def orm_members_page(
    s: AsyncSession, room_id: int, *, after: str | None, limit: int
) -> list[User]:
    """The ORM query the online page walked the members with before."""
    query = (
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.room_id == room_id)
    )
    if after is not None:
        query = query.where(User.username_key > after)
    result = await s.execute(query.order_by(User.username_key).limit(limit))
    return list(result.scalars())


def profiles(users: list[User] | list[live_reads.OnlineUser]) -> list[tuple[object, ...]]:
    return [(u.id, u.username, u.username_key, u.full_name, u.avatar) for u in users]


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_entering_reads_the_room_as_the_orm_did(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        async with seeded(url) as (db, users, rooms):
            codes = [room.code for room in rooms] + [str(uuid.uuid4())]  # and no such room
            for code in codes:
                for user in users:
                    plain = await db.run_read(
                        lambda conn, c=code, u=user.id: live_reads.get_room_entry(conn, c, u)
                    )
                    orm = await orm_entry(db, user, code)
                    assert plain_entry(plain) == orm
                    if orm[0] == "room":  # the bytes the ack carries
                        assert json.dumps(plain_entry(plain)[1]) == json.dumps(orm[1])
                    membership = await db.run_read(
                        lambda conn, c=code, u=user.id: live_reads.get_room_membership(conn, c, u)
                    )
                    async with db.read() as s:
                        room = await queries.get_room_by_code(s, code)
                        if room is None:
                            assert membership is None
                        else:
                            member = await queries.get_membership(s, room.id, user.id)
                            assert membership == (room.id, member is not None)
                room_id = await db.run_read(lambda conn, c=code: live_reads.get_room_id(conn, c))
                async with db.read() as s:
                    try:
                        assert room_id == (await require_room(s, code)).id
                    except NotFound:
                        assert room_id is None


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_the_online_pages_are_the_orm_pages(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        async with seeded(url) as (db, users, rooms):
            keys = sorted(u.username_key for u in users)
            afters = [None, "", keys[0], keys[4], keys[-1], "m", "zzz"]
            id_sets = [set(), {users[3].id}, {u.id for u in users[::2]}, {u.id for u in users}]
            id_sets.append({u.id for u in users} | {10**9})  # an id that is nobody
            for ids in id_sets:
                for after in afters:
                    for limit in (1, 3, 100):
                        plain = await db.run_read(
                            lambda conn, i=ids, a=after, n=limit: live_reads.get_users_page(
                                conn, i, after=a, limit=n
                            )
                        )
                        async with db.read() as s:
                            orm = await orm_users_page(s, ids, after=after, limit=limit)
                        assert profiles(plain) == profiles(orm)
                        assert [user_wire(u) for u in plain] == [user_wire(u) for u in orm]
            for room in rooms:
                for after in afters:
                    for limit in (1, 3, 100):
                        plain = await db.run_read(
                            lambda conn, r=room.id, a=after, n=limit: live_reads.list_members_page(
                                conn, r, after=a, limit=n
                            )
                        )
                        async with db.read() as s:
                            orm = await orm_members_page(s, room.id, after=after, limit=limit)
                        assert profiles(plain) == profiles(orm)
            everyone = await db.run_read(
                lambda conn: live_reads.get_users_page(conn, set(ids), after=None, limit=100)
            )
            assert [u.username_key for u in everyone] == keys  # what was compared was a page


def orm_session_users(
    s: Session, session_ids: list[str], now: datetime
) -> dict[str, tuple[AuthSession, User]]:
    """The ORM read the handshake's session lookup made before (``Database.run_orm_read``)."""
    query = queries._live_sessions(now).where(AuthSession.id.in_(session_ids))
    return {row[0].id: (row[0], row[1]) for row in s.execute(query)}


def columns_of(instance: object) -> dict[str, object]:
    return {a.key: getattr(instance, a.key) for a in inspect(instance).mapper.column_attrs}


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_the_session_lookup_answers_the_orm_s_detached_objects(
    backend: str, tmp_path: Path
) -> None:
    """Live, expired, never-seen sessions; users disabled, deleted, with and without an
    avatar; timestamps with and without microseconds: the same answers, column by column,
    each detached with its identity as the ORM's are after their read."""
    now = WHEN + timedelta(days=1)
    with database_url(backend, tmp_path) as url:
        async with seeded(url) as (db, users, _):
            async with db.transaction() as s:
                for i, user in enumerate(users):
                    expires = now + timedelta(seconds=1 if i % 4 else -1, microseconds=i)
                    s.add(
                        AuthSession(
                            id=f"session-{i}",
                            user_id=user.id,
                            created_at=WHEN - timedelta(microseconds=i * 7),
                            expires_at=expires,
                            user_agent="Firefox ☕" if i % 2 else "",
                            address=f"10.0.0.{i}",
                            last_seen_at=None if i % 3 else WHEN,
                        )
                    )
                await s.execute(update(User).where(User.id == users[1].id).values(disabled_at=WHEN))
                await s.execute(update(User).where(User.id == users[2].id).values(deleted_at=WHEN))
            ids = [f"session-{i}" for i in range(len(users))] + ["session-never"]
            before = await db.run_orm_read(lambda s: orm_session_users(s, ids, now))
            after = await db.run_read(lambda c: live_reads.get_session_users(c, ids, now))
            lone = await db.run_read(lambda c: live_reads.get_session_users(c, ids[3:4], now))

    assert sorted(after) == sorted(before)
    assert 0 < len(before) < len(users)  # some expired, disabled, deleted
    assert "session-1" not in after and "session-2" not in after and "session-4" not in after
    assert lone.keys() == {"session-3"}
    for session_id, pair in before.items():
        for old, new in zip(pair, after[session_id], strict=True):
            assert type(new) is type(old)
            assert columns_of(new) == columns_of(old)
            assert inspect(new).detached and inspect(new).identity == inspect(old).identity
            assert not inspect(new).modified
    assert all(isinstance(pair[1].is_admin, bool) for pair in after.values())
    assert all(pair[0].expires_at.tzinfo is UTC for pair in after.values())


FIRST_LOOKUP = """
import asyncio, sys
from datetime import UTC, datetime, timedelta
import sqlalchemy as sa
from chinwag.db import live_reads
from chinwag.db.engine import Database
from chinwag.db.models import Base

async def main(url):
    db = Database(url)
    async with db.engine.begin() as conn:  # Core only: nothing has set the mappers up
        await conn.run_sync(Base.metadata.create_all)
        now = datetime.now(UTC)
        await conn.execute(sa.text(
            "INSERT INTO users (id, username, username_key, full_name, password_hash,"
            " created_at, is_admin) VALUES (1, 'ana', 'ana', 'Ana', '!', '2026-01-01', false)"
        ))
        await conn.execute(sa.insert(Base.metadata.tables["auth_sessions"]).values(
            id="s", user_id=1, created_at=now, expires_at=now + timedelta(days=1)
        ))
    found = await db.run_read(lambda c: live_reads.get_session_users(c, ["s"], now))
    print(found["s"][1].username)
    await db.dispose()

asyncio.run(main(sys.argv[1]))
"""


def test_a_process_s_first_session_lookup_comes_before_any_orm_query(tmp_path: Path) -> None:
    """A node's first handshake may be its first use of the models (the regression: its
    detached objects need the mappers set up, which the ORM's first query does)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'chinwag.db'}"
    ran = subprocess.run(
        [sys.executable, "-c", FIRST_LOOKUP, url], capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.strip() == "ana"
