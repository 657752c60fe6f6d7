"""No single client can flood the live side (issue 6, findings 10 and 11): room:enter and
room:exit, member search, retries of stored messages and room creation each have a
per-user limit."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SERVER_ENV
from tests.live_support import error_code, online, online_list
from tests.support import PASSWORD, ServerProcess, User, run_server, unique_name

LIMIT = 4
LIMITED_ENV = {
    **SERVER_ENV,
    "CHINWAG_ENTERS_PER_WINDOW": str(LIMIT),
    "CHINWAG_ENTER_WINDOW_SECONDS": "600",
    "CHINWAG_SEARCHES_PER_WINDOW": str(LIMIT),
    "CHINWAG_SEARCH_WINDOW_SECONDS": "600",
    "CHINWAG_RETRIES_PER_WINDOW": str(LIMIT),
    "CHINWAG_RETRY_WINDOW_SECONDS": "600",
    "CHINWAG_ROOMS_PER_WINDOW": str(LIMIT),
    "CHINWAG_ROOM_WINDOW_SECONDS": "600",
    "CHINWAG_MESSAGES_PER_WINDOW": "2",
    "CHINWAG_MESSAGE_WINDOW_SECONDS": "600",
}


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with run_server(tmp_path_factory.mktemp("live-limits"), LIMITED_ENV) as proc:
        yield proc


@contextlib.contextmanager
def people(server: ServerProcess, n: int) -> Iterator[list[User]]:
    users = [User(server.url, unique_name(), f"Person {i}", PASSWORD) for i in range(n)]
    try:
        for user in users:
            assert user.sign_up().status_code == 201
        yield users
    finally:
        for user in users:
            user.close()


async def test_entering_and_exiting_is_limited_per_user(limited_server: ServerProcess) -> None:
    with people(limited_server, 2) as (ana, bo):
        code = ana.create_room()
        assert bo.join(code).status_code == 200
        async with online(ana, bo, bo) as (a, b, b2):
            await a.enter(code)
            for i in range(LIMIT):
                event = "room:enter" if i % 2 == 0 else "room:exit"
                assert (await b.call(event, {"room": code}))["ok"]
            refused = await b2.call("room:enter", {"room": code})  # another tab: same user
            assert error_code(refused) == "rate_limited" and refused["error"]["retry_after"] > 0
            assert error_code(await b.call("room:exit", {"room": code})) == "rate_limited"
            # the refused enter did not bring bo online
            assert await online_list(a, code) == [ana.username]
            assert (await a.call("room:exit", {"room": code}))["ok"]  # ana has her own limit


async def test_member_search_is_limited_per_user_over_both_transports(
    limited_server: ServerProcess,
) -> None:
    with people(limited_server, 1) as (ana,):
        code = ana.create_room()
        async with online(ana) as (a,):
            for _ in range(LIMIT - 1):
                assert (await a.call("users:search", {"room": code, "q": "pe"}))["ok"]
            assert ana.get(f"/api/rooms/{code}/users").status_code == 200
            refused = await a.call("users:search", {"room": code})
            assert error_code(refused) == "rate_limited"
            response = ana.get(f"/api/rooms/{code}/users", params={"q": "x"})
            assert response.status_code == 429 and error_code(response) == "rate_limited"
            assert int(response.headers["retry-after"]) >= 1


async def test_retries_are_answered_under_their_own_limit(limited_server: ServerProcess) -> None:
    with people(limited_server, 1) as (ana,):
        code = ana.create_room()
        async with online(ana) as (a,):
            first = await a.send(code, "one", client_id="c-1")
            second = await a.send(code, "two", client_id="c-2")
            assert first["ok"] and second["ok"]
            assert error_code(await a.send(code, "three", client_id="c-3")) == "rate_limited"
            # new sends are limited, but a retry after a lost ack still gets its message
            for _ in range(LIMIT):
                retry = await a.send(code, "one", client_id="c-1")
                assert retry["ok"] and retry["duplicate"] is True
                assert retry["message"] == first["message"]
            flood = await a.send(code, "one", client_id="c-1")
            assert error_code(flood) == "rate_limited" and flood["error"]["retry_after"] > 0
        page = ana.get(f"/api/rooms/{code}/messages").json()
        assert [m["body"] for m in page["messages"]] == ["two", "one"]


async def test_a_retry_needs_no_write_transaction(tmp_path: Path) -> None:
    """While another process holds SQLite's write lock, a retry is still answered from a
    read (a new send would have to wait for the lock)."""
    with run_server(tmp_path, dict(SERVER_ENV)) as server, people(server, 1) as (ana,):
        code = ana.create_room()
        async with online(ana) as (a,):
            stored = await a.send(code, "stored once", client_id="c-1")
            assert stored["ok"]
            writer = sqlite3.connect(tmp_path / "chinwag.db", isolation_level=None)
            try:
                writer.execute("BEGIN IMMEDIATE")  # the write lock, held by the test
                # the server's busy timeout is 10 s: a write would still be waiting at 5 s
                retry = await a.call(
                    "message:send",
                    {"room": code, "body": "stored once", "client_id": "c-1"},
                    timeout=5,
                )
                assert retry["ok"] and retry["duplicate"] is True
                assert retry["message"] == stored["message"]
                pending = asyncio.ensure_future(a.send(code, "new", client_id="c-2"))
                await asyncio.sleep(0.5)
                assert not pending.done()  # the new send waits for the lock
            finally:
                writer.execute("ROLLBACK")
                writer.close()
            assert (await pending)["ok"]


def test_creating_rooms_is_limited_per_user(limited_server: ServerProcess) -> None:
    with people(limited_server, 2) as (ana, bo):
        codes = [ana.create_room(f"Room {i}") for i in range(LIMIT)]
        refused = ana.post("/api/rooms", json={"name": "One too many"})
        assert refused.status_code == 429 and error_code(refused) == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        mine = ana.get("/api/rooms").json()["rooms"]
        assert sorted(r["code"] for r in mine) == sorted(codes)  # nothing more was made
        assert bo.post("/api/rooms", json={"name": "Bo's"}).status_code == 201
