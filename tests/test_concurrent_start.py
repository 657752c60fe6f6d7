"""Nodes started together on one fresh database all come up, and the schema is migrated once.

Each round starts its processes at the same moment on a new database, so each round is a
fresh chance for the race: before migrations took a lock, three nodes started together lost
one to the race in 8 rounds of 8 on PostgreSQL and in 6 of 8 on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from chinwag.db.engine import Database
from chinwag.db.migrate import alembic_config
from tests.conftest import SERVER_ENV
from tests.support import (
    PASSWORD,
    ServerProcess,
    User,
    postgres_database,
    run_servers_together,
    unique_name,
)

NODES = 3
ROUNDS = 4
KEY_READERS = 6
KEY_ROUNDS = 50


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """``ROUNDS`` database URLs, each never migrated: a file path or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield [
            f"sqlite+aiosqlite:///{tmp_path / f'round{i}' / 'chinwag.db'}" for i in range(ROUNDS)
        ]
        return
    urls: list[str] = []
    with contextlib.ExitStack() as stack:
        for _ in range(ROUNDS):
            urls.append(stack.enter_context(postgres_database()))
        yield urls


async def applied_revisions(url: str) -> list[str]:
    database = Database(url)
    try:
        async with database.engine.connect() as conn:
            rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
            return [row[0] for row in rows]
    finally:
        await database.dispose()


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def data_dir_of(url: str, tmp_path: Path, round_no: int) -> Path:
    """The round's own data dir: beside its SQLite file, or a new folder for PostgreSQL."""
    if url.startswith("sqlite"):
        data_dir = Path(url.split("///", 1)[1]).parent
    else:
        data_dir = tmp_path / f"r{round_no}"
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir


def csrf_token_crosses_nodes(servers: list[ServerProcess]) -> None:
    """A session and CSRF token made on each node authorise a write on the next one."""
    for i, maker in enumerate(servers):
        other = servers[(i + 1) % len(servers)]
        person = User(maker.url, unique_name(), "Node Hopper", PASSWORD)
        elsewhere = User(other.url, person.username, person.full_name, PASSWORD)
        try:
            assert person.sign_up().status_code == 201
            elsewhere.http.cookies = person.http.cookies
            elsewhere.csrf = person.csrf
            response = elsewhere.post("/api/rooms", json={"name": "Made elsewhere"})
            assert response.status_code == 201, response.text
        finally:
            person.close()
            elsewhere.close()


async def test_nodes_started_together_all_come_up(
    fresh_databases: list[str], tmp_path: Path
) -> None:
    for round_no, url in enumerate(fresh_databases):
        data_dir = data_dir_of(url, tmp_path, round_no)
        env = {**SERVER_ENV, "CHINWAG_DATABASE_URL": url}
        with run_servers_together(data_dir, env, NODES) as servers:
            assert await applied_revisions(url) == [head()]
            csrf_token_crosses_nodes(servers)


async def test_migrate_run_together_applies_once(
    fresh_databases: list[str], tmp_path: Path
) -> None:
    for round_no, url in enumerate(fresh_databases):
        data_dir = data_dir_of(url, tmp_path, round_no)
        env = {
            **os.environ,
            "CHINWAG_DATA_DIR": str(data_dir),
            "CHINWAG_DATABASE_URL": url,
        }
        runs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "chinwag", "migrate"),
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            for _ in range(NODES)
        ]
        async with asyncio.timeout(60):
            outputs = [(await run.communicate())[0].decode(errors="replace") for run in runs]
        assert [run.returncode for run in runs] == [0] * NODES, "\n".join(outputs)
        assert await applied_revisions(url) == [head()]


# Reads data dirs on stdin and answers each one's secret key, so one set of processes can
# race for many fresh data dirs without paying for a start each time.
KEY_READER = """
import sys
from chinwag.config import Settings
for line in sys.stdin:
    print(Settings(data_dir=line.strip()).signing_key.decode(), flush=True)
"""


def test_processes_starting_together_share_one_secret_key(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHINWAG_")}
    with contextlib.ExitStack() as stack:
        readers = [
            stack.enter_context(
                subprocess.Popen(  # noqa: S603 - our own interpreter
                    [sys.executable, "-c", KEY_READER],
                    env=env,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
            for _ in range(KEY_READERS)
        ]
        for round_no in range(KEY_ROUNDS):
            data_dir = tmp_path / f"r{round_no}"
            for reader in readers:
                assert reader.stdin is not None
                reader.stdin.write(f"{data_dir}\n")
                reader.stdin.flush()
            keys = {reader.stdout.readline().strip() for reader in readers if reader.stdout}
            assert keys == {(data_dir / "secret_key").read_text().strip()}
            assert "" not in keys
            assert [path.name for path in data_dir.iterdir()] == ["secret_key"]
