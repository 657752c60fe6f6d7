"""nginx in front of two nodes, with the repository's own config (deploy/nginx.conf).

Requests spread over the nodes by session, one client's requests (its long-polling session
included) stay on one node, both Socket.IO transports work through nginx, people whose
sessions live on different nodes chat as on one, and when a node is killed its clients
reconnect through nginx to a survivor and carry on, with no acked message lost.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest

from tests.conftest import SERVER_ENV
from tests.live_support import Client, room_with
from tests.node_support import SHARED_REDIS, redis_prefix
from tests.support import (
    PASSWORD,
    ServerProcess,
    User,
    free_port,
    postgres_database,
    unique_name,
)

DEPLOY_CONFIG = Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NODES = ("node-a", "node-b")


def render_config(tmp: Path, listen: int, upstreams: list[int]) -> Path:
    """The deploy config with this test's ports, inside a minimal nginx.conf of its own."""
    site = DEPLOY_CONFIG.read_text()
    servers = "\n".join(
        f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in upstreams
    )
    site, count = re.subn(r"(?m)^    server 127\.0\.0\.1:\d+[^\n]*\n", "", site)
    assert count == 2, "deploy/nginx.conf no longer lists two example upstream servers"
    site = site.replace(
        "    hash $cookie_chinwag_session consistent;\n",
        "    hash $cookie_chinwag_session consistent;\n" + servers + "\n",
    )
    site, count = re.subn(r"(?m)^    listen 80;$", f"    listen 127.0.0.1:{listen};", site)
    assert count == 1
    temp = "\n".join(
        f"    {kind}_temp_path {tmp / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""worker_processes 1;
pid {tmp / "nginx.pid"};
error_log {tmp / "error.log"} warn;
{"user root;" if os.geteuid() == 0 else ""}
events {{ worker_connections 256; }}
http {{
    access_log off;
{temp}
{site}
}}
"""
    )
    return conf


@contextlib.contextmanager
def run_nginx(tmp: Path, upstreams: list[int]) -> Iterator[str]:
    port = free_port()
    conf = render_config(tmp, port, upstreams)
    with (tmp / "stderr.log").open("wb") as stderr:
        proc = subprocess.Popen(
            [NGINX, "-p", str(tmp), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"nginx exited: {proc.stderr.read().decode() if proc.stderr else ''}"
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not start listening")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGQUIT)  # graceful; then for good
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def nodes_behind_nginx(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, list[ServerProcess]]]:
    """Two nodes on one PostgreSQL database and one Redis (same secret key), nginx in
    front; yields nginx's URL and the nodes."""
    if not os.path.exists(NGINX):
        pytest.fail("nginx is not installed (scripts/services installs it)")
    secret = secrets.token_urlsafe(48)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(postgres_database())
        prefix = stack.enter_context(redis_prefix())
        nodes = []
        for name in NODES:  # one after the other: concurrent migrations are another test's
            env = {
                **SERVER_ENV,
                "CHINWAG_DATABASE_URL": url,
                "CHINWAG_REDIS_URL": SHARED_REDIS,
                "CHINWAG_REDIS_PREFIX": prefix,
                "CHINWAG_SECRET_KEY": secret,
                "CHINWAG_TRUST_PROXY": "true",
                "CHINWAG_NODE_NAME": name,
            }
            node = ServerProcess(data_dir=tmp_path_factory.mktemp(name), env=env)
            node.start()
            stack.callback(node.stop)
            nodes.append(node)
        ports = [node.port for node in nodes]
        yield stack.enter_context(run_nginx(tmp_path_factory.mktemp("nginx"), ports)), nodes


@pytest.fixture(scope="module")
def behind_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with nodes_behind_nginx(tmp_path_factory) as (url, _):
        yield url


def node_of(user: User) -> str:
    response = user.get("/api/me")
    assert response.status_code == 200, response.text
    return response.headers["x-chinwag-node"]


def test_sessions_spread_over_the_nodes_and_each_stays_on_one(behind_nginx: str) -> None:
    users = [User(behind_nginx, unique_name(), "Person", PASSWORD) for _ in range(16)]
    try:
        for user in users:
            assert user.sign_up().status_code == 201
        homes = [node_of(user) for user in users]
        assert set(homes) == set(NODES), homes  # 16 random sessions: both nodes serve
        for user, home in zip(users, homes, strict=True):
            assert {node_of(user) for _ in range(4)} == {home}
        # a session made through one node works on every other (same key, same database)
        assert users[0].post("/api/rooms", json={"name": "Made anywhere"}).status_code == 201
    finally:
        for user in users:
            user.close()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_socket_io_works_through_nginx(behind_nginx: str, transport: str) -> None:
    ana = User(behind_nginx, unique_name(), "Ana", PASSWORD)
    try:
        assert ana.sign_up().status_code == 201
        code = ana.create_room()
        cookie = {"Cookie": f"chinwag_session={ana.session_cookie}"}
        # python-engineio sends connect()'s headers with the handshake only: the cookie that
        # nginx hashes on must ride on every poll, so it goes into the HTTP session (a
        # browser, or the official JS client's extraHeaders, send it every time anyway)
        http = aiohttp.ClientSession(headers=cookie)
        client = Client(behind_nginx, ana.session_cookie, http_session=http)
        await client.client.connect(
            behind_nginx, headers=cookie, transports=[transport], wait_timeout=10
        )
        try:
            await client.enter(code)
            # several round trips: with polling each is its own HTTP request, and every one
            # must reach the node that holds the Engine.IO session
            for i in range(5):
                ack = await client.send(code, f"through nginx {i}")
                assert ack["ok"], ack
                await client.wait_for("message", lambda m, i=i: m["body"] == f"through nginx {i}")
        finally:
            await client.close()
            await http.close()
        history = ana.get(f"/api/rooms/{code}/messages").json()["messages"]
        assert [m["body"] for m in history][::-1] == [f"through nginx {i}" for i in range(5)]
    finally:
        ana.close()


def people_on_both_nodes(url: str) -> dict[str, User]:
    """One person whose session nginx sends to each node (signed up until both are found)."""
    found: dict[str, User] = {}
    for _ in range(40):
        user = User(url, unique_name(), "Person", PASSWORD)
        assert user.sign_up().status_code == 201
        home = node_of(user)
        if home in found:
            user.close()
            continue
        found[home] = user
        if len(found) == len(NODES):
            return found
    raise AssertionError(f"40 sessions all went to {set(found)}")


@contextlib.asynccontextmanager
async def through_nginx(url: str, user: User) -> AsyncIterator[Client]:
    cookie = {"Cookie": f"chinwag_session={user.session_cookie}"}
    async with aiohttp.ClientSession(headers=cookie) as http:
        client = Client(url, user.session_cookie, http_session=http)
        await client.client.connect(url, headers=cookie, transports=["websocket"], wait_timeout=10)
        try:
            yield client
        finally:
            await client.close()


async def test_people_on_different_nodes_chat_as_on_one(behind_nginx: str) -> None:
    homes = people_on_both_nodes(behind_nginx)
    ana, bo = homes["node-a"], homes["node-b"]
    try:
        code = room_with(ana, bo)
        async with through_nginx(behind_nginx, ana) as a, through_nginx(behind_nginx, bo) as b:
            for sock in (a, b):
                await sock.enter(code)
            public = await a.send(code, "from node a")
            private = await b.send(code, "from node b, to Ana", to=ana.username)
            assert public["ok"] and private["ok"], (public, private)
            await b.wait_for("message", lambda m: m["id"] == public["message"]["id"])
            await a.wait_for("message", lambda m: m["id"] == private["message"]["id"])
    finally:
        ana.close()
        bo.close()


async def test_a_killed_node_loses_no_acked_message_and_its_clients_move_on(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with nodes_behind_nginx(tmp_path_factory) as (url, nodes):
        homes = people_on_both_nodes(url)
        ana, bo = homes["node-a"], homes["node-b"]
        victim = next(node for node in nodes if node.env["CHINWAG_NODE_NAME"] == "node-b")
        try:
            code = room_with(ana, bo)
            acked = []
            async with through_nginx(url, ana) as a, through_nginx(url, bo) as b:
                for sock in (a, b):
                    await sock.enter(code)
                for i in range(5):
                    for sock in (a, b):
                        ack = await sock.send(code, f"before the kill {i}")
                        assert ack["ok"], ack
                        acked.append(ack["message"]["id"])
                assert victim.proc is not None
                victim.proc.send_signal(signal.SIGKILL)
                victim.proc.wait(10)
                await b.wait_closed()
                # Bo's reconnect goes through nginx to the survivor, with the same session
                async with through_nginx(url, bo) as again:
                    await again.enter(code)
                    assert node_of(bo) == "node-a"
                    ack = await again.send(code, "after the kill")
                    assert ack["ok"], ack
                    acked.append(ack["message"]["id"])
                    await a.wait_for("message", lambda m: m["id"] == ack["message"]["id"])
            messages = ana.get(f"/api/rooms/{code}/messages", params={"limit": 50}).json()
            stored = sorted(m["id"] for m in messages["messages"])
            assert stored == sorted(acked)
        finally:
            ana.close()
            bo.close()


@pytest.mark.one_process("the two-node shape names its nodes")
def test_the_node_header_is_off_by_default(server: ServerProcess) -> None:
    response = httpx.get(f"{server.url}/healthz")
    assert response.status_code == 200 and "x-chinwag-node" not in response.headers
