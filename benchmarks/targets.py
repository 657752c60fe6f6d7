"""The servers under test: Chinwag (``chinwag serve``: SQLite, PostgreSQL, one or two nodes
through Redis) and the Node.js socket.io reference (benchmarks/reference/server.js).

Each is started fresh for a scenario, pinned to the server core, with its bench users and
rooms in place before the first client connects, and stopped (its database and Redis keys
removed) afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import redis

from benchmarks import procs
from benchmarks.seed import Seeded, seed

REFERENCE_DIR = Path(__file__).parent / "reference"
REDIS_URL = "redis://127.0.0.1:6379/1"
PG = "postgresql+asyncpg://postgres@127.0.0.1:5432"
# the bench is a flood from one address of a few users each: the limits that protect a real
# server from that are raised (docs/configuration.md names them)
UNLIMITED = str(10**9)
BENCH_ENV = {
    "CHINWAG_LOG_LEVEL": "warning",
    "CHINWAG_MESSAGES_PER_WINDOW": UNLIMITED,
    "CHINWAG_RETRIES_PER_WINDOW": UNLIMITED,
    "CHINWAG_ENTERS_PER_WINDOW": UNLIMITED,
    "CHINWAG_TYPING_PER_WINDOW": UNLIMITED,
    "CHINWAG_SEARCHES_PER_WINDOW": UNLIMITED,
}


async def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, within: float) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{url}: server exited early:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(f"{url}/readyz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url}: server did not become ready:\n{log.read_text()[-3000:]}")


def stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Chinwag:
    """``chinwag serve`` on a temp data dir: SQLite, or PostgreSQL (a fresh database), with
    ``nodes`` nodes sharing it through Redis (a fresh key prefix) when ``nodes > 1``."""

    def __init__(self, store: str = "sqlite", nodes: int = 1) -> None:
        if nodes > 1 and store != "postgres":
            raise ValueError("several nodes share a PostgreSQL database")
        self.store, self.nodes = store, nodes
        self.name = "chinwag" if nodes == 1 else f"chinwag×{nodes}"
        self.label = f"Chinwag ({'SQLite' if store == 'sqlite' else 'PostgreSQL'}"
        self.label += ", 2 nodes + Redis)" if nodes > 1 else ")"
        self.urls: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.tmp: Path | None = None
        self.database: str | None = None
        self.prefix: str | None = None
        self.database_url = ""

    async def start(self, users: int, rooms: Sequence[Sequence[int]]) -> Seeded:
        self.tmp = Path(tempfile.mkdtemp(prefix="chinwag-bench-"))
        env = {**os.environ, **BENCH_ENV, "CHINWAG_SECRET_KEY": secrets.token_urlsafe(48)}
        env["CHINWAG_DATA_DIR"] = str(self.tmp / "node-0")
        if self.store == "postgres":
            self.database = f"chinwag_bench_{secrets.token_hex(5)}"
            procs.psql(f"CREATE DATABASE {self.database}")
            env["CHINWAG_DATABASE_URL"] = f"{PG}/{self.database}"
        self.database_url = env.get("CHINWAG_DATABASE_URL") or (
            f"sqlite+aiosqlite:///{self.tmp / 'node-0' / 'chinwag.db'}"
        )
        if self.nodes > 1:
            self.prefix = f"bench-{secrets.token_hex(5)}"
            env |= {"CHINWAG_REDIS_URL": REDIS_URL, "CHINWAG_REDIS_PREFIX": self.prefix}
        chinwag = [sys.executable, "-m", "chinwag"]
        seeded: Seeded | None = None
        for node in range(self.nodes):
            port = procs.free_port()
            node_env = {**env, "CHINWAG_DATA_DIR": str(self.tmp / f"node-{node}")}
            if self.nodes > 1:
                node_env["CHINWAG_NODE_NAME"] = f"bench-{node}"
            log = self.tmp / f"server-{node}.log"
            with log.open("ab") as out:
                # the first node migrates the database; the others start on it
                skip = ["--skip-migrations"] if node else []
                proc = subprocess.Popen(
                    procs.pinned([*chinwag, "serve", *skip, "--port", str(port)]),
                    env=node_env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            self.procs.append(proc)
            self.urls.append(f"http://127.0.0.1:{port}")
            await wait_ready(self.urls[-1], proc, log, within=60)
            if seeded is None:  # migrated, and no client has connected yet
                seeded = await seed(self.database_url, users, rooms)
        assert seeded is not None
        return seeded

    def server_pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]

    def helper_pids(self) -> dict[str, list[int]]:
        """The PostgreSQL backends of our database and the Redis server, where used."""
        found: dict[str, list[int]] = {}
        if self.database:
            found["postgres"] = procs.postgres_backend_pids(self.database)
        if self.prefix:
            found["redis"] = procs.redis_pids()
        return found

    def log(self) -> str:
        if self.tmp is None:
            return ""
        return "\n".join(p.read_text(errors="replace") for p in self.tmp.glob("server-*.log"))

    async def stop(self) -> None:
        for proc in self.procs:
            stop_process(proc)
        self.procs, self.urls = [], []
        if self.database:
            procs.psql(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
            self.database = None
        if self.prefix:
            client = redis.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(match=f"{self.prefix}:*", count=1000))
            if keys:
                client.delete(*keys)
            client.close()
            self.prefix = None
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


def ensure_reference_installed() -> None:
    """``npm ci`` in benchmarks/reference when its node_modules is missing."""
    if not (REFERENCE_DIR / "node_modules" / "socket.io").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=REFERENCE_DIR, check=True
        )


def reference_available() -> str | None:
    """Why the reference cannot run here, or None when it can."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node or npm is not installed"
    try:
        ensure_reference_installed()
    except (subprocess.CalledProcessError, OSError) as error:
        return f"npm ci failed in {REFERENCE_DIR}: {error}"
    return None


class Reference:
    """The Node.js socket.io 4 server: same room semantics, no authentication, nothing kept."""

    name = "reference"
    label = "Node socket.io 4.8 (reference)"

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.tmp: Path | None = None

    async def start(self, users: int, rooms: Sequence[Sequence[int]]) -> Seeded:
        ensure_reference_installed()
        self.tmp = Path(tempfile.mkdtemp(prefix="chinwag-bench-ref-"))
        port = procs.free_port()
        log = self.tmp / "reference.log"
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                procs.pinned(["node", str(REFERENCE_DIR / "server.js"), str(port)]),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.urls = [f"http://127.0.0.1:{port}"]
        await wait_ready(self.urls[0], self.proc, log, within=30)
        run = secrets.token_hex(3)
        return Seeded([""] * users, [f"ref-{run}-{k}" for k in range(len(rooms))])

    def server_pids(self) -> list[int]:
        return [self.proc.pid] if self.proc else []

    def helper_pids(self) -> dict[str, list[int]]:
        return {}

    def log(self) -> str:
        return (self.tmp / "reference.log").read_text() if self.tmp else ""

    async def stop(self) -> None:
        stop_process(self.proc)
        self.proc, self.urls = None, []
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


Target = Chinwag | Reference
