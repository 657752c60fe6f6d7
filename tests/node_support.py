"""Several real nodes: one fresh PostgreSQL database, one Redis prefix, one secret key; and a
Redis server of a test's own, to stop and start again."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from redis.exceptions import RedisError

from tests.support import ServerProcess, free_port, postgres_database, run_server

SHARED_REDIS = "redis://127.0.0.1:6379/0"


@contextlib.contextmanager
def redis_prefix(url: str = SHARED_REDIS) -> Iterator[str]:
    """A fresh key prefix on a Redis; its keys are deleted afterwards."""
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except RedisError:
        client.close()
        pytest.skip(f"no Redis at {url} (scripts/services starts one)")
    prefix = f"test-{secrets.token_hex(6)}"
    try:
        yield prefix
    finally:
        with contextlib.suppress(RedisError):
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            if keys:
                client.delete(*keys)
        client.close()


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
    tmp: Path, base_env: dict[str, str], count: int, redis_url: str = SHARED_REDIS
) -> Iterator[list[ServerProcess]]:
    """``count`` nodes, started one after the other, named node-1, node-2, ..."""
    with redis_prefix(redis_url) as prefix, postgres_database() as url:
        env = node_env(base_env, url, redis_url, prefix)
        with contextlib.ExitStack() as stack:
            servers = []
            for i in range(1, count + 1):
                data_dir = tmp / f"node-{i}"
                data_dir.mkdir()
                node = {**env, "CHINWAG_NODE_NAME": f"node-{i}"}
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
