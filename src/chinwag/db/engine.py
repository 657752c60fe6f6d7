"""Engine and transactions. The one place that knows about SQLite's quirks."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from chinwag.db.inline import InlineSQLite

_IMMEDIATE = "chinwag_immediate"
T = TypeVar("T")


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened; the message is one line for the operator."""


def describe_failure(url: str, exc: BaseException) -> str:
    """One line: which database (without its password) and the driver's reason."""
    reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    where = make_url(url).render_as_string(hide_password=True)
    return f"cannot open the database {where}: {str(reason).strip() or type(reason).__name__}"


def _prepare_sqlite(engine: Engine, busy_timeout_ms: int = 10_000) -> None:
    """Dialect spot: WAL, foreign keys, a busy timeout, and explicit BEGINs.

    pysqlite's implicit transactions are switched off so that write transactions can
    say ``BEGIN IMMEDIATE`` and take the write lock up front: a deferred transaction
    that reads and then writes can fail at once with SQLITE_BUSY instead of waiting.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if getattr(conn.connection.dbapi_connection, "in_transaction", False):
            return  # begun on pysqlite itself (chinwag.db.inline)
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, pool_size=5, max_overflow=5)
        _prepare_sqlite(engine.sync_engine)
        return engine
    engine = create_async_engine(url, pool_size=10, max_overflow=10)
    _ping_after_idle(engine.sync_engine)
    return engine


# a pooled connection unused for longer than this is pinged before it is handed out
PING_AFTER_IDLE_SECONDS = 2.0


def _ping_after_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling without a ping on every checkout: SQLAlchemy's
    ``pool_pre_ping`` costs three round trips to PostgreSQL (BEGIN, a ping, ROLLBACK) each
    time, ~200 µs of CPU. A connection that was in use in the last seconds is handed out as
    it is (if the server went away meanwhile, the statement fails once and SQLAlchemy
    replaces the whole pool); one idle for longer is pinged, and replaced if it is dead."""

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle = time.monotonic() - record.info.get(_LAST_USED, 0.0)
        if idle > PING_AFTER_IDLE_SECONDS:
            try:
                dbapi_connection.ping()
            except Exception as exc:
                raise DisconnectionError("a pooled connection is dead") from exc

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_LAST_USED] = time.monotonic()


_LAST_USED = "chinwag_last_used"


class Database:
    """Hands out sessions: ``read()`` for queries, ``transaction()`` for writes (commits)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        # The same engine whose transactions take SQLite's write lock up front.
        self.writer = self.engine.execution_options(**{_IMMEDIATE: True})
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._read = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write = async_sessionmaker(self.writer, expire_on_commit=False)
        # SQLite: ``run_write`` runs on the event loop's thread with a plain pysqlite engine
        # that never waits for a lock, and on one thread of its own (which waits) when the
        # lock is taken
        self._inline: InlineSQLite | None = None
        self._sync_writer: Engine | None = None
        self._writer_thread: ThreadPoolExecutor | None = None
        if self.is_sqlite:
            sync_url = make_url(url).set(drivername="sqlite")
            inline = create_sync_engine(sync_url, pool_size=1, max_overflow=0)
            _prepare_sqlite(inline, busy_timeout_ms=0)
            self._inline = InlineSQLite(inline)
            self._sync_writer = create_sync_engine(sync_url, pool_size=1, max_overflow=0)
            _prepare_sqlite(self._sync_writer)
            self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="chinwag-writer")

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

    async def run_write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` (synchronous statements, nothing awaited) in one write transaction,
        committed when it returns, rolled back if it raises.

        Dialect spot: on SQLite the write lock is taken up front and the whole of ``work``
        runs at once on the event loop's thread, when the lock is free: no thread hop at
        all (aiosqlite hops a thread for every call, four per statement). When another
        connection holds the lock, ``work`` runs instead on the writer thread, which waits
        for it (the busy timeout) while the loop goes on. On PostgreSQL it runs on the event
        loop through SQLAlchemy's greenlet bridge, each statement awaiting asyncpg.
        """
        return await self._run(work, write=True)

    async def run_read(self, work: Callable[[Connection], T]) -> T:
        """``run_write``'s twin for reads: on SQLite a read transaction, rolled back at the
        end (it never takes the write lock); on PostgreSQL each statement on its own
        (autocommit), which at READ COMMITTED sees what a transaction would (a snapshot
        per statement) without the BEGIN and ROLLBACK round trips."""
        return await self._run(work, write=False)

    async def run_orm_read(self, work: Callable[[Session], T]) -> T:
        """``run_read`` with an ORM session on its connection, for the hot path's ORM reads:
        on SQLite it runs on the loop's thread, where ``read()``'s aiosqlite session hops a
        thread four times a statement. What it returns is detached, as ``read()``'s is once
        its block ends: loaded attributes only."""

        def in_session(conn: Connection) -> T:
            with Session(bind=conn, expire_on_commit=False) as session:
                return work(session)

        return await self.run_read(in_session)

    async def _run(self, work: Callable[[Connection], T], *, write: bool) -> T:
        if self._inline is not None and self._sync_writer is not None:
            ran, result = self._inline.run(work, write)
            if ran:
                return cast(T, result)
            engine = self._sync_writer
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._writer_thread, lambda: _run_sync(engine, work, write)
            )
        if write:
            async with self.writer.begin() as conn:
                return await conn.run_sync(work)
        async with self._autocommit.connect() as conn:
            return await conn.run_sync(work)

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
        if self._inline is not None:
            self._inline.close()
        if self._sync_writer is not None and self._writer_thread is not None:
            await asyncio.get_running_loop().run_in_executor(
                self._writer_thread, self._sync_writer.dispose
            )
            self._writer_thread.shutdown()


def _run_sync(engine: Engine, work: Callable[[Connection], T], write: bool) -> T:
    """``work`` in one transaction of ``engine``: committed (a write) or rolled back."""
    with engine.connect() as conn:
        conn.execution_options(**{_IMMEDIATE: write})
        with conn.begin() as tx:
            result = work(conn)
            if not write:
                tx.rollback()
            return result
