"""``chinwag serve --workers N``: N nodes on one machine, each on a port of its own.

Worker ``i`` (1…N) is a whole ``chinwag serve`` on ``--port`` + i - 1, named
``<CHINWAG_NODE_NAME or host name>-<i>``. One long-polling session stays on one process
because nginx sends each session to one port (deploy/nginx.conf hashes on the session
cookie); the workers share everything else through PostgreSQL and Redis, as nodes on several
machines do. The supervisor checks the settings, has ``cli.main`` reach Redis and migrate
once, then starts the workers (``--skip-migrations``), restarts one that dies, and passes
SIGTERM and SIGINT on to all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys

from chinwag.config import PREFIX, Settings
from chinwag.logs import get_logger

log = get_logger("chinwag.workers")

STOP_GRACE_SECONDS = 30.0  # after SIGTERM, a worker gets this long to stop before SIGKILL
FIRST_BACKOFF_SECONDS = 0.5  # a dead worker restarts after this, doubling per quick death
MAX_BACKOFF_SECONDS = 30.0
STEADY_SECONDS = 60.0  # a worker that ran this long was not failing: its backoff starts over
MAX_QUICK_DEATHS = 5  # that many deaths in a row, each sooner than STEADY_SECONDS: give up
NGINX_HINT = (
    "put nginx in front of the workers (deploy/nginx.conf lists them in its upstream, one "
    "line per port; see docs/deploy.md): each long-polling session must reach one worker"
)


def workers_refusal(settings: Settings, port: int, count: int) -> str | None:
    """Why ``--workers count`` cannot run with these settings (one line), or None."""
    missing = []
    if not settings.resolved_database_url.startswith("postgresql"):
        missing.append(
            f"{PREFIX}DATABASE_URL on PostgreSQL (SQLite is one process's database: the "
            "workers would queue on its single write lock)"
        )
    if not settings.redis_url:
        missing.append(
            f"{PREFIX}REDIS_URL (the workers share live state and every live event through "
            "Redis: without it a message sent on one worker reaches nobody on the others)"
        )
    if missing:
        return f"--workers {count} needs {' and '.join(missing)}; --workers 1 runs without them"
    if not 1 <= port <= 65536 - count:
        return f"--workers {count} needs --port between 1 and {65536 - count} (one port each)"
    return None


def node_names(settings: Settings, count: int) -> list[str]:
    """``<base>-1`` … ``<base>-N``, base being CHINWAG_NODE_NAME or this machine's name."""
    suffix = len(f"-{count}")
    base = settings.node_name or re.sub(r"[^A-Za-z0-9_.:-]", "-", socket.gethostname())
    return [f"{base[: 64 - suffix]}-{i}" for i in range(1, count + 1)]


def run_workers(settings: Settings, host: str, port: int, count: int) -> int:
    """Supervise ``count`` workers until SIGTERM or SIGINT (0), or one keeps dying (1)."""
    settings.signing_key  # noqa: B018 - a generated key is made once, before the workers read it
    return asyncio.run(supervise(host, port, node_names(settings, count)))


async def supervise(host: str, first_port: int, names: list[str]) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    ports = [first_port + i for i in range(len(names))]
    log.info("workers.starting", count=len(names), host=host, ports=ports, hint=NGINX_HINT)
    kept = await asyncio.gather(
        *(keep_running(name, host, port, stop) for name, port in zip(names, ports, strict=True))
    )
    log.info("workers.stopped", count=len(names))
    return 0 if all(kept) else 1


async def keep_running(name: str, host: str, port: int, stop: asyncio.Event) -> bool:
    """Run one worker, restarting it when it dies, until ``stop``; False if it gave up."""
    loop = asyncio.get_running_loop()
    command = [sys.executable, "-m", "chinwag", "serve", "--host", host, "--port", str(port)]
    env = {**os.environ, f"{PREFIX}NODE_NAME": name}
    quick_deaths = 0
    while True:
        started = loop.time()
        process = await asyncio.create_subprocess_exec(*command, "--skip-migrations", env=env)
        log.info("worker.started", worker=name, pid=process.pid, address=f"{host}:{port}")
        exited = asyncio.ensure_future(process.wait())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if stop.is_set():
            await end(name, process)
            return True
        quick_deaths = quick_deaths + 1 if loop.time() - started < STEADY_SECONDS else 1
        if quick_deaths > MAX_QUICK_DEATHS:
            log.error("worker.gave_up", worker=name, exit_status=process.returncode)
            stop.set()  # the others stop too: a supervisor short of a worker hides it
            return False
        delay = min(FIRST_BACKOFF_SECONDS * 2 ** (quick_deaths - 1), MAX_BACKOFF_SECONDS)
        log.warning(
            "worker.died",
            worker=name,
            pid=process.pid,
            exit_status=process.returncode,
            restart_in_seconds=delay,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
            return True


async def end(name: str, process: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL if it has not stopped within STOP_GRACE_SECONDS."""
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
    except TimeoutError:
        log.warning("worker.killed", worker=name, pid=process.pid, after=STOP_GRACE_SECONDS)
        process.kill()
        await process.wait()
    log.info("worker.stopped", worker=name, pid=process.pid, exit_status=process.returncode)
