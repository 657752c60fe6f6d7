"""Enter probe: N clients connect, then enter one room; wall time and server CPU of each.

A small, bounded driver for scenario (f)'s per-client work (the full harness lives in
``benchmarks.run``): it starts one ``chinwag serve`` in a temporary directory, seeds N users
with sessions, all members of one room, straight into the database (``benchmarks.seed``),
opens N raw Engine.IO websockets (``benchmarks.wire``, little client CPU), at most
``--concurrency`` handshakes at a time, then has each send ``room:enter``, at most
``--concurrency`` at a time, as the harness does.

    .venv/bin/python -m benchmarks.enter_probe --clients 300 [--postgres] [--own]

Server CPU is read from /proc/<pid>/stat (utime + stime) around each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tests.support import ServerProcess, postgres_database

from benchmarks.load import Fleet
from benchmarks.procs import cpu_seconds
from benchmarks.seed import seed

UNLIMITED = "100000000"


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds by thread: ``loop`` (the main thread, the event loop's) and ``others``."""
    seconds: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            _, rest = task.joinpath("stat").read_text().rsplit(")", 1)
            fields = rest.split()
            used = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            key = "loop" if task.name == str(pid) else "others"
            seconds[key] = seconds.get(key, 0.0) + used
    return seconds


PY_SPY = "/work/main/.venv/bin/py-spy"


@contextlib.asynccontextmanager
async def spying(pid: int, path: str | None) -> AsyncIterator[None]:
    """py-spy samples the server for the block (collapsed stacks written to ``path``)."""
    if path is None:
        yield
        return
    command = [PY_SPY, "record", "-p", str(pid), "-f", "raw", "-r", "200", "-o", path]
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    await asyncio.sleep(1.0)  # attached
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)


async def run(
    url: str, database_url: str, pid: int, n: int, concurrency: int, profile: dict[str, str]
) -> dict[str, Any]:
    seeded = await seed(database_url, n, [list(range(n))])
    code = seeded.room_codes[0]
    fleet = Fleet(concurrency)
    try:
        async with spying(pid, profile.get("connect")):
            threads0, cpu0, t0 = thread_cpu(pid), cpu_seconds(pid), time.perf_counter()
            conns = await fleet.connect([url], seeded.cookies, time.perf_counter() + 120)
            threads1, cpu1, t1 = thread_cpu(pid), cpu_seconds(pid), time.perf_counter()
        made = [c for c in conns if c is not None]
        async with spying(pid, profile.get("enter")):
            threads2, cpu2, t2 = thread_cpu(pid), cpu_seconds(pid), time.perf_counter()
            entered, refused = await fleet.enter(
                [(c, code) for c in made], time.perf_counter() + 120, concurrency
            )
            threads3, cpu3, t3 = thread_cpu(pid), cpu_seconds(pid), time.perf_counter()
    finally:
        await fleet.close()
    return {
        "connected": len(made),
        "entered": entered,
        "refused": refused,
        "connect_s": t1 - t0,
        "connect_cpu_ms_each": (cpu1 - cpu0) / max(len(made), 1) * 1000,
        "enter_s": t3 - t2,
        "enter_cpu_ms_each": (cpu3 - cpu2) / max(entered, 1) * 1000,
        "connect_threads_s": {k: round(v - threads0.get(k, 0.0), 2) for k, v in threads1.items()},
        "enter_threads_s": {k: round(v - threads2.get(k, 0.0), 2) for k, v in threads3.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--own", action="store_true", help="CHINWAG_SOCKET_SERVER=own")
    parser.add_argument("--profile", help="write py-spy's collapsed stacks of --phase here")
    parser.add_argument("--phase", choices=["connect", "enter"], default="enter")
    args = parser.parse_args()
    env = {
        "CHINWAG_LOG_LEVEL": "warning",
        "CHINWAG_ENTERS_PER_WINDOW": UNLIMITED,
        "CHINWAG_SEARCHES_PER_WINDOW": UNLIMITED,
    }
    if args.own:
        env["CHINWAG_SOCKET_SERVER"] = "own"
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        backend = "sqlite"
        database_url = f"sqlite+aiosqlite:///{Path(tmp) / 'chinwag.db'}"
        if args.postgres:
            database_url = env["CHINWAG_DATABASE_URL"] = stack.enter_context(postgres_database())
            backend = "postgres"
        server = ServerProcess(data_dir=Path(tmp), env=env)
        server.start()
        stack.callback(server.stop)
        assert server.proc is not None
        pid = server.proc.pid
        profile = {args.phase: args.profile} if args.profile else {}
        r = asyncio.run(run(server.url, database_url, pid, args.clients, args.concurrency, profile))
    print(
        f"| {backend} | {env.get('CHINWAG_SOCKET_SERVER', 'python-socketio')} | {args.clients} "
        f"| connect {r['connect_s']:.2f} s, {r['connect_cpu_ms_each']:.2f} ms CPU each "
        f"| enter {r['enter_s']:.2f} s, {r['enter_cpu_ms_each']:.2f} ms CPU each "
        f"| {r['connected']} connected, {r['entered']} entered, refused {r['refused']} |"
    )
    print("CPU s by thread: connect", r["connect_threads_s"], "enter", r["enter_threads_s"])


if __name__ == "__main__":
    main()
