"""``Database.run_write`` / ``run_read`` on SQLite: a transaction runs at once on the event
loop's thread when the write lock is free, and on the writer thread, which waits for the
lock, when another connection holds it. Either way it commits or rolls back whole."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from chinwag.db import engine as engine_module
from chinwag.db.engine import Database
from tests.support import postgres_database


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[tuple[Database, Path]]:
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT UNIQUE NOT NULL)")
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        yield db, path
    finally:
        await db.dispose()


def insert(body: str, threads: list[str]) -> object:
    def work(conn: Connection) -> int:
        threads.append(threading.current_thread().name)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("INSERT INTO notes (body) VALUES (?)", (body,))
        return int(cursor.lastrowid or 0)

    return work


def bodies(path: Path) -> list[str]:
    with sqlite3.connect(path) as raw:
        return [row[0] for row in raw.execute("SELECT body FROM notes ORDER BY id")]


async def test_a_write_with_the_lock_free_runs_on_the_loop_s_thread(
    database: tuple[Database, Path],
) -> None:
    db, path = database
    threads: list[str] = []
    note_id = await db.run_write(insert("one", threads))  # type: ignore[arg-type]
    assert note_id == 1
    assert threads == [threading.current_thread().name]
    assert bodies(path) == ["one"]


async def test_a_write_waits_on_the_writer_thread_while_another_connection_writes(
    database: tuple[Database, Path],
) -> None:
    db, path = database
    threads: list[str] = []
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        blocker.execute("INSERT INTO notes (body) VALUES ('first')")
        write = asyncio.create_task(db.run_write(insert("second", threads)))  # type: ignore[arg-type]
        ticks = 0
        for _ in range(20):  # the loop goes on while the write waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20 and not write.done()
        blocker.execute("COMMIT")
        await asyncio.wait_for(write, 10)
    finally:
        blocker.close()
    assert threads and threads[0].startswith("chinwag-writer")
    assert bodies(path) == ["first", "second"]


async def test_a_read_runs_on_the_loop_s_thread_even_while_another_connection_writes(
    database: tuple[Database, Path],
) -> None:
    db, path = database
    await db.run_write(insert("kept", []))  # type: ignore[arg-type]
    blocker = sqlite3.connect(path, isolation_level=None)
    threads: list[str] = []

    def read(conn: Connection) -> list[str]:
        threads.append(threading.current_thread().name)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        return [row[0] for row in cursor.execute("SELECT body FROM notes")]

    try:
        blocker.execute("BEGIN IMMEDIATE")
        blocker.execute("INSERT INTO notes (body) VALUES ('uncommitted')")
        assert await db.run_read(read) == ["kept"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert threads == [threading.current_thread().name]


async def test_a_failed_write_leaves_nothing_and_the_next_one_runs(
    database: tuple[Database, Path],
) -> None:
    db, path = database
    await db.run_write(insert("taken", []))  # type: ignore[arg-type]

    def two_then_fail(conn: Connection) -> None:
        insert("lost", [])(conn)  # type: ignore[operator]
        insert("taken", [])(conn)  # type: ignore[operator]

    with pytest.raises(sqlite3.IntegrityError):  # the raw cursor's own error
        await db.run_write(two_then_fail)
    await db.run_write(insert("after", []))  # type: ignore[arg-type]
    assert bodies(path) == ["taken", "after"]


async def test_a_core_statement_joins_the_transaction_and_is_undone_with_it(
    database: tuple[Database, Path],
) -> None:
    """``work`` may mix the driver's cursor and SQLAlchemy Core: one transaction either way."""
    db, path = database

    def core(body: str, then_fail: bool) -> object:
        def work(conn: Connection) -> None:
            conn.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": body})
            insert(body + " raw", [])(conn)  # type: ignore[operator]
            if then_fail:
                raise LookupError("undo it all")

        return work

    await db.run_write(core("kept", then_fail=False))  # type: ignore[arg-type]
    with pytest.raises(LookupError):
        await db.run_write(core("undone", then_fail=True))  # type: ignore[arg-type]
    assert await db.run_read(
        lambda conn: [r[0] for r in conn.execute(text("SELECT body FROM notes ORDER BY id"))]
    ) == ["kept", "kept raw"]
    await db.run_write(insert("next", []))  # type: ignore[arg-type]
    assert bodies(path) == ["kept", "kept raw", "next"]


async def test_an_orm_read_ends_cleanly_and_the_next_write_runs(
    database: tuple[Database, Path],
) -> None:
    """``run_orm_read``'s session ends its own transaction on the connection the inline
    runner began: what it read comes back, and the next transaction starts afresh."""
    db, path = database
    await db.run_write(insert("first", []))  # type: ignore[arg-type]
    rows = await db.run_orm_read(
        lambda s: [r[0] for r in s.execute(text("SELECT body FROM notes ORDER BY id"))]
    )
    assert rows == ["first"]
    threads: list[str] = []
    await db.run_write(insert("second", threads))  # type: ignore[arg-type]
    assert threads == [threading.current_thread().name]
    assert bodies(path) == ["first", "second"]


async def test_a_pooled_postgresql_connection_that_died_while_idle_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No ping on every checkout, but one after an idle spell: a connection that the server
    ended meanwhile is replaced before anyone uses it, and the read succeeds."""
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)  # every checkout
    with postgres_database() as url:
        db = Database(url)
        try:

            def backend(conn: Connection) -> int:
                return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())

            pid = await db.run_read(backend)
            killer = Database(url)
            try:
                await killer.run_read(
                    lambda conn: conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid})").all()
                )
            finally:
                await killer.dispose()
            assert await db.run_read(backend) != pid
        finally:
            await db.dispose()


async def test_a_commit_that_fails_leaves_no_transaction_open(
    database: tuple[Database, Path],
) -> None:
    """A deferred foreign key fails at COMMIT, which SQLite leaves open: the write is rolled
    back, says why, and the next transaction starts afresh."""
    db, path = database
    with sqlite3.connect(path) as raw:
        raw.execute(
            "CREATE TABLE tags"
            " (note_id INTEGER REFERENCES notes (id) DEFERRABLE INITIALLY DEFERRED)"
        )

    def dangling(conn: Connection) -> None:
        insert("kept out", [])(conn)  # type: ignore[operator]
        conn.connection.dbapi_connection.execute(  # type: ignore[union-attr]
            "INSERT INTO tags (note_id) VALUES (999)"
        )

    with pytest.raises(sqlite3.IntegrityError):
        await db.run_write(dangling)
    threads: list[str] = []
    await db.run_write(insert("after", threads))  # type: ignore[arg-type]
    assert threads == [threading.current_thread().name]
    assert bodies(path) == ["after"]
