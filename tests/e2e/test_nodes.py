"""Two people in real browsers, their sessions on different nodes behind nginx: the official
socket.io client starts on long-polling through nginx, and they chat as on one server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import SERVER_ENV
from tests.e2e.person import Person
from tests.node_support import nodes_on, own_redis
from tests.test_nginx import nodes_behind_nginx

TRIES = 20


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with nodes_behind_nginx(tmp_path_factory) as (url, _):
        yield url


def node_of(person: Person) -> str:
    response = person.context.request.get(f"{person.base_url}/api/me")
    assert response.ok, response.text()
    return response.headers["x-chinwag-node"]


def move_off(person: Person, node: str) -> None:
    """Log in again until nginx sends the new session to another node than ``node``."""
    for _ in range(TRIES):
        if node_of(person) != node:
            return
        person.context.clear_cookies()
        person.page.goto("/login")
        person.log_in()
        expect(
            person.page.get_by_role("heading", name=f"Hello, {person.full_name}")
        ).to_be_visible()
    raise AssertionError(f"{TRIES} sessions all went to {node}")


def test_people_on_different_nodes_chat_in_browsers(browser: Browser, cluster: str) -> None:
    ana = Person(browser, cluster, "ana", "Ana Lima")
    bo = Person(browser, cluster, "bob", "Bo Berg")
    try:
        ana.sign_up()
        bo.sign_up()
        move_off(bo, node_of(ana))
        assert node_of(ana) != node_of(bo)
        code, _ = ana.create_room("Across nodes")
        bo.join_by_code(code)
        ana.open_room(code)
        ana.expect_online("Bo Berg")
        bo.expect_online("Ana Lima")
        ana.send("Hello from one node")
        bo.expect_message("Hello from one node")
        bo.send("And back from the other")
        ana.expect_message("And back from the other")
        bo.composer.press_sequentially("typing over there")
        expect(ana.page.get_by_test_id("typing")).to_have_text("Bo Berg is typing…")
        bo.open_private("Ana Lima")
        bo.send_private("A private word")
        ana.open_private("Bo Berg")
        ana.expect_private("A private word")
    finally:
        ana.close()
        bo.close()


def test_a_browser_fetches_what_it_missed_while_redis_was_away(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Ana and Bo on two nodes; Redis goes away, Ana's message is stored but reaches nobody
    live; when Redis is back, Bo's web app is told to resync and fetches it."""
    with own_redis() as store:
        tmp = tmp_path_factory.mktemp("e2e-resync")
        with nodes_on(tmp, SERVER_ENV, 2, redis_url=store.url) as (one, two):
            ana = Person(browser, one.url, "ana", "Ana Lima")
            bo = Person(browser, two.url, "bob", "Bo Berg")
            try:
                ana.sign_up()
                bo.sign_up()
                code, _ = ana.create_room("Weathering")
                bo.join_by_code(code)
                ana.open_room(code)
                bo.expect_online("Ana Lima")
                ana.send("Before the storm")
                bo.expect_message("Before the storm")
                store.stop()
                ana.send("While Redis is away")
                ana.expect_message("While Redis is away")  # acked: stored
                store.start()
                bo.expect_message("While Redis is away")
            finally:
                ana.close()
                bo.close()
