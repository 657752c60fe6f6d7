"""Fixtures: one real server per database backend, and people who use it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support import PASSWORD, ServerProcess, User, run_server_on, unique_name

# Per-window limits raised out of the way of the tests (one client address signs up everyone);
# a test that proves a limit starts its own server with a low one.
RAISED_LIMITS = {
    "CHINWAG_MESSAGES_PER_WINDOW": "1000",
    "CHINWAG_TYPING_PER_WINDOW": "1000",
    "CHINWAG_RETRIES_PER_WINDOW": "1000",
    "CHINWAG_SIGNUPS_PER_WINDOW": "100000",
    "CHINWAG_AVATAR_UPLOADS_PER_WINDOW": "1000",
    "CHINWAG_ENTERS_PER_WINDOW": "1000",
    "CHINWAG_SEARCHES_PER_WINDOW": "1000",
    "CHINWAG_ROOMS_PER_WINDOW": "1000",
}
# A fast typing expiry so the suite can prove it without waiting long.
SERVER_ENV = {"CHINWAG_LOG_LEVEL": "info", **RAISED_LIMITS, "CHINWAG_TYPING_TTL_SECONDS": "1.5"}


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A running ``chinwag serve`` on a free port, on SQLite or on PostgreSQL."""
    data_dir = tmp_path_factory.mktemp(f"server-{request.param}")
    with run_server_on(request.param, data_dir, dict(SERVER_ENV)) as proc:
        yield proc


SHORT_SESSION_SECONDS = 3


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def short_session_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server whose sessions last ``SHORT_SESSION_SECONDS``."""
    env = {**SERVER_ENV, "CHINWAG_SESSION_TTL_SECONDS": str(SHORT_SESSION_SECONDS)}
    data_dir = tmp_path_factory.mktemp(f"short-session-{request.param}")
    with run_server_on(request.param, data_dir, env) as proc:
        yield proc


@pytest.fixture
def make_user(server: ServerProcess) -> Iterator[Callable[..., User]]:
    """Signs up a fresh user (logged in) on the server; closes their client afterwards."""
    made: list[User] = []

    def make(full_name: str = "Test Person", *, sign_up: bool = True) -> User:
        user = User(server.url, unique_name(), full_name, PASSWORD)
        made.append(user)
        if sign_up:
            response = user.sign_up()
            assert response.status_code == 201, response.text
        return user

    yield make
    for user in made:
        user.close()


@pytest.fixture
def data_dir(server: ServerProcess) -> Path:
    return server.data_dir
