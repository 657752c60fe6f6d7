"""SQLite transactions on the event loop's thread, for the hot path's short statements.

One pysqlite connection, opened once and kept, with no busy timeout: a transaction either
starts at once or is not started at all (the caller then runs it on the writer thread, which
waits for the lock). Its BEGIN, COMMIT and ROLLBACK go to the driver itself: SQLAlchemy's
connection checkout and transaction bookkeeping cost ~60 µs a transaction, more than the
statements of a small batch. ``work`` still gets a SQLAlchemy ``Connection``; a Core
statement it runs joins the transaction that is open (``engine._prepare_sqlite`` begins
nothing when the driver is already in one).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

T = TypeVar("T")


def is_busy(exc: BaseException) -> bool:
    """SQLite said SQLITE_BUSY or SQLITE_LOCKED (any extended code): try again later."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    code = getattr(orig, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class InlineSQLite:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine  # pool_size=1, busy_timeout=0: see engine._prepare_sqlite
        self._conn: Connection | None = None

    def run(self, work: Callable[[Connection], T], write: bool) -> tuple[bool, T | None]:
        """``work`` in one transaction, committed (a write) or rolled back (a read):
        ``(True, result)``; ``(False, None)`` when the database was busy before anything was
        done, so that the caller may run ``work`` again elsewhere. A write that took the
        lock is never given back: it runs to its end, or raises."""
        conn = self._connection()
        raw: Any = conn.connection.dbapi_connection
        try:
            raw.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.OperationalError as exc:
            if is_busy(exc):
                return False, None
            raise
        try:
            result = work(conn)
        except BaseException as exc:
            self._end(conn, raw, commit=False)
            if not write and is_busy(exc):  # a read has nothing to undo: it may run again
                return False, None
            raise
        self._end(conn, raw, commit=write)
        return True, result

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.invalidated or self._conn.closed:
            self.close()
            self._conn = self.engine.connect()
        return self._conn

    def _end(self, conn: Connection, raw: Any, *, commit: bool) -> None:
        try:
            if commit:
                raw.commit()
            else:
                raw.rollback()
        except BaseException:
            self._abandon(raw)  # a COMMIT that failed (a deferred constraint) stays open
            raise
        finally:
            if conn.in_transaction():  # begun by a Core statement: a no-op on the driver now
                conn.rollback()

    def _abandon(self, raw: Any) -> None:
        """Roll back what is still open; a connection that cannot is not used again."""
        try:
            if raw.in_transaction:
                raw.rollback()
        except Exception:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.invalidate()

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()
        self.engine.dispose()
