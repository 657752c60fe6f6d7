"""nginx in front of two nodes, with the repository's own config (deploy/nginx.conf).

What is proven here is the load balancer's part: requests spread over the nodes by session,
one client's requests (its long-polling session included) stay on one node, and both
Socket.IO transports work through nginx. Events crossing from one node to another are the
fan-out's part of the multi-node issue, not yet built.
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
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest

from tests.conftest import SERVER_ENV
from tests.live_support import Client
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


@pytest.fixture(scope="module")
def behind_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Two nodes on one PostgreSQL database (same secret key), nginx in front."""
    if not os.path.exists(NGINX):
        pytest.fail("nginx is not installed (scripts/services installs it)")
    secret = secrets.token_urlsafe(48)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(postgres_database())
        ports = []
        for name in NODES:  # one after the other: concurrent migrations are another test's
            env = {
                **SERVER_ENV,
                "CHINWAG_DATABASE_URL": url,
                "CHINWAG_SECRET_KEY": secret,
                "CHINWAG_TRUST_PROXY": "true",
                "CHINWAG_NODE_NAME": name,
            }
            node = ServerProcess(data_dir=tmp_path_factory.mktemp(name), env=env)
            node.start()
            stack.callback(node.stop)
            ports.append(node.port)
        yield stack.enter_context(run_nginx(tmp_path_factory.mktemp("nginx"), ports))


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


@pytest.mark.one_process("the two-node shape names its nodes")
def test_the_node_header_is_off_by_default(server: ServerProcess) -> None:
    response = httpx.get(f"{server.url}/healthz")
    assert response.status_code == 200 and "x-chinwag-node" not in response.headers
