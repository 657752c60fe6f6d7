"""Test helpers that read like a story: a real server process, HTTP users, socket clients."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
import socketio

from chinwag.events import SERVER_EVENTS

PASSWORD = "correct horse battery"


def free_port() -> int:
    """A loopback port that is free now (see ``free_ports``)."""
    return free_ports(1)


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive loopback ports that are free now, picked below the
    kernel's ephemeral range: there no outgoing connection (of the other test processes, to
    PostgreSQL, Redis or a server) takes one before the server we start binds it. (A
    supervisor binds its workers' ports only seconds later, after it has migrated.)"""
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    low, high = 10_000, max(10_001, ephemeral_low - count)
    for _ in range(50):
        first = random.randrange(low, high)
        with contextlib.ExitStack() as stack:
            try:
                for port in range(first, first + count):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return first
    raise RuntimeError(f"found no {count} consecutive free ports")


def unique_name(prefix: str = "u") -> str:
    return f"{prefix}{secrets.token_hex(5)}"


@dataclass
class ServerProcess:
    """``chinwag serve`` in a subprocess on a free loopback port."""

    data_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def urls(self) -> list[str]:
        """Every node's address: this one's (a ``ServerCluster`` has several)."""
        return [self.url]

    def start(self, timeout: float = 30.0) -> None:
        self.launch()
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()  # a server that never became ready is not left running
            raise

    def launch(self) -> None:
        """Start the process without waiting for it (``wait_ready`` waits)."""
        self.log_path = self.data_dir / f"server-{self.port}.log"
        env = {**os.environ, "CHINWAG_DATA_DIR": str(self.data_dir), **self.env}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "chinwag", "serve", "--port", str(self.port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float = 30.0) -> None:
        assert self.proc is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not become ready:\n{self.log()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""


PG_HOST = "127.0.0.1"
PG_PORT = "5432"
PG_USER = "postgres"


def psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-h", PG_HOST, "-p", PG_PORT, "-U", PG_USER, "-d", "test", "-qAtc", sql],
        check=True,
        capture_output=True,
    )


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database on loopback, dropped afterwards; yields its asyncpg URL."""
    name = f"chinwag_test_{secrets.token_hex(6)}"
    psql(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def run_server(tmp: Path, env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    server = ServerProcess(data_dir=tmp, env=env or {})
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def run_servers_together(
    data_dir: Path, env: dict[str, str], count: int
) -> Iterator[list[ServerProcess]]:
    """``count`` servers on one data dir and database, all launched before any is awaited:
    they migrate and create the secret key at the same moment, as nodes started together do."""
    with run_together([ServerProcess(data_dir=data_dir, env=env) for _ in range(count)]) as run:
        yield run


@contextlib.contextmanager
def run_together(servers: list[ServerProcess]) -> Iterator[list[ServerProcess]]:
    """Launch every one of ``servers``, then wait for each; stop them all afterwards."""
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()


@contextlib.contextmanager
def run_server_on(backend: str, data_dir: Path, env: dict[str, str]) -> Iterator[ServerProcess]:
    """``run_server`` on SQLite (in ``data_dir``) or on a fresh PostgreSQL database."""
    if backend == "sqlite":
        with run_server(data_dir, env) as proc:
            yield proc
        return
    with (
        postgres_database() as url,
        run_server(data_dir, {**env, "CHINWAG_DATABASE_URL": url}) as proc,
    ):
        yield proc


# ---- several nodes ----------------------------------------------------------------------------
REDIS_URL = "redis://127.0.0.1:6379/1"  # the suite's nodes; each cluster has its own prefix
NODE_NAMES = ("node-a", "node-b", "node-c")


@contextlib.contextmanager
def redis_prefix(url: str = REDIS_URL) -> Iterator[str]:
    """A fresh key and channel prefix on the shared Redis; its keys are deleted afterwards."""
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        raise RuntimeError(f"no Redis at {url} (scripts/services starts one): {error}") from None
    prefix = f"test-{secrets.token_hex(6)}"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


@dataclass
class ServerCluster:
    """Several nodes of one Chinwag: ``chinwag serve`` processes that share a PostgreSQL
    database, a Redis and a secret key, and nothing else (each has its own data dir).

    It stands in for a ``ServerProcess`` in the suite: each read of ``url`` is the next node's
    address, so the people, clients and requests a test makes one after another land on the
    nodes in turn (``rewind`` starts again from the first node, for every test alike)."""

    nodes: list[ServerProcess]
    data_dir: Path
    env: dict[str, str]
    turn: int = 0

    @property
    def url(self) -> str:
        node = self.nodes[self.turn % len(self.nodes)]
        self.turn += 1
        return node.url

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def rewind(self) -> None:
        self.turn = 0

    def node_name(self, url: str) -> str:
        """The name a node answers as (``X-Chinwag-Node``), from its address."""
        (node,) = [node for node in self.nodes if node.url == url]
        return node.env["CHINWAG_NODE_NAME"]

    def log(self) -> str:
        return "".join(
            f"---- {node.env['CHINWAG_NODE_NAME']} ({node.url})\n{node.log()}"
            for node in self.nodes
        )


@contextlib.contextmanager
def run_nodes(data_dir: Path, env: dict[str, str], count: int = 2) -> Iterator[ServerCluster]:
    """``count`` nodes started together on a fresh PostgreSQL database and a fresh Redis
    prefix, with one secret key and a name each (``node-a``, ``node-b``…)."""
    with postgres_database() as database_url, redis_prefix() as prefix:
        shared = {
            **env,
            "CHINWAG_DATABASE_URL": database_url,
            "CHINWAG_REDIS_URL": REDIS_URL,
            "CHINWAG_REDIS_PREFIX": prefix,
            "CHINWAG_SECRET_KEY": secrets.token_urlsafe(32),
        }
        nodes = []
        for name in NODE_NAMES[:count]:
            (data_dir / name).mkdir()
            node_env = {**shared, "CHINWAG_NODE_NAME": name}
            nodes.append(ServerProcess(data_dir=data_dir / name, env=node_env))
        with run_together(nodes):
            for node in nodes:  # each address is the node it claims to be
                answer = httpx.get(f"{node.url}/healthz", timeout=15)
                assert answer.headers.get("x-chinwag-node") == node.env["CHINWAG_NODE_NAME"]
            yield ServerCluster(nodes, data_dir, shared)


class User:
    """A person using the HTTP API: their own cookie jar and CSRF token. Their HTTP requests
    go to ``base_url``; their sockets, to ``nodes`` in turn (``socket_url``)."""

    def __init__(
        self,
        base_url: str,
        username: str,
        full_name: str,
        password: str,
        *,
        nodes: Sequence[str] = (),
    ) -> None:
        self.base_url = base_url
        self.nodes = list(nodes) or [base_url]
        self.sockets_opened = 0
        self.username = username
        self.full_name = full_name
        self.password = password
        self.http = httpx.Client(base_url=base_url, timeout=15)
        self.csrf: str | None = None

    def close(self) -> None:
        self.http.close()

    def socket_url(self) -> str:
        """Where this person's next socket connects: their own node first, then each other
        node in turn (a session is good on every node, as when tabs reach different nodes)."""
        start = self.nodes.index(self.base_url) if self.base_url in self.nodes else 0
        url = self.nodes[(start + self.sockets_opened) % len(self.nodes)]
        self.sockets_opened += 1
        return url

    @property
    def session_cookie(self) -> str:
        return self.http.cookies.get("chinwag_session") or ""

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"X-CSRF-Token": self.csrf} if self.csrf else {}
        return {**headers, **(extra or {})}

    def sign_up(self) -> httpx.Response:
        response = self.http.post(
            "/api/users",
            json={
                "username": self.username,
                "full_name": self.full_name,
                "password": self.password,
            },
        )
        if response.status_code == 201:
            self.csrf = response.json()["csrf_token"]
        return response

    def log_in(self, password: str | None = None) -> httpx.Response:
        response = self.http.post(
            "/api/session",
            json={"username": self.username, "password": password or self.password},
        )
        if response.status_code == 200:
            self.csrf = response.json()["csrf_token"]
        return response

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.post(path, headers=self.headers(kw.pop("headers", None)), **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.put(path, headers=self.headers(kw.pop("headers", None)), **kw)

    def patch(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.patch(path, headers=self.headers(kw.pop("headers", None)), **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        # request(), not delete(): httpx's delete() takes no body, and DELETE /api/me has one
        return self.http.request(
            "DELETE", path, headers=self.headers(kw.pop("headers", None)), **kw
        )

    def create_room(self, name: str = "Room") -> str:
        response = self.post("/api/rooms", json={"name": name})
        assert response.status_code == 201, response.text
        return str(response.json()["code"])

    def join(self, code: str) -> httpx.Response:
        return self.post("/api/rooms/join", json={"code": code})


class Socket:
    """A real python-socketio client that records every server event it receives."""

    EVENTS = tuple(SERVER_EVENTS)

    def __init__(
        self, url: str, cookie: str | None, *, origin: str | None = None, http_session: Any = None
    ) -> None:
        self.url = url
        self.cookie = cookie
        self.origin = origin
        # an aiohttp session of the caller's, e.g. one that sends the cookie on every poll
        self.client = socketio.AsyncClient(reconnection=False, http_session=http_session)
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()
        self.disconnected = asyncio.Event()
        for name in self.EVENTS:
            self.client.on(name, self._recorder(name))
        self.client.on("disconnect", self._on_disconnect)

    def _recorder(self, name: str) -> Callable[[Any], Any]:
        async def record(data: Any) -> None:
            self.events.append((name, data))
            self._changed.set()

        return record

    async def _on_disconnect(self, *args: Any) -> None:
        self.disconnected.set()

    async def connect(self) -> None:
        headers = {}
        if self.cookie:
            headers["Cookie"] = f"chinwag_session={self.cookie}"
        if self.origin:
            headers["Origin"] = self.origin
        await self.client.connect(
            self.url, headers=headers, transports=["websocket"], wait_timeout=10
        )

    async def call(self, event: str, data: Any, timeout: float = 10) -> Any:
        return await self.client.call(event, data, timeout=timeout)

    async def enter(self, code: str) -> Any:
        ack = await self.call("room:enter", {"room": code})
        assert ack["ok"], ack
        return ack

    async def send(
        self, code: str, body: str, to: str | None = None, client_id: str | None = None
    ) -> Any:
        payload: dict[str, Any] = {
            "room": code,
            "body": body,
            "client_id": client_id or uuid.uuid4().hex,
        }
        if to is not None:
            payload["to"] = to
        return await self.call("message:send", payload)

    def received(self, event: str, predicate: Callable[[Any], bool] = lambda _: True) -> list[Any]:
        return [data for name, data in self.events if name == event and predicate(data)]

    async def wait_for(
        self, event: str, predicate: Callable[[Any], bool] = lambda _: True, timeout: float = 10
    ) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = self.received(event, predicate)
            if found:
                return found[-1]
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"no {event!r} event matched; got {self.events!r}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def close(self) -> None:
        if self.client.connected:
            await self.client.disconnect()


@contextlib.asynccontextmanager
async def connected(user: User, url: str | None = None) -> AsyncIterator[Socket]:
    sock = Socket(url or user.socket_url(), user.session_cookie)
    await sock.connect()
    try:
        yield sock
    finally:
        await sock.close()


# ---- accounts and HTTP security ---------------------------------------------------------------
def db_column(server: ServerProcess, sql: str) -> list[str]:
    """The first column of every row ``sql`` selects from the server's own database, as text."""
    url = server.env.get("CHINWAG_DATABASE_URL")
    if url is None:
        with contextlib.closing(sqlite3.connect(server.data_dir / "chinwag.db")) as conn:
            return [str(row[0]) for row in conn.execute(sql)]
    database = url.rsplit("/", 1)[1]
    result = subprocess.run(
        ["psql", "-h", PG_HOST, "-p", PG_PORT, "-U", PG_USER, "-d", database, "-qAtc", sql],
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.splitlines()


def chinwag_admin(
    server: ServerProcess | ServerCluster, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`chinwag admin ARGS` as an operator runs it beside the server (the same settings)."""
    return subprocess.run(
        [sys.executable, "-m", "chinwag", "admin", *args],
        env={**os.environ, "CHINWAG_DATA_DIR": str(server.data_dir), **server.env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def replay_cookie(url: str, token: str, path: str = "/api/me") -> httpx.Response:
    """GET ``path`` presenting exactly this session token (a client's jar would drop it)."""
    with httpx.Client(base_url=url, timeout=15) as client:
        return client.get(path, headers={"Cookie": f"chinwag_session={token}"})


async def refused_handshake(
    url: str,
    cookie: str | None,
    *,
    origin: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    """A socket handshake the server must refuse; returns the connect error's payload
    (``{"message": ..., "data": {"code", "message"}}``)."""
    client = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []

    async def on_connect_error(data: Any = None) -> None:
        errors.append(data)

    client.on("connect_error", on_connect_error)
    sent = dict(headers or {})
    if cookie:
        sent["Cookie"] = f"chinwag_session={cookie}"
    if origin:
        sent["Origin"] = origin
    try:
        await client.connect(url, headers=sent, transports=["websocket"], wait_timeout=10)
    except socketio.exceptions.ConnectionError:
        pass
    else:
        await client.disconnect()
        raise AssertionError("the server accepted a handshake it should have refused")
    assert errors, "the handshake failed without a connect_error from the server"
    return errors[0]
