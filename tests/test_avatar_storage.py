"""Avatars are stored in the database: two nodes share them, races between nodes never leave
a user pointing at a missing one, and upgrading from avatar files on disk keeps them."""

from __future__ import annotations

import contextlib
import hashlib
import io
import secrets
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from PIL import Image
from sqlalchemy import text

from chinwag.db.engine import Database
from chinwag.db.migrate import migrate
from tests.conftest import SERVER_ENV
from tests.support import (
    PASSWORD,
    ServerProcess,
    User,
    db_column,
    postgres_database,
    run_server,
    unique_name,
)
from tests.test_avatars import avatar_name, fetch, picture, upload

ROUNDS = 15
IMMUTABLE = "public, max-age=31536000, immutable"


@contextlib.contextmanager
def two_nodes(tmp: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two ``chinwag serve`` processes on one fresh PostgreSQL database, each with its own
    data dir and the same secret key (started one after the other: a fresh database is
    migrated by the first)."""
    env = {**SERVER_ENV, "CHINWAG_SECRET_KEY": secrets.token_urlsafe(32)}
    (tmp / "a").mkdir()
    (tmp / "b").mkdir()
    with (
        postgres_database() as url,
        run_server(tmp / "a", {**env, "CHINWAG_DATABASE_URL": url}) as a,
        run_server(tmp / "b", {**env, "CHINWAG_DATABASE_URL": url}) as b,
    ):
        yield a, b


def person(server: ServerProcess, full_name: str = "Test Person") -> User:
    user = User(server.url, unique_name(), full_name, PASSWORD)
    response = user.sign_up()
    assert response.status_code == 201, response.text
    return user


def same_person_on(user: User, server: ServerProcess) -> User:
    """``user`` logged in again, on another node."""
    there = User(server.url, user.username, user.full_name, user.password)
    assert there.log_in().status_code == 200
    return there


def avatar_of(user: User) -> str | None:
    url = user.get("/api/me").json()["avatar_url"]
    return None if url is None else str(url).rsplit("/", 1)[1]


def shown(server: ServerProcess) -> set[str]:
    """The avatars users point at, across the whole (fresh) database."""
    return set(db_column(server, "SELECT DISTINCT avatar FROM users WHERE avatar IS NOT NULL"))


def stored(server: ServerProcess) -> set[str]:
    return set(db_column(server, "SELECT name FROM avatars"))


@pytest.mark.postgres
def test_an_avatar_uploaded_through_one_node_is_served_by_the_other(tmp_path: Path) -> None:
    with two_nodes(tmp_path) as (a, b):
        ana = person(a)
        first = avatar_name(upload(ana, picture("PNG")))
        through_a, through_b = (
            fetch(a, f"/media/avatars/{first}"),
            fetch(b, f"/media/avatars/{first}"),
        )
        assert (through_a.status_code, through_b.status_code) == (200, 200)
        assert through_b.content == through_a.content
        assert hashlib.sha256(through_b.content).hexdigest() + ".webp" == first
        assert through_b.headers["content-type"] == "image/webp"
        assert through_b.headers["cache-control"] == IMMUTABLE
        assert through_b.headers["x-content-type-options"] == "nosniff"
        etag = through_b.headers["etag"]
        assert etag == f'"{first.removesuffix(".webp")}"' == through_a.headers["etag"]
        with httpx.Client(base_url=b.url, timeout=15) as browser:
            cached = browser.get(f"/media/avatars/{first}", headers={"If-None-Match": etag})
        assert cached.status_code == 304
        assert cached.content == b""
        assert cached.headers["etag"] == etag

        # Ana changes it through the other node: both serve the new one, neither the old.
        ana_on_b = same_person_on(ana, b)
        second = avatar_name(upload(ana_on_b, picture("JPEG")))
        assert avatar_of(ana) == second
        for node in (a, b):
            assert fetch(node, f"/media/avatars/{second}").status_code == 200
            assert fetch(node, f"/media/avatars/{first}").status_code == 404
        assert ana_on_b.delete("/api/me/avatar").status_code == 200
        assert fetch(a, f"/media/avatars/{second}").status_code == 404
        assert stored(a) == set()
        # Nothing was written to either node's disk.
        assert not (a.data_dir / "media").exists()
        assert not (b.data_dir / "media").exists()
        ana.close()
        ana_on_b.close()


@pytest.mark.postgres
def test_racing_changes_across_nodes_never_point_at_a_missing_avatar(tmp_path: Path) -> None:
    """Each round starts from Ana on X, Bo and Di on Y, Cy on none, then at once, on both
    nodes: Ana moves to Y and Bo to X (a swap), Cy picks X, Di removes hers. Ana's and Bo's
    clean-ups race the others' picks of the same pictures."""
    with two_nodes(tmp_path) as (a, b):
        ana, bo, cy, di = person(a), person(b), person(a), person(b)
        x, y = picture("PNG", (64, 64)), picture("PNG", (64, 64))
        with ThreadPoolExecutor(4) as pool:
            for _ in range(ROUNDS):
                x_name, y_name = avatar_name(upload(ana, x)), avatar_name(upload(bo, y))
                assert avatar_name(upload(di, y)) == y_name
                assert cy.delete("/api/me/avatar").status_code == 200

                racing: list[Callable[[], httpx.Response]] = [
                    lambda: upload(ana, y),
                    lambda: upload(bo, x),
                    lambda: upload(cy, x),
                    lambda: di.delete("/api/me/avatar"),
                ]
                answers = [job.result() for job in [pool.submit(run) for run in racing]]
                assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]

                mine = {u.username: avatar_of(u) for u in (ana, bo, cy, di)}
                assert mine == {
                    ana.username: y_name,
                    bo.username: x_name,
                    cy.username: x_name,
                    di.username: None,
                }
                for name in (x_name, y_name):
                    for node in (a, b):
                        assert fetch(node, f"/media/avatars/{name}").status_code == 200
                assert stored(a) == shown(a) == {x_name, y_name}

            # Everyone moves on at once: nothing is left behind.
            leaving = [pool.submit(u.delete, "/api/me/avatar") for u in (ana, bo, cy)]
            assert [job.result().status_code for job in leaving] == [200] * 3
        assert stored(a) == shown(a) == set()
        for user in (ana, bo, cy, di):
            user.close()


@pytest.mark.postgres
def test_one_user_changing_twice_at_once_on_two_nodes_leaves_no_unused_avatar(
    tmp_path: Path,
) -> None:
    """Each change must see the other's avatar as the old one to delete: one of them wins,
    and the loser's picture is not left behind."""
    with two_nodes(tmp_path) as (a, b):
        ana = person(a)
        ana_on_b = same_person_on(ana, b)
        with ThreadPoolExecutor(2) as pool:
            for _ in range(ROUNDS):
                pictures = picture("PNG", (64, 64)), picture("PNG", (64, 64))
                jobs = [
                    pool.submit(upload, user, data)
                    for user, data in zip((ana, ana_on_b), pictures, strict=True)
                ]
                names = {avatar_name(job.result()) for job in jobs}
                assert avatar_of(ana) in names
                assert stored(a) == shown(a) == {avatar_of(ana)}
        ana.close()
        ana_on_b.close()


# ---- upgrading from avatar files on disk -------------------------------------------------------
def thumbnail() -> tuple[str, bytes]:
    """A WebP as the earlier versions wrote them, with its content-addressed name."""
    out = io.BytesIO()
    picture_bytes = picture("PNG", (256, 256))
    with Image.open(io.BytesIO(picture_bytes)) as image:
        image.save(out, format="WEBP")
    data = out.getvalue()
    return hashlib.sha256(data).hexdigest() + ".webp", data


async def add_users(url: str, people: dict[str, str | None]) -> None:
    """Users as an earlier version stored them, each pointing at an avatar name (or none)."""
    database = Database(url)
    password_hash = PasswordHasher().hash(PASSWORD)
    try:
        async with database.transaction() as s:
            await s.execute(
                text(
                    "INSERT INTO users (username, username_key, full_name, password_hash, "
                    "avatar, created_at) VALUES (:who, :who, :who, :hash, :avatar, "
                    "CURRENT_TIMESTAMP)"
                ),
                [
                    {"who": who, "hash": password_hash, "avatar": name}
                    for who, name in people.items()
                ],
            )
    finally:
        await database.dispose()


@contextlib.contextmanager
def database_for(backend: str, data_dir: Path) -> Iterator[str | None]:
    """None for the data dir's own SQLite file, else a fresh PostgreSQL database's URL."""
    if backend == "sqlite":
        yield None
        return
    with postgres_database() as url:
        yield url


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_upgrading_imports_the_avatar_files_users_point_at(
    backend: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    folder = data_dir / "media" / "avatars"
    folder.mkdir(parents=True)
    with database_for(backend, data_dir) as url:
        # A data dir as the version before migration 0003 left it.
        database_url = url or f"sqlite+aiosqlite:///{data_dir / 'chinwag.db'}"
        await migrate(database_url, "0002")
        (shared, shared_data), (own, own_data), (stray, stray_data) = (
            thumbnail(),
            thumbnail(),
            thumbnail(),
        )
        damaged, _ = thumbnail()
        gone, _ = thumbnail()
        for name, data in ((shared, shared_data), (own, own_data), (stray, stray_data)):
            (folder / name).write_bytes(data)
        (folder / damaged).write_bytes(b"not what its name says")
        people = {
            "ana": shared,
            "bob": shared,
            "cyd": own,
            "dina": gone,
            "edda": damaged,
            "flo": None,
        }
        await add_users(database_url, people)

        env = dict(SERVER_ENV) if url is None else {**SERVER_ENV, "CHINWAG_DATABASE_URL": url}
        with run_server(data_dir, env) as server:  # migrates to the newest revision
            shutil.rmtree(data_dir / "media")  # served from the database from now on
            users = {who: User(server.url, who, who, PASSWORD) for who in people}
            for user in users.values():
                assert user.log_in().status_code == 200
            kept = {who: avatar_of(user) for who, user in users.items()}
            # Missing or damaged files were shown as nothing before; now they are named by
            # nobody (a foreign key would refuse them).
            assert kept == {**people, "dina": None, "edda": None}
            for name, data in ((shared, shared_data), (own, own_data)):
                served = fetch(server, f"/media/avatars/{name}")
                assert served.status_code == 200
                assert served.content == data
            for name in (stray, damaged, gone):
                assert fetch(server, f"/media/avatars/{name}").status_code == 404
            assert stored(server) == {shared, own}

            # The imported rows behave like any other: the last to move on deletes one.
            assert avatar_name(upload(users["ana"], picture("PNG"))) not in (shared, own)
            assert fetch(server, f"/media/avatars/{shared}").status_code == 200
            assert users["bob"].delete("/api/me/avatar").status_code == 200
            assert fetch(server, f"/media/avatars/{shared}").status_code == 404
            for user in users.values():
                user.close()
