"""Engine and transactions. The one place that knows about SQLite's quirks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

_IMMEDIATE = "chinwag_immediate"


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened; the message is one line for the operator."""


def describe_failure(url: str, exc: BaseException) -> str:
    """One line: which database (without its password) and the driver's reason."""
    reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    where = make_url(url).render_as_string(hide_password=True)
    return f"cannot open the database {where}: {str(reason).strip() or type(reason).__name__}"


def _prepare_sqlite(engine: AsyncEngine) -> None:
    """Dialect spot: WAL, foreign keys, a busy timeout, and explicit BEGINs.

    pysqlite's implicit transactions are switched off so that write transactions can
    say ``BEGIN IMMEDIATE`` and take the write lock up front: a deferred transaction
    that reads and then writes can fail at once with SQLITE_BUSY instead of waiting.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, pool_size=5, max_overflow=5)
        _prepare_sqlite(engine)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


class Database:
    """Hands out sessions: ``read()`` for queries, ``transaction()`` for writes (commits)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        # The same engine whose transactions take SQLite's write lock up front.
        self.writer = self.engine.execution_options(**{_IMMEDIATE: True})
        self._read = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write = async_sessionmaker(self.writer, expire_on_commit=False)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._read() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed when the block ends, rolled back on error."""
        async with self._write() as session, session.begin():
            yield session

    @asynccontextmanager
    async def uncommitted(self) -> AsyncIterator[AsyncSession]:
        """A write transaction the caller commits itself; rolled back if it does not."""
        async with self._write() as session:
            await session.begin()
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def require_reachable(self) -> None:
        """Connect once, or raise DatabaseUnavailable saying why (no such database, server
        down, refused log-in, a file that cannot be opened)."""
        try:
            await self.ping()
        except (DBAPIError, OSError) as exc:
            raise DatabaseUnavailable(describe_failure(self.url, exc)) from exc

    async def dispose(self) -> None:
        await self.engine.dispose()
