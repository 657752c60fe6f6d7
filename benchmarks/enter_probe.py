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


async def run(
    url: str, database_url: str, pid: int, n: int, concurrency: int, profile: str | None
) -> dict[str, Any]:
    seeded = await seed(database_url, n, [list(range(n))])
    code = seeded.room_codes[0]
    fleet = Fleet(concurrency)
    try:
        cpu0, t0 = cpu_seconds(pid), time.perf_counter()
        conns = await fleet.connect([url], seeded.cookies, time.perf_counter() + 120)
        cpu1, t1 = cpu_seconds(pid), time.perf_counter()
        made = [c for c in conns if c is not None]
        spy = None
        if profile:  # py-spy samples the server while the clients enter
            command = [PY_SPY, "record", "-p", str(pid), "-f", "raw", "-r", "200", "-o", profile]
            spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            await asyncio.sleep(1.0)
            cpu1, t1 = cpu_seconds(pid), time.perf_counter()
        threads0 = thread_cpu(pid)
        entered, refused = await fleet.enter(
            [(c, code) for c in made], time.perf_counter() + 120, concurrency
        )
        cpu2, t2 = cpu_seconds(pid), time.perf_counter()
        threads = {k: v - threads0.get(k, 0.0) for k, v in thread_cpu(pid).items()}
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(30)
    finally:
        await fleet.close()
    return {
        "connected": len(made),
        "entered": entered,
        "refused": refused,
        "connect_s": t1 - t0,
        "connect_cpu_ms_each": (cpu1 - cpu0) / max(len(made), 1) * 1000,
        "enter_s": t2 - t1,
        "enter_cpu_ms_each": (cpu2 - cpu1) / max(entered, 1) * 1000,
        "enter_threads_s": {k: round(v, 2) for k, v in threads.items() if v},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--own", action="store_true", help="CHINWAG_SOCKET_SERVER=own")
    parser.add_argument("--profile", help="write py-spy's collapsed stacks of the enters here")
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
        r = asyncio.run(
            run(server.url, database_url, pid, args.clients, args.concurrency, args.profile)
        )
    print(
        f"| {backend} | {env.get('CHINWAG_SOCKET_SERVER', 'python-socketio')} | {args.clients} "
        f"| connect {r['connect_s']:.2f} s, {r['connect_cpu_ms_each']:.2f} ms CPU each "
        f"| enter {r['enter_s']:.2f} s, {r['enter_cpu_ms_each']:.2f} ms CPU each "
        f"| {r['connected']} connected, {r['entered']} entered, refused {r['refused']} |"
    )
    print("enter CPU s by thread:", r["enter_threads_s"])


if __name__ == "__main__":
    main()
