"""Two real nodes on one PostgreSQL database and one Redis count as one server: a limit
counts what a person did through either node, and the log-in locks hold across both.

Only the answers of each node are used here (events crossing nodes: test_fanout_nodes.py).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import SERVER_ENV
from tests.live_support import error_code, online_at
from tests.node_support import SHARED_REDIS, redis_prefix
from tests.support import PASSWORD, ServerProcess, User, postgres_database, run_server, unique_name

REDIS_URL = SHARED_REDIS
TwoNodes = tuple[ServerProcess, ServerProcess]
FAILURES = 5
MESSAGES = 4
NODE_ENV = {
    **SERVER_ENV,
    "CHINWAG_LOGIN_FAILURES_PER_USER": str(FAILURES),
    "CHINWAG_LOGIN_FAILURES_PER_ADDRESS": "1000",  # every test client is 127.0.0.1
    "CHINWAG_LOGIN_WINDOW_SECONDS": "600",
    "CHINWAG_MESSAGES_PER_WINDOW": str(MESSAGES),
    "CHINWAG_MESSAGE_WINDOW_SECONDS": "600",
}


@pytest.fixture(scope="module")
def nodes(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TwoNodes]:
    """Nodes A and B: one fresh database, one Redis prefix, one secret key."""
    tmp = tmp_path_factory.mktemp("two-nodes")
    with redis_prefix() as prefix, postgres_database() as url:
        env = {
            **NODE_ENV,
            "CHINWAG_DATABASE_URL": url,
            "CHINWAG_REDIS_URL": REDIS_URL,
            "CHINWAG_REDIS_PREFIX": prefix,
            "CHINWAG_SECRET_KEY": secrets.token_urlsafe(32),
        }
        # one after the other: nodes started together on a fresh database are another
        # part of issue 7 (migrations under an advisory lock)
        with run_server(node_dir(tmp, "a"), env) as a, run_server(node_dir(tmp, "b"), env) as b:
            yield a, b


def node_dir(tmp: Path, name: str) -> Path:
    path = tmp / name
    path.mkdir()
    return path


@pytest.fixture
def people(nodes: TwoNodes) -> Iterator[tuple[User, User]]:
    """Ana, signed up on node A, and Bo, signed up on node B."""
    a, b = nodes
    ana = User(a.url, unique_name(), "Ana", PASSWORD)
    bo = User(b.url, unique_name(), "Bo", PASSWORD)
    try:
        assert ana.sign_up().status_code == 201
        assert bo.sign_up().status_code == 201
        yield ana, bo
    finally:
        ana.close()
        bo.close()


def log_in(node: ServerProcess, username: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{node.url}/api/session", json={"username": username, "password": password}, timeout=15
    )


def assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert error_code(response) == "rate_limited"
    assert "set-cookie" not in response.headers


def test_log_in_failures_through_either_node_count_on_both(
    nodes: TwoNodes, people: tuple[User, User]
) -> None:
    a, b = nodes
    ana, bo = people
    for node in (a, b, a, b, a):
        assert log_in(node, ana.username, "wrong password").status_code == 401
    assert_throttled(log_in(b, ana.username, PASSWORD))
    assert_throttled(log_in(a, ana.username, PASSWORD))
    # the throttle is per username, on both nodes
    assert log_in(a, bo.username, PASSWORD).status_code == 200


def test_a_log_in_on_one_node_clears_failures_counted_on_the_other(
    nodes: TwoNodes, people: tuple[User, User]
) -> None:
    a, b = nodes
    ana, _ = people
    for _ in range(FAILURES - 1):
        assert log_in(a, ana.username, "wrong password").status_code == 401
    assert log_in(b, ana.username, PASSWORD).status_code == 200
    for _ in range(FAILURES - 1):
        assert log_in(a, ana.username, "wrong password").status_code == 401
    assert log_in(a, ana.username, PASSWORD).status_code == 200


async def test_concurrent_guesses_through_both_nodes_cannot_outrun_the_throttle(
    nodes: TwoNodes, people: tuple[User, User]
) -> None:
    """The guesses for one username wait for one lock on both nodes, so no guess passes the
    check before the failures ahead of it are counted."""
    ana, _ = people
    async with httpx.AsyncClient(timeout=30) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    f"{nodes[i % 2].url}/api/session",
                    json={"username": ana.username, "password": f"guess number {i}"},
                )
                for i in range(12)
            )
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [401] * FAILURES + [429] * (12 - FAILURES), statuses


async def test_the_send_limit_counts_messages_sent_through_either_node(
    nodes: TwoNodes, people: tuple[User, User]
) -> None:
    ana, _ = people
    code = ana.create_room()
    # the session made on A works on B
    async with online_at([(ana, node.url) for node in nodes]) as (on_a, on_b):
        await on_a.enter(code)
        await on_b.enter(code)
        for sock in (on_a, on_b, on_a, on_b):
            ack = await sock.send(code, "within the limit")
            assert ack["ok"], ack
        for sock in (on_a, on_b):
            refused = await sock.send(code, "one too many")
            assert error_code(refused) == "rate_limited" and refused["error"]["retry_after"] > 0
    history = ana.get(f"/api/rooms/{code}/messages")
    assert history.status_code == 200, history.text
    assert [m["body"] for m in history.json()["messages"]] == ["within the limit"] * MESSAGES
