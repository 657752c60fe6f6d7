"""Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from chinwag.db.engine import Database
from chinwag.db.migrate import migrate
from chinwag.db.models import Base
from tests.support import postgres_database


async def schema_drift(url: str) -> list[object]:
    await migrate(url)
    await migrate(url)  # applying twice is a no-op
    database = Database(url)
    try:
        async with database.engine.connect() as conn:

            def diff(sync_conn: object) -> list[object]:
                context = MigrationContext.configure(sync_conn)  # type: ignore[arg-type]
                return list(compare_metadata(context, Base.metadata))

            drift = await conn.run_sync(diff)
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await database.dispose()
    assert {"users", "auth_sessions", "rooms", "memberships", "messages"} <= tables
    return drift


async def test_sqlite_schema_matches_models(tmp_path: Path) -> None:
    assert await schema_drift(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}") == []


@pytest.mark.postgres
async def test_postgres_schema_matches_models() -> None:
    with postgres_database() as url:
        assert await schema_drift(url) == []
