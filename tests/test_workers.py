"""``chinwag serve --workers N``: a supervisor and N real worker processes, behind the real
nginx config.

It refuses SQLite and a missing Redis before it starts anything; with PostgreSQL and Redis it
migrates once, runs a worker per port (each named in ``X-Chinwag-Node``), both Socket.IO
transports work through nginx, people on different workers chat live, SIGTERM stops every
worker, and a worker killed with SIGKILL is started again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx
import pytest

from tests.conftest import SERVER_ENV
from tests.live_support import Client, room_with
from tests.support import (
    PASSWORD,
    PG_HOST,
    PG_PORT,
    PG_USER,
    REDIS_URL,
    User,
    free_port,
    free_ports,
    postgres_database,
    redis_prefix,
    unique_name,
)
from tests.test_nginx import run_nginx

HOST = socket.gethostname()
WAIT = 30.0  # every wait below is bounded by this
START_WAIT = 90.0  # but starting: a loaded machine (other suites running) starts slowly
# a test may start a supervisor (up to START_WAIT) and then wait on it
pytestmark = pytest.mark.timeout(300)


def chinwag(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chinwag", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def serving(port: int) -> list[int]:
    """PIDs of the processes whose command line is ``chinwag serve … --port <port>``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        words = command_of(int(entry.name))
        if "chinwag" in words and "serve" in words and f"{port}" in words and alive(entry.name):
            found.append(int(entry.name))
    return found


def alive(pid: int | str) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def refused_to_start(result: subprocess.CompletedProcess[str], port: int) -> str:
    """The one line a refusal prints; asserts it exited 2 and left nothing running."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert serving(port) == [] and serving(port + 1) == []
    return lines[0]


# ---- refusals ---------------------------------------------------------------------------------
def test_several_workers_refuse_sqlite_and_say_why(tmp_path: Path) -> None:
    port = free_ports(2)
    env = {"CHINWAG_DATA_DIR": str(tmp_path), "CHINWAG_REDIS_URL": REDIS_URL}
    line = refused_to_start(chinwag("serve", "--workers", "2", "--port", f"{port}", env=env), port)
    assert "--workers 2 needs CHINWAG_DATABASE_URL on PostgreSQL" in line
    assert "SQLite is one process's database" in line
    assert "REDIS_URL" not in line  # that one is set
    assert not (tmp_path / "chinwag.db").exists(), "it migrated before refusing"


def test_several_workers_refuse_to_run_without_redis_and_say_why(tmp_path: Path) -> None:
    port = free_ports(3)
    with postgres_database() as url:
        env = {"CHINWAG_DATA_DIR": str(tmp_path), "CHINWAG_DATABASE_URL": url}
        result = chinwag("serve", "--workers", "3", "--port", f"{port}", env=env)
        line = refused_to_start(result, port)
        assert serving(port + 2) == []
        assert "--workers 3 needs CHINWAG_REDIS_URL" in line
        assert "reaches nobody on the others" in line
        assert "PostgreSQL" not in line  # that one is set
        tables = db_column_of(url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        assert tables == ["0"], "it migrated before refusing"


def test_several_workers_stop_at_an_unreachable_redis_before_starting_any(tmp_path: Path) -> None:
    port = free_ports(2)
    with postgres_database() as url:
        env = {
            "CHINWAG_DATA_DIR": str(tmp_path),
            "CHINWAG_DATABASE_URL": url,
            "CHINWAG_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        }
        result = chinwag("serve", "--workers", "2", "--port", f"{port}", env=env)
        assert result.returncode == 1, result.stderr
        assert "cannot reach Redis" in result.stderr
        assert serving(port) == [] and serving(port + 1) == []


def test_one_worker_is_plain_serve_and_needs_neither(tmp_path: Path) -> None:
    """--workers 1 on SQLite without Redis: no refusal (the server starts; --help proves the
    flag, a bad count is argparse's exit 2)."""
    result = chinwag("serve", "--workers", "0", env={"CHINWAG_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2 and "not a whole number of 1 or more" in result.stderr
    port = free_ports(1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "chinwag", "serve", "--workers", "1", "--port", f"{port}"],
        env={**os.environ, **SERVER_ENV, "CHINWAG_DATA_DIR": str(tmp_path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: answers(port) is not None, proc, wait=START_WAIT)
        assert serving(port) == [proc.pid]  # the server itself, no supervisor and no child
    finally:
        proc.terminate()
        proc.wait(WAIT)


def db_column_of(url: str, sql: str) -> list[str]:
    database = url.rsplit("/", 1)[1]
    result = subprocess.run(
        ["psql", "-h", PG_HOST, "-p", PG_PORT, "-U", PG_USER, "-d", database, "-qAtc", sql],
        check=True,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    return result.stdout.splitlines()


# ---- a running supervisor ---------------------------------------------------------------------
@dataclass
class Supervisor:
    proc: subprocess.Popen[bytes]
    first_port: int
    count: int
    log_path: Path

    @property
    def ports(self) -> list[int]:
        return list(range(self.first_port, self.first_port + self.count))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def workers(self) -> dict[int, int]:
        """Port -> PID of the supervisor's running children. A child between its fork and its
        exec still has the supervisor's command line (``--workers … --port <first>``): it is not
        a worker yet, so it is not counted."""
        found = {}
        for port in self.ports:
            pids = [
                pid
                for pid in serving(port)
                if parent_of(pid) == self.proc.pid and "--workers" not in command_of(pid)
            ]
            if pids:
                (found[port],) = pids
        return found


def command_of(pid: int) -> list[str]:
    """The command line of ``pid`` (empty once it has gone)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []
    return [word.decode(errors="replace") for word in argv]


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def answers(port: int) -> str | None:
    """The node name a worker answers /readyz with, or None while it does not answer."""
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
    except httpx.HTTPError:
        return None
    return response.headers.get("x-chinwag-node", "") if response.status_code == 200 else None


def wait_until(
    ready: Callable[[], bool],
    proc: subprocess.Popen[bytes],
    why: Callable[[], str] = str,
    wait: float = WAIT,
) -> None:
    """Until ``ready()``; fails, saying ``why()`` (read then, e.g. the log), if ``proc`` exits
    or ``wait`` passes first."""
    deadline = time.monotonic() + wait
    while not ready():
        assert proc.poll() is None, f"exited with {proc.returncode}: {why()}"
        assert time.monotonic() < deadline, f"not within {wait} s: {why()}"
        time.sleep(0.1)


@contextlib.contextmanager
def supervisor(tmp: Path, count: int = 2) -> Iterator[Supervisor]:
    """``chinwag serve --workers count`` on a fresh PostgreSQL database and Redis prefix, no
    CHINWAG_NODE_NAME (so the workers are <host>-1 …); yields once every worker answers."""
    first = free_ports(count)
    with postgres_database() as url, redis_prefix() as prefix:
        env = {
            **os.environ,
            **SERVER_ENV,
            "CHINWAG_DATA_DIR": str(tmp),
            "CHINWAG_DATABASE_URL": url,
            "CHINWAG_REDIS_URL": REDIS_URL,
            "CHINWAG_REDIS_PREFIX": prefix,
            "CHINWAG_SECRET_KEY": secrets.token_urlsafe(32),
            "CHINWAG_TRUST_PROXY": "true",
        }
        env.pop("CHINWAG_NODE_NAME", None)
        log_path = tmp / "supervisor.log"
        command = [sys.executable, "-m", "chinwag", "serve", "--workers", f"{count}"]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [*command, "--port", f"{first}"], env=env, stdout=log, stderr=subprocess.STDOUT
            )
        running = Supervisor(proc, first, count, log_path)
        seen: set[int] = set()
        try:
            wait_until(
                lambda: all(answers(port) is not None for port in running.ports),
                proc,
                running.log,
                START_WAIT,
            )
            seen.update(running.workers().values())
            yield running
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(WAIT + 10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
            for pid in seen | set(running.workers().values()):  # only ours, by PID
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)


@dataclass
class Behind:
    url: str
    supervisor: Supervisor


@pytest.fixture(scope="module")
def behind_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Behind]:
    with supervisor(tmp_path_factory.mktemp("workers")) as running:
        nginx = tmp_path_factory.mktemp("nginx")
        with run_nginx(nginx, running.ports) as url:
            yield Behind(url, running)


def test_each_worker_has_its_port_and_name_and_migrations_ran_once(behind_nginx: Behind) -> None:
    running = behind_nginx.supervisor
    assert [answers(port) for port in running.ports] == [f"{HOST}-1", f"{HOST}-2"]
    workers = running.workers()
    assert sorted(workers) == running.ports, running.log()
    log = running.log()
    assert log.count("migrations.applied") == 1, log  # the supervisor's; workers skip them
    assert f"ports=[{running.ports[0]}, {running.ports[1]}]" in log
    assert "put nginx in front of the workers" in log
    for port, pid in workers.items():
        assert f"address=127.0.0.1:{port} pid={pid}" in log


def node_of(user: User) -> str:
    response = user.get("/api/me")
    assert response.status_code == 200, response.text
    return response.headers["x-chinwag-node"]


@contextlib.asynccontextmanager
async def socket_through(
    url: str, user: User, transports: list[str] | None
) -> AsyncIterator[Client]:
    """A socket.io client through nginx; ``None`` is the default: polling, then upgrade."""
    cookie = {"Cookie": f"chinwag_session={user.session_cookie}"}
    # the cookie nginx hashes on rides on every poll (python-engineio sends connect()'s
    # headers with the handshake only)
    async with aiohttp.ClientSession(headers=cookie) as http:
        client = Client(url, user.session_cookie, http_session=http)
        await client.client.connect(url, headers=cookie, transports=transports, wait_timeout=10)
        try:
            yield client
        finally:
            await client.close()


@pytest.mark.parametrize("transports", [None, ["polling"]], ids=["default", "polling-only"])
async def test_log_in_and_chat_through_nginx_on_either_transport(
    behind_nginx: Behind, transports: list[str] | None
) -> None:
    url = behind_nginx.url
    ana = User(url, unique_name(), "Ana", PASSWORD)
    again = User(url, ana.username, "Ana", PASSWORD)
    try:
        assert ana.sign_up().status_code == 201
        assert again.log_in().status_code == 200  # a log-in through nginx, a fresh session
        code = again.create_room()
        async with socket_through(url, again, transports) as sock:
            await sock.enter(code)
            for i in range(4):  # each polling round trip must reach the worker holding it
                ack = await sock.send(code, f"via nginx {i}")
                assert ack["ok"], ack
                await sock.wait_for("message", lambda m, i=i: m["body"] == f"via nginx {i}")
            if transports is None:  # the upgrade went through nginx too
                deadline = time.monotonic() + WAIT
                while sock.client.transport() != "websocket":
                    assert time.monotonic() < deadline, "never upgraded to websocket"
                    await asyncio.sleep(0.05)
            else:
                assert sock.client.transport() == "polling"
        history = again.get(f"/api/rooms/{code}/messages").json()["messages"]
        assert [m["body"] for m in history][::-1] == [f"via nginx {i}" for i in range(4)]
    finally:
        ana.close()
        again.close()


async def test_people_on_different_workers_chat_live(behind_nginx: Behind) -> None:
    url = behind_nginx.url
    homes: dict[str, User] = {}
    made = []
    try:
        for _ in range(40):  # sessions hash over the workers: sign up until both are found
            user = User(url, unique_name(), "Person", PASSWORD)
            made.append(user)
            assert user.sign_up().status_code == 201
            homes.setdefault(node_of(user), user)
            if len(homes) == 2:
                break
        assert set(homes) == {f"{HOST}-1", f"{HOST}-2"}, set(homes)
        ana, bo = homes[f"{HOST}-1"], homes[f"{HOST}-2"]
        code = room_with(ana, bo)
        async with socket_through(url, ana, None) as a, socket_through(url, bo, None) as b:
            for sock in (a, b):
                await sock.enter(code)
            hello = await a.send(code, "from worker 1")
            reply = await b.send(code, "from worker 2, to Ana", to=ana.username)
            assert hello["ok"] and reply["ok"], (hello, reply)
            await b.wait_for("message", lambda m: m["id"] == hello["message"]["id"])
            await a.wait_for("message", lambda m: m["id"] == reply["message"]["id"])
        assert (node_of(ana), node_of(bo)) == (f"{HOST}-1", f"{HOST}-2")  # they stayed
    finally:
        for user in made:
            user.close()


# ---- stopping and dying -----------------------------------------------------------------------
def test_sigterm_to_the_supervisor_stops_every_worker(tmp_path: Path) -> None:
    with supervisor(tmp_path, count=3) as running:
        workers = running.workers()
        assert len(workers) == 3, running.log()
        running.proc.send_signal(signal.SIGTERM)
        assert running.proc.wait(WAIT + 10) == 0, running.log()
        deadline = time.monotonic() + WAIT
        while any(alive(pid) for pid in workers.values()):
            assert time.monotonic() < deadline, f"workers left: {workers}"
            time.sleep(0.1)
        assert all(answers(port) is None for port in running.ports)
        log = running.log()
        for pid in workers.values():
            assert f"pid={pid} worker=" in log.split("worker.stopped", 1)[1], log
        assert "workers.stopped" in log and "worker.killed" not in log


def test_a_killed_worker_is_started_again_and_serves(tmp_path: Path) -> None:
    with supervisor(tmp_path) as running:
        before = running.workers()
        victim_port = running.ports[1]
        os.kill(before[victim_port], signal.SIGKILL)
        wait_until(
            lambda: (
                running.workers().get(victim_port, before[victim_port]) != before[victim_port]
                and answers(victim_port) is not None
            ),
            running.proc,
            running.log,
            START_WAIT,
        )
        after = running.workers()
        assert after[running.ports[0]] == before[running.ports[0]]  # the other one untouched
        assert answers(victim_port) == f"{HOST}-2"
        assert not alive(before[victim_port])
        log = running.log()
        assert f"exit_status=-9 pid={before[victim_port]}" in log
        assert "worker.died" in log and "restart_in_seconds=0.5" in log
        # and it serves people again: a sign-up on it directly
        user = User(f"http://127.0.0.1:{victim_port}", unique_name(), "Cy", PASSWORD)
        try:
            assert user.sign_up().status_code == 201
            assert node_of(user) == f"{HOST}-2"
        finally:
            user.close()


def test_a_worker_that_keeps_dying_stops_the_supervisor(tmp_path: Path) -> None:
    """Worker 2 is killed each time it starts: after 5 deaths in a row (restarted after 0.5,
    1, 2, 4 and 8 s), the 6th makes the supervisor stop worker 1 and exit with status 1."""
    with supervisor(tmp_path) as running:
        port = running.ports[1]
        survivor = running.workers()[running.ports[0]]
        killed: list[int] = []
        deadline = time.monotonic() + START_WAIT
        while running.proc.poll() is None:
            assert time.monotonic() < deadline, running.log()
            pid = running.workers().get(port)
            if pid is not None and pid not in killed:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.02)
        assert running.proc.returncode == 1, running.log()
        assert len(killed) == 6, killed
        log = running.log()
        assert log.count("worker.died") == 5, log
        for delay in ("0.5", "1.0", "2.0", "4.0", "8.0"):
            assert f"restart_in_seconds={delay} worker={HOST}-2" in log, log
        after = log.split("worker.gave_up", 1)[1]
        assert f"worker={HOST}-2" in after.splitlines()[0]
        assert f"pid={survivor} worker={HOST}-1" in after  # stopped, not left behind
        assert not alive(survivor) and answers(running.ports[0]) is None
