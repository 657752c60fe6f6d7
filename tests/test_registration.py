"""Registration modes over HTTP: open, invite (codes from `chinwag admin invite`), closed."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SERVER_ENV
from tests.support import (
    PG_HOST,
    PG_PORT,
    PG_USER,
    ServerProcess,
    chinwag_admin,
    db_column,
    run_server,
    run_server_on,
    unique_name,
)

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def sign_up(server: ServerProcess, invite: str | None = None, **extra: Any) -> httpx.Response:
    body: dict[str, Any] = {
        "username": unique_name(),
        "full_name": "New Person",
        "password": "correct horse battery",
        **extra,
    }
    if invite is not None:
        body["invite"] = invite
    return httpx.post(f"{server.url}/api/users", json=body, timeout=15)


def user_count(server: ServerProcess) -> int:
    return int(db_column(server, "SELECT count(*) FROM users")[0])


def admin_invite(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """`chinwag admin invite ARGS` as an operator runs it beside the server (same env)."""
    return chinwag_admin(server, "invite", *args)


def new_code(server: ServerProcess, *args: str) -> str:
    result = admin_invite(server, *args)
    assert result.returncode == 0, result.stderr
    code = result.stdout.strip()
    assert len(code) >= 16 and "\n" not in code
    return code


def db_execute(server: ServerProcess, sql: str) -> None:
    """Run one writing statement on the server's own database, committed."""
    url = server.env.get("CHINWAG_DATABASE_URL")
    if url is None:
        with contextlib.closing(sqlite3.connect(server.data_dir / "chinwag.db")) as conn:
            conn.execute(sql)
            conn.commit()
        return
    subprocess.run(
        ["psql", "-h", PG_HOST, "-p", PG_PORT, "-U", PG_USER, "-d", url.rsplit("/", 1)[1]]
        + ["-qAtc", sql],
        check=True,
        capture_output=True,
    )


@contextlib.contextmanager
def invite_server(backend: str, tmp_path: Path) -> Iterator[ServerProcess]:
    env = {**SERVER_ENV, "CHINWAG_REGISTRATION": "invite"}
    with run_server_on(backend, tmp_path, env) as server:
        yield server


def test_open_by_default(tmp_path: Path) -> None:
    with run_server(tmp_path, dict(SERVER_ENV)) as server:
        assert httpx.get(f"{server.url}/api/registration").json() == {"mode": "open"}
        response = sign_up(server)
        assert response.status_code == 201, response.text
        # an invite code is not needed, and one that names nothing is ignored
        assert sign_up(server, invite="no-such-code").status_code == 201
        assert user_count(server) == 2


def test_closed_refuses_every_sign_up(tmp_path: Path) -> None:
    env = {**SERVER_ENV, "CHINWAG_REGISTRATION": "closed"}
    with run_server(tmp_path, env) as server:
        assert httpx.get(f"{server.url}/api/registration").json() == {"mode": "closed"}
        code = new_code(server)  # an invite does not open a closed server
        for invite in (None, code):
            response = sign_up(server, invite=invite)
            assert response.status_code == 403
            assert response.json()["error"]["code"] == "registration_closed"
        assert user_count(server) == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_invite_code_allows_its_uses_then_refuses(backend: str, tmp_path: Path) -> None:
    with invite_server(backend, tmp_path) as server:
        assert httpx.get(f"{server.url}/api/registration").json() == {"mode": "invite"}
        for invite, error in ((None, "invite_required"), ("", "invite_required")):
            response = sign_up(server, invite=invite)
            assert response.status_code == 403, response.text
            assert response.json()["error"]["code"] == error
        response = sign_up(server, invite="not-a-code")
        assert response.status_code == 403
        body = response.json()["error"]
        assert body["code"] == "invite_invalid"
        assert "invite code" in body["message"]

        code = new_code(server, "--uses", "2")
        # only the code's hash is stored
        assert db_column(server, "SELECT id FROM site_invites") == [
            hashlib.sha256(code.encode()).hexdigest()
        ]
        first = sign_up(server, invite=f"  {code} ")  # pasted with spaces
        assert first.status_code == 201, first.text
        # a sign-up refused for another reason leaves the use untaken
        taken = sign_up(server, invite=code, username=first.json()["username"])
        assert taken.status_code == 409
        assert db_column(server, "SELECT uses_left FROM site_invites") == ["1"]
        assert sign_up(server, invite=code).status_code == 201
        third = sign_up(server, invite=code)
        assert third.status_code == 403
        assert third.json()["error"]["code"] == "invite_invalid"
        assert user_count(server) == 2
        assert db_column(server, "SELECT uses_left FROM site_invites") == ["0"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_expired_invite_is_refused(backend: str, tmp_path: Path) -> None:
    with invite_server(backend, tmp_path) as server:
        code = new_code(server, "--uses", "5", "--expires-in", "1h")
        assert sign_up(server, invite=code).status_code == 201
        digest = hashlib.sha256(code.encode()).hexdigest()
        db_execute(
            server,
            f"UPDATE site_invites SET expires_at = '2000-01-01 00:00:00' WHERE id = '{digest}'",  # noqa: S608
        )
        response = sign_up(server, invite=code)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "invite_invalid"
        assert user_count(server) == 1
        assert db_column(server, "SELECT uses_left FROM site_invites") == ["4"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_sign_ups_cannot_overuse_a_code(backend: str, tmp_path: Path) -> None:
    with invite_server(backend, tmp_path) as server:
        code = new_code(server, "--uses", "1")

        async def race() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                bodies = [
                    {"username": unique_name(), "full_name": "Racer", "password": "p" * 12}
                    | {"invite": code}
                    for _ in range(6)
                ]
                return await asyncio.gather(*(client.post("/api/users", json=b) for b in bodies))

        responses = asyncio.run(race())
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201, 403, 403, 403, 403, 403], [r.text for r in responses]
        refused = [r.json()["error"]["code"] for r in responses if r.status_code == 403]
        assert set(refused) == {"invite_invalid"}
        assert user_count(server) == 1
        assert db_column(server, "SELECT uses_left FROM site_invites") == ["0"]


def test_admin_invite_refuses_bad_options(tmp_path: Path) -> None:
    server = ServerProcess(data_dir=tmp_path, env={})
    for args in (("--uses", "0"), ("--expires-in", "0s"), ("--expires-in", "soon")):
        result = admin_invite(server, *args)
        assert result.returncode == 2
        assert "invite: error" in result.stderr
    assert not (tmp_path / "chinwag.db").exists()
