"""Several real nodes: one fresh PostgreSQL database, one Redis prefix, one secret key; and a
Redis server of a test's own, to stop and start again."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    REDIS_URL,
    ServerProcess,
    free_port,
    postgres_database,
    redis_prefix,
    run_server,
)

SHARED_REDIS = REDIS_URL  # the suite's shared Redis; each cluster has its own prefix


def node_env(
    base: dict[str, str], database_url: str, redis_url: str, prefix: str
) -> dict[str, str]:
    return {
        **base,
        "CHINWAG_DATABASE_URL": database_url,
        "CHINWAG_REDIS_URL": redis_url,
        "CHINWAG_REDIS_PREFIX": prefix,
        "CHINWAG_SECRET_KEY": secrets.token_urlsafe(32),
    }


@contextlib.contextmanager
def nodes_on(
    tmp: Path,
    base_env: dict[str, str],
    count: int,
    redis_url: str = SHARED_REDIS,
    *,
    reach_redis_at: dict[int, str] | None = None,
) -> Iterator[list[ServerProcess]]:
    """``count`` nodes, started one after the other, named node-1, node-2, ...; node ``i``
    reaches the Redis server at ``reach_redis_at[i]`` if given (the same server by another
    way, e.g. a ``CuttableLink``)."""
    with redis_prefix(redis_url) as prefix, postgres_database() as url:
        env = node_env(base_env, url, redis_url, prefix)
        with contextlib.ExitStack() as stack:
            servers = []
            for i in range(1, count + 1):
                data_dir = tmp / f"node-{i}"
                data_dir.mkdir()
                node = {**env, "CHINWAG_NODE_NAME": f"node-{i}"}
                if reach_redis_at and i in reach_redis_at:
                    node["CHINWAG_REDIS_URL"] = reach_redis_at[i]
                servers.append(stack.enter_context(run_server(data_dir, node)))
            yield servers


@dataclass
class OwnRedis:
    """A ``redis-server`` of this test's own on a free port, which it may stop and restart."""

    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (scripts/services installs it)")
        self.process = subprocess.Popen(  # noqa: S603
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@contextlib.contextmanager
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


class CuttableLink:
    """A TCP relay from a free port to Redis that a test can cut and mend: one node reaches
    Redis through it, so that node alone loses the fan-out while the others keep it. It runs
    its own event loop in a thread, so it relays while the test blocks (starting a node)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> CuttableLink:
        self._thread.start()
        self.mend()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cut()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def mend(self) -> None:
        self._run(self._mend())

    def cut(self) -> None:
        """Refuse new connections and close the open ones (as a network failure would)."""
        self._run(self._cut())

    def _run(self, coro: Any) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _mend(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._pipes):
            writer.close()
        self._pipes.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._pipes.update((writer, up_writer))
        await asyncio.gather(
            _pump(reader, up_writer), _pump(up_reader, writer), return_exceptions=True
        )


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
