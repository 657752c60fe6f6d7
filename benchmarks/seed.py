"""Bench users, sessions, rooms and memberships written straight into Chinwag's database.

Signing up thousands of people through the API would spend minutes in argon2 and hit the
sign-up limits. A session cookie holds a random token and the database keeps its SHA-256
(``chinwag.services.accounts.session_id_of``), so a seeded session row with a known token is
a logged-in user. Run it after ``chinwag migrate`` and before the clients connect.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from chinwag.db.models import AuthSession, Membership, Message, Room, User

SESSION_COOKIE = "chinwag_session"
UNUSABLE_PASSWORD = "!bench-user-cannot-log-in"  # noqa: S105 - no hash matches it
BATCH = 1000


@dataclass
class Seeded:
    cookies: list[str]  # one ``chinwag_session=<token>`` header value per user
    room_codes: list[str]


def session_id_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def seed(database_url: str, users: int, rooms: Sequence[Sequence[int]]) -> Seeded:
    """``users`` users (each with one session) and one room per entry of ``rooms``, whose
    members are the listed user indexes (the first is the owner)."""
    now = datetime.now(UTC)
    run = secrets.token_hex(3)
    tokens = [secrets.token_urlsafe(32) for _ in range(users)]
    names = [f"bench{run}{i}" for i in range(users)]
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await _insert(
                conn,
                User.__table__,
                [
                    {
                        "username": name,
                        "username_key": name.casefold(),
                        "full_name": f"Bench Person {i}",
                        "password_hash": UNUSABLE_PASSWORD,
                        "created_at": now,
                        "is_admin": False,
                    }
                    for i, name in enumerate(names)
                ],
            )
            keys = {name.casefold() for name in names}
            rows = await conn.execute(
                sa.select(User.id, User.username_key).where(User.username_key.like(f"bench{run}%"))
            )
            ids_by_key = {key: uid for uid, key in rows if key in keys}
            user_ids = [ids_by_key[name.casefold()] for name in names]
            await _insert(
                conn,
                AuthSession.__table__,
                [
                    {
                        "id": session_id_of(token),
                        "user_id": uid,
                        "created_at": now,
                        "expires_at": now + timedelta(days=1),
                        "user_agent": "chinwag-bench",
                        "address": "",
                        "last_seen_at": now,
                    }
                    for token, uid in zip(tokens, user_ids, strict=True)
                ],
            )
            codes = [str(uuid.uuid4()) for _ in rooms]  # room codes are UUIDs
            await _insert(
                conn,
                Room.__table__,
                [
                    {
                        "code": code,
                        "name": f"Bench room {k}",
                        "owner_id": user_ids[members[0]],
                        "created_at": now,
                        "last_seq": 0,
                        "version": 0,
                    }
                    for k, (code, members) in enumerate(zip(codes, rooms, strict=True))
                ],
            )
            rows = await conn.execute(sa.select(Room.id, Room.code).where(Room.code.in_(codes)))
            room_ids = {code: rid for rid, code in rows}
            await _insert(
                conn,
                Membership.__table__,
                [
                    {"room_id": room_ids[code], "user_id": user_ids[m], "joined_at": now}
                    for code, members in zip(codes, rooms, strict=True)
                    for m in members
                ],
            )
    finally:
        await engine.dispose()
    return Seeded([f"{SESSION_COOKIE}={token}" for token in tokens], codes)


async def count_messages(database_url: str, codes: Sequence[str]) -> int:
    """Messages stored in the rooms ``codes``: the check that every acked message is kept."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            total = await conn.scalar(
                sa.select(sa.func.count())
                .select_from(Message.__table__.join(Room.__table__))
                .where(Room.code.in_(list(codes)))
            )
    finally:
        await engine.dispose()
    return int(total or 0)


async def _insert(conn: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        await conn.execute(sa.insert(table), rows[start : start + BATCH])
