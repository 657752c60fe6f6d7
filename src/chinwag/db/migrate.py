"""Apply Alembic migrations programmatically (``chinwag migrate`` and ``chinwag serve``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from chinwag.db.engine import Database, DatabaseUnavailable, describe_failure

MIGRATIONS = Path(__file__).parent / "migrations"

# The PostgreSQL advisory lock that migrations run under: the eight ASCII bytes "chinwag!"
# as a big-endian signed 64-bit integer, 7163091130502965025 (in pg_locks: classid
# 1667787118, objid 2002872097). Every `chinwag serve` and `chinwag migrate` holds it for
# its migration transaction, so nodes started together migrate one at a time and the later
# ones find the schema at head.
MIGRATION_LOCK_KEY = int.from_bytes(b"chinwag!", "big", signed=True)


def alembic_config(connection: Connection | None = None, avatar_dir: Path | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["avatar_dir"] = avatar_dir
    return config


async def migrate(
    database_url: str, revision: str = "head", *, avatar_dir: Path | None = None
) -> None:
    """Bring the database at ``database_url`` up to ``revision``.

    ``avatar_dir`` is where versions before 0003 kept avatar files: the ones users point
    at are imported into the database (without it, those users lose their avatar).
    Raises DatabaseUnavailable when the database cannot be reached or opened.
    """
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:":
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnavailable(describe_failure(database_url, exc)) from exc
    database = Database(database_url)
    try:
        await database.require_reachable()
        # On SQLite the writer's BEGIN IMMEDIATE takes the write lock before the version is
        # read: a deferred transaction that reads and then writes would fail at once, not
        # wait, when another process migrated in between.
        async with database.writer.connect() as conn:
            if database.is_sqlite:
                await _sqlite_foreign_keys(conn, on=False)
            async with conn.begin():
                if not database.is_sqlite:
                    await _postgres_migration_lock(conn)
                await conn.run_sync(
                    lambda sync: command.upgrade(alembic_config(sync, avatar_dir), revision)
                )
                if database.is_sqlite:
                    broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                    if broken:
                        raise RuntimeError(f"migration broke foreign keys: {broken[:5]}")
            if database.is_sqlite:
                await _sqlite_foreign_keys(conn, on=True)
    finally:
        await database.dispose()


async def _postgres_migration_lock(conn: AsyncConnection) -> None:
    """Wait for the migration lock and hold it until this transaction ends."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})


async def _sqlite_foreign_keys(conn: AsyncConnection, *, on: bool) -> None:
    """Dialect spot: SQLite changes this pragma only outside a transaction, and a table
    rebuild (drop, then rename a copy) with foreign keys on would cascade the drop."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    if driver is None:  # pragma: no cover - a checked-out connection always has one
        raise RuntimeError("no driver connection")
    await driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
