"""The control socket of a node without Redis: how `chinwag admin` reaches it, and who may not."""

from __future__ import annotations

import asyncio
import os
import stat
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chinwag.realtime import envelopes
from chinwag.realtime.control import ControlFanout
from chinwag.services.accounts import session_id_of
from chinwag.services.realtime import SessionEnded
from tests.conftest import SERVER_ENV
from tests.support import (
    PASSWORD,
    ServerProcess,
    User,
    chinwag_admin,
    connected,
    run_server,
    unique_name,
)


@pytest.fixture
def people() -> Iterator[list[User]]:
    made: list[User] = []
    yield made
    for user in made:
        user.close()


@pytest.fixture
def person(people: list[User]) -> Callable[[ServerProcess, str], User]:
    def make(server: ServerProcess, name: str) -> User:
        user = User(server.url, unique_name(), name, PASSWORD)
        people.append(user)
        assert user.sign_up().status_code == 201
        return user

    return make


Person = Callable[[ServerProcess, str], User]


def signing_key(server: ServerProcess) -> bytes:
    return (server.data_dir / "secret_key").read_text().strip().encode()


async def test_the_socket_is_private_and_refuses_a_client_without_the_token(
    tmp_path: Path, person: Person
) -> None:
    with run_server(tmp_path, dict(SERVER_ENV)) as server:
        path = server.data_dir / "control.sock"
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        bob = person(server, "Bob")
        async with connected(bob) as sock:
            reader, writer = await asyncio.open_unix_connection(str(path))
            hold = envelopes.encode(
                envelopes.Envelope(
                    envelopes.HOLD,
                    "intruder",
                    hold_id="h1",
                    revocations=(SessionEnded(session_id_of(bob.session_cookie)),),
                )
            )
            writer.write(struct.pack(">cI", b"A", 5) + b"wrong")
            writer.write(struct.pack(">cI", b"H", len(hold) + 3) + b"h1\n" + hold)
            # the node may close before our hold is even flushed: a reset is a refusal too
            try:
                await writer.drain()
                answer = await reader.read()
            except ConnectionResetError:
                answer = b""
            assert answer == b""  # closed without an answer
            writer.close()
            # nothing was held: bob still hears himself, and is still connected
            code = bob.create_room()
            await sock.enter(code)
            assert (await sock.send(code, "still here"))["ok"]
            await sock.wait_for("message", lambda m: m["body"] == "still here")
            assert not sock.disconnected.is_set()
    assert not path.exists()  # removed when the server stops


async def test_a_hold_whose_command_died_lapses_and_the_database_decides(
    tmp_path: Path, person: Person
) -> None:
    env = {**SERVER_ENV, "CHINWAG_HOLD_LEASE_SECONDS": "1"}
    with run_server(tmp_path, env) as server:
        ana, bob = person(server, "Ana"), person(server, "Bob")
        code = ana.create_room()
        assert bob.join(code).status_code == 200
        async with connected(ana) as ana_sock, connected(bob) as bob_sock:
            await ana_sock.enter(code)
            await bob_sock.enter(code)
            command = ControlFanout(server.data_dir / "control.sock", signing_key(server))
            assert await command.connect()
            hold = envelopes.Envelope(
                envelopes.HOLD,
                "a-dying-command",
                hold_id="lapsing",
                revocations=(SessionEnded(session_id_of(bob.session_cookie)),),
            )
            await command.publish_hold("lapsing", envelopes.encode(hold), 1.0)
            await command.close()  # it never commits nor says so
            assert (await ana_sock.send(code, "during the hold"))["ok"]
            await ana_sock.wait_for("message", lambda m: m["body"] == "during the hold")
            # the session is still in the database: the lapsed hold is released, not applied
            for attempt in range(100):
                body = f"after the lapse {attempt}"
                assert (await ana_sock.send(code, body))["ok"]
                try:
                    await bob_sock.wait_for("message", lambda m, b=body: m["body"] == b, 0.2)
                    break
                except AssertionError:
                    continue
            else:
                pytest.fail("the lapsed hold was never released")
            assert not bob_sock.received("message", lambda m: m["body"] == "during the hold")
            assert not bob_sock.disconnected.is_set()
            assert bob.get("/api/me").status_code == 200


def test_an_admin_command_without_a_running_server_still_works_and_says_so(
    tmp_path: Path, person: Person
) -> None:
    with run_server(tmp_path, dict(SERVER_ENV)) as server:
        bob = person(server, "Bob")
    assert not (tmp_path / "control.sock").exists()
    result = chinwag_admin(server, "disable", bob.username)
    assert result.returncode == 0, result.stderr
    assert "no running server answered" in result.stderr


async def test_a_socket_left_by_a_killed_server_is_taken_over_by_the_next(
    tmp_path: Path, person: Person, people: list[User]
) -> None:
    first = ServerProcess(data_dir=tmp_path, env=dict(SERVER_ENV))
    first.start()
    try:
        bob = person(first, "Bob")
    finally:
        assert first.proc is not None
        first.proc.kill()
        first.proc.wait(10)
    assert (tmp_path / "control.sock").exists()  # nobody removed it
    with run_server(tmp_path, dict(SERVER_ENV)) as second:
        bob = User(second.url, bob.username, "Bob", PASSWORD)
        people.append(bob)
        assert bob.log_in().status_code == 200
        async with connected(bob) as sock:
            result = chinwag_admin(second, "disable", bob.username)
            assert result.returncode == 0, result.stderr
            assert "no running server" not in result.stderr
            await asyncio.wait_for(sock.disconnected.wait(), 10)


def test_a_long_data_dir_still_gets_its_socket(tmp_path: Path, person: Person) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    assert len(os.fsencode(deep / "control.sock")) > 108
    with run_server(deep, dict(SERVER_ENV)) as server:
        assert stat.S_ISSOCK((deep / "control.sock").stat().st_mode)
        bob = person(server, "Bob")
        result = chinwag_admin(server, "disable", bob.username)
        assert result.returncode == 0, result.stderr
        assert "no running server" not in result.stderr
        assert bob.get("/api/me").status_code == 401
