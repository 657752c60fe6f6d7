"""``/metrics``: scraped and parsed as Prometheus does, while people chat; who may read it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import RAISED_LIMITS
from tests.live_support import Client, barrier, error_code, online, room_with
from tests.node_support import own_redis
from tests.support import (
    PASSWORD,
    REDIS_URL,
    ServerProcess,
    User,
    redis_prefix,
    run_server,
    unique_name,
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
TOKEN = "a-metrics-token-of-some-length"  # noqa: S105 - a test's token


def parse(text: str) -> Samples:
    """Every sample of a scrape, by name and labels, through Prometheus's own parser."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


async def scrape_until(url: str, name: str, want: float, **labels: str) -> Samples:
    """Scrape until ``name`` reaches ``want`` (a delivery is counted just after it is sent)."""
    for _ in range(200):
        samples = await scrape(url)
        if value(samples, name, **labels) >= want:
            return samples
        await asyncio.sleep(0.02)
    return samples


def people(server: ServerProcess, count: int) -> list[User]:
    users = []
    for _ in range(count):
        user = User(server.url, unique_name(), "Metric Person", PASSWORD)
        assert user.sign_up().status_code == 201
        users.append(user)
    return users


@contextlib.contextmanager
def chat_server(tmp_path: Path, env: dict[str, str]) -> Iterator[ServerProcess]:
    with run_server(tmp_path, {**RAISED_LIMITS, "CHINWAG_SEARCHES_PER_WINDOW": "1", **env}) as s:
        yield s


def messages_seen(*clients: Client) -> int:
    return sum(client.count("message") for client in clients)


async def chat_while_scraping(server: ServerProcess, messages: int) -> Samples:
    """Two people chat while /metrics is scraped and parsed over and over; returns the last
    scrape, taken once every message has reached both."""
    ana, bo = people(server, 2)
    code = room_with(ana, bo)
    async with online(ana, bo) as (a, b):
        await a.enter(code)
        await b.enter(code)
        scrapes = 0
        done = asyncio.Event()

        async def keep_scraping() -> None:
            nonlocal scrapes
            while not done.is_set():
                await scrape(server.url)  # parses, or fails the test
                scrapes += 1

        scraper = asyncio.create_task(keep_scraping())
        for i in range(messages):
            sender = a if i % 2 == 0 else b
            assert (await sender.send(code, f"hello {i}"))["ok"]
        await barrier(a, code, a, b)
        done.set()
        await scraper
        assert scrapes > 0
        # one search passes, the second is refused by CHINWAG_SEARCHES_PER_WINDOW=1
        assert (await a.call("users:search", {"room": code, "q": ""}))["ok"]
        assert error_code(await a.call("users:search", {"room": code, "q": ""})) == "rate_limited"
        seen = messages_seen(a, b)
        samples = await scrape_until(
            server.url, "chinwag_event_deliveries_total", seen, event="message"
        )
        assert value(samples, "chinwag_event_deliveries_total", event="message") == seen
        assert value(samples, "chinwag_socket_connections") == 2
    for user in (ana, bo):
        user.close()
    return samples


def assert_chat_counted(samples: Samples, messages: int) -> None:
    sent = messages + 1  # and the barrier
    assert value(samples, "chinwag_socket_events_received_total", event="message:send") == sent
    assert value(samples, "chinwag_socket_acks_total", event="message:send", outcome="ok") == sent
    assert value(samples, "chinwag_socket_events_received_total", event="room:enter") == 2
    assert value(samples, "chinwag_events_published_total", event="message") == sent
    assert value(samples, "chinwag_socket_acks_total", event="users:search", outcome="ok") == 1
    refused = {"event": "users:search", "outcome": "rate_limited"}
    assert value(samples, "chinwag_socket_acks_total", **refused) == 1
    assert value(samples, "chinwag_rate_limit_refusals_total", limiter="searches") == 1
    # every delivered event was timed from its publish
    assert value(samples, "chinwag_fanout_lag_seconds_count") >= sent
    assert value(samples, "chinwag_db_pool_size") >= 1
    assert ("chinwag_db_pool_checked_out", ()) in samples


async def test_chat_on_one_node_is_counted_while_it_is_scraped(tmp_path: Path) -> None:
    with chat_server(tmp_path, {}) as server:
        samples = await chat_while_scraping(server, messages=20)
        assert_chat_counted(samples, messages=20)
        assert value(samples, "chinwag_fanout_listener_up", backend="memory") == 1
        # the sockets are gone: the gauge follows
        after = await scrape(server.url)
        assert value(after, "chinwag_socket_connections") == 0


async def test_a_node_on_redis_reports_its_listener(tmp_path: Path) -> None:
    with (
        redis_prefix() as prefix,
        chat_server(
            tmp_path, {"CHINWAG_REDIS_URL": REDIS_URL, "CHINWAG_REDIS_PREFIX": prefix}
        ) as s,
    ):
        samples = await chat_while_scraping(s, messages=6)
        assert_chat_counted(samples, messages=6)
        assert value(samples, "chinwag_fanout_listener_up", backend="redis") == 1


async def wait_for_value(url: str, name: str, want: float, **labels: str) -> Samples:
    """Scrape until ``name`` is exactly ``want`` (for a state that changes by itself)."""
    for _ in range(500):
        samples = await scrape(url)
        if value(samples, name, **labels) == want:
            return samples
        await asyncio.sleep(0.02)
    raise AssertionError(f"{name}{labels} never became {want}: {value(samples, name, **labels)}")


async def test_the_listener_gauge_falls_while_redis_is_away_and_rises_again(
    tmp_path: Path,
) -> None:
    with own_redis() as store:
        with run_server(tmp_path, {"CHINWAG_REDIS_URL": store.url}) as server:
            await wait_for_value(server.url, "chinwag_fanout_listener_up", 1, backend="redis")
            store.stop()
            await wait_for_value(server.url, "chinwag_fanout_listener_up", 0, backend="redis")
            store.start()
            await wait_for_value(server.url, "chinwag_fanout_listener_up", 1, backend="redis")


async def test_an_http_refusal_by_the_log_in_throttle_is_counted(tmp_path: Path) -> None:
    with run_server(tmp_path, {"CHINWAG_LOGIN_FAILURES_PER_USER": "1"}) as server:
        (ana,) = people(server, 1)
        statuses = [ana.log_in("not the password").status_code for _ in range(3)]
        ana.close()
        assert statuses[-1] == 429, statuses
        samples = await scrape(server.url)
        refused = statuses.count(429)
        assert value(samples, "chinwag_rate_limit_refusals_total", limiter="failures-per-user") == (
            refused
        )


# ---- who may read them ------------------------------------------------------------------------
def test_metrics_off_answers_not_found(tmp_path: Path) -> None:
    with run_server(tmp_path, {"CHINWAG_METRICS": "off"}) as server:
        response = httpx.get(f"{server.url}/metrics")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_metrics_local_answers_loopback_but_not_what_a_proxy_forwards(tmp_path: Path) -> None:
    with run_server(tmp_path, {"CHINWAG_TRUST_PROXY": "true"}) as server:
        assert httpx.get(f"{server.url}/metrics").status_code == 200
        # a proxy on this machine passing on a request from elsewhere, or an outsider
        # claiming to be local: either way a forwarding header is there
        for header in ({"X-Forwarded-For": "203.0.113.9"}, {"X-Forwarded-For": "127.0.0.1"}):
            response = httpx.get(f"{server.url}/metrics", headers=header)
            assert response.status_code == 403, response.text
            assert response.json()["error"]["code"] == "forbidden"
        assert "/metrics" not in httpx.get(f"{server.url}/api/openapi.json").json()["paths"]


def test_metrics_token_wants_the_bearer_token(tmp_path: Path) -> None:
    env = {"CHINWAG_METRICS": "token", "CHINWAG_METRICS_TOKEN": TOKEN}
    with run_server(tmp_path, env) as server:
        url = f"{server.url}/metrics"
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token-wrong-token"},
            {"Authorization": TOKEN},
        ):
            response = httpx.get(url, headers=headers)
            assert response.status_code == 401, response.text
            assert response.json()["error"]["code"] == "not_authenticated"
        response = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        assert "chinwag_socket_connections" in dict(
            (f.name, f) for f in text_string_to_metric_families(response.text)
        )
        assert TOKEN not in server.log()


@pytest.mark.parametrize("token", [None, "short"])
def test_token_mode_refuses_to_start_without_a_long_token(
    tmp_path: Path, token: str | None
) -> None:
    env = {"CHINWAG_METRICS": "token"}
    if token is not None:
        env["CHINWAG_METRICS_TOKEN"] = token
    server = ServerProcess(data_dir=tmp_path, env=env)
    with pytest.raises(RuntimeError, match="CHINWAG_METRICS_TOKEN"):
        server.start()
    server.stop()
