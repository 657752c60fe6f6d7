"""Fixtures: one real server per shape (SQLite, PostgreSQL, two nodes), and people who use it.

Every test that takes ``server`` runs in three shapes: one ``chinwag serve`` on SQLite, one on
PostgreSQL, and two nodes on one PostgreSQL database and one Redis (``nodes``), where the
people, sockets and requests a test makes land on the nodes in turn. ``-m "not nodes"`` leaves
the two-node shape out, ``-m nodes`` runs only it. A test that needs one process marks itself
``@pytest.mark.one_process("why")`` and is skipped in the two-node shape.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support import (
    PASSWORD,
    ServerCluster,
    ServerProcess,
    User,
    run_nodes,
    run_server_on,
    unique_name,
)
from tests.wire_support import RawClient, WireProcess, run_wire_process

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
# A short presence interval (batches come soon) and a small online page (a few people page).
SERVER_ENV = {
    "CHINWAG_LOG_LEVEL": "info",
    **RAISED_LIMITS,
    "CHINWAG_TYPING_TTL_SECONDS": "1.5",
    "CHINWAG_PRESENCE_INTERVAL_SECONDS": "0.2",
    "CHINWAG_PRESENCE_PAGE_SIZE": "3",
}

SHAPES = ["sqlite", "postgres", "nodes"]
SHAPED_FIXTURES = ("server", "short_session_server")
Server = ServerProcess | ServerCluster


@contextlib.contextmanager
def run_shape(shape: str, data_dir: Path, env: dict[str, str]) -> Iterator[Server]:
    if shape == "nodes":
        with run_nodes(data_dir, env) as cluster:
            yield cluster
        return
    with run_server_on(shape, data_dir, env) as proc:
        yield proc


@pytest.fixture(scope="session", params=SHAPES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A running Chinwag on free ports: one process on SQLite or on PostgreSQL, or two nodes."""
    data_dir = tmp_path_factory.mktemp(f"server-{request.param}")
    with run_shape(request.param, data_dir, dict(SERVER_ENV)) as running:
        yield running


SHORT_SESSION_SECONDS = 3


@pytest.fixture(scope="session", params=SHAPES)
def short_session_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A server whose sessions last ``SHORT_SESSION_SECONDS``."""
    env = {**SERVER_ENV, "CHINWAG_SESSION_TTL_SECONDS": str(SHORT_SESSION_SECONDS)}
    data_dir = tmp_path_factory.mktemp(f"short-session-{request.param}")
    with run_shape(request.param, data_dir, env) as running:
        yield running


@pytest.fixture(autouse=True)
def _first_node_first(request: pytest.FixtureRequest) -> None:
    """Every test starts at the first node: alone or in the whole suite, it places its people
    and sockets on the same nodes."""
    for name in SHAPED_FIXTURES:
        if name in request.fixturenames:
            running = request.getfixturevalue(name)
            if isinstance(running, ServerCluster):
                running.rewind()


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects on the marker added here
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        shapes = {callspec.params.get(name) for name in SHAPED_FIXTURES} if callspec else set()
        if "nodes" not in shapes:
            continue
        item.add_marker(pytest.mark.nodes)
        one_process = item.get_closest_marker("one_process")
        if one_process is not None:
            (why,) = one_process.args
            item.add_marker(pytest.mark.skip(reason=f"needs one process: {why}"))


@pytest.fixture
def make_user(server: Server) -> Iterator[Callable[..., User]]:
    """Signs up a fresh user (logged in) on the server's next node; closes their client
    afterwards. On several nodes, a user's sockets go to each node in turn (``online``)."""
    made: list[User] = []

    def make(full_name: str = "Test Person", *, sign_up: bool = True) -> User:
        user = User(server.url, unique_name(), full_name, PASSWORD, nodes=server.urls)
        made.append(user)
        if sign_up:
            response = user.sign_up()
            assert response.status_code == 201, response.text
        return user

    yield make
    for user in made:
        user.close()


@pytest.fixture
def data_dir(server: Server) -> Path:
    return server.data_dir


def run_conformance(
    tmp_path_factory: pytest.TempPathFactory, *options: str
) -> Iterator[WireProcess]:
    tmp = tmp_path_factory.mktemp("conformance")
    argv = ["-m", "chinwag", "conformance", "--port", "{port}", *options]
    with run_wire_process(argv, tmp) as running:
        yield running


@pytest.fixture(scope="session")
def conformance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WireProcess]:
    """``chinwag conformance``: the Socket.IO test suite's reference server, on chinwag.wire
    (heartbeats every 300 ms, 200 ms to answer: only what checks that configuration)."""
    yield from run_conformance(tmp_path_factory)


@pytest.fixture(scope="session")
def patient_conformance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WireProcess]:
    """The reference server with heartbeats and a connect deadline no busy machine misses:
    a test about packets never sees a ping, nor a session its slowness closed."""
    yield from run_conformance(
        tmp_path_factory,
        "--ping-interval",
        "600000",
        "--ping-timeout",
        "600000",
        "--connect-timeout",
        "600000",
    )


@pytest.fixture(scope="session")
def heartbeat_conformance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WireProcess]:
    """The reference server's 300 ms heartbeat with 2 s to answer a ping, and no connect
    deadline in sight: for the heartbeat tests, which a loaded machine must not fail by being
    slow."""
    yield from run_conformance(
        tmp_path_factory, "--ping-timeout", "2000", "--connect-timeout", "600000"
    )


@pytest.fixture(scope="session", params=["create_app", "create_wrapped_app"])
def wire_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WireProcess]:
    """tests/wire_app.py under uvicorn: the WireServer API that Chinwag's namespace uses,
    writing straight to uvicorn's websockets, or through ASGI ``send`` behind a middleware."""
    tmp = tmp_path_factory.mktemp("wire-app")
    argv = [
        "-m",
        "uvicorn",
        "--factory",
        f"tests.wire_app:{request.param}",
        "--port",
        "{port}",
        "--ws",
        "websockets-sansio",
        "--log-level",
        "warning",
    ]
    with run_wire_process(argv, tmp) as running:
        yield running


@pytest.fixture
async def raw(patient_conformance: WireProcess) -> AsyncIterator[RawClient]:
    """Engine.IO by hand against ``chinwag conformance`` (no heartbeat in sight)."""
    async with aiohttp.ClientSession() as http:
        yield RawClient(http, patient_conformance.url)


@pytest.fixture
async def raw_reference(conformance: WireProcess) -> AsyncIterator[RawClient]:
    """Engine.IO by hand against the reference configuration itself."""
    async with aiohttp.ClientSession() as http:
        yield RawClient(http, conformance.url)


@pytest.fixture
async def raw_heartbeat(heartbeat_conformance: WireProcess) -> AsyncIterator[RawClient]:
    """Engine.IO by hand against 300 ms heartbeats (2 s to answer, no connect deadline)."""
    async with aiohttp.ClientSession() as http:
        yield RawClient(http, heartbeat_conformance.url)
