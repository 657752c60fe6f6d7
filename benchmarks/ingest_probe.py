"""Ingest probe: many senders, closed loop, every message stored and acked.

A small, bounded driver for the ingest work (the full harness lives elsewhere): ``--senders``
connections, each sending ``message:send`` and awaiting its ack before the next, spread over
``--rooms`` rooms; nobody enters the rooms, so nothing is fanned out. Speaks Engine.IO v4 /
Socket.IO v5 over a plain websocket (aiohttp) so that the driver costs little CPU.

    .venv/bin/python -m benchmarks.ingest_probe --senders 32 --rooms 4 --seconds 10 [--postgres]

Server CPU per message is read from /proc/<pid>/stat (utime + stime) over the measured run.
With ``--pin`` the server runs on CPU 0 and the driver on CPU 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
from tests.support import PASSWORD, ServerProcess, User, postgres_database, unique_name


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Sender:
    def __init__(self, session: aiohttp.ClientSession, url: str, cookie: str) -> None:
        self.session = session
        self.url = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        self.cookie = cookie
        self.waiting: dict[int, asyncio.Future[object]] = {}
        self.next_id = 0

    async def connect(self) -> None:
        self.ws = await self.session.ws_connect(
            self.url, headers={"Cookie": f"chinwag_session={self.cookie}"}
        )
        opened = await self.ws.receive_str()
        assert opened.startswith("0"), opened
        await self.ws.send_str("40")
        connected = await self.ws.receive_str()
        assert connected.startswith("40"), connected
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for frame in self.ws:
            data = frame.data
            if data == "2":
                await self.ws.send_str("3")
            elif data.startswith("43"):
                bracket = data.index("[")
                ack_id = int(data[2:bracket])
                self.waiting.pop(ack_id).set_result(json.loads(data[bracket:])[0])

    async def call(self, event: str, payload: object) -> object:
        self.next_id += 1
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = future
        await self.ws.send_str(f"42{self.next_id}" + json.dumps([event, payload]))
        return await future

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


async def run(
    url: str, pid: int, senders: int, rooms: int, seconds: float, warmup: float
) -> dict[str, float]:
    people = []
    for _ in range(senders):
        user = User(url, unique_name("i"), "Ingest Person", PASSWORD)
        assert user.sign_up().status_code == 201
        people.append(user)
    codes = [people[i].create_room(f"ingest {i}") for i in range(rooms)]
    for i, user in enumerate(people):
        code = codes[i % rooms]
        if i >= rooms:
            assert user.join(code).status_code == 200
    latencies: list[float] = []
    errors: list[object] = []
    measuring = False
    stop = False
    async with aiohttp.ClientSession() as session:
        clients = [Sender(session, url, user.session_cookie) for user in people]
        for client in clients:
            await client.connect()

        async def loop(client: Sender, code: str) -> None:
            n = 0
            while not stop:
                n += 1
                started = time.perf_counter()
                ack = await client.call(
                    "message:send",
                    {"room": code, "body": f"ingest {n}", "client_id": uuid.uuid4().hex},
                )
                if measuring:
                    if isinstance(ack, dict) and ack.get("ok"):
                        latencies.append(time.perf_counter() - started)
                    else:
                        errors.append(ack)

        tasks = [asyncio.create_task(loop(c, codes[i % rooms])) for i, c in enumerate(clients)]
        await asyncio.sleep(warmup)
        print("measuring", flush=True)
        measuring = True
        cpu0, t0 = cpu_seconds(pid), time.perf_counter()
        await asyncio.sleep(seconds)
        measuring = False
        cpu1, t1 = cpu_seconds(pid), time.perf_counter()
        stop = True
        await asyncio.wait(tasks, timeout=15)
        for client in clients:
            await client.close()
    for user in people:
        user.close()
    count = len(latencies)
    return {
        "acked": count,
        "errors": len(errors),
        "msg_per_s": count / (t1 - t0),
        "cpu_us_per_msg": (cpu1 - cpu0) / max(count, 1) * 1e6,
        "cpu_share": (cpu1 - cpu0) / (t1 - t0),
        "p50_ms": statistics.median(latencies) * 1000 if latencies else 0.0,
        "p99_ms": percentile(latencies, 0.99) * 1000 if latencies else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--senders", type=int, default=32)
    parser.add_argument("--rooms", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--pin", action="store_true")
    parser.add_argument("--hold", type=float, default=0.0, help="seconds to wait before the run")
    args = parser.parse_args()
    env = {
        "CHINWAG_LOG_LEVEL": "warning",
        "CHINWAG_MESSAGES_PER_WINDOW": "10000000",
        "CHINWAG_SIGNUPS_PER_WINDOW": "100000",
    }
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        backend = "sqlite"
        if args.postgres:
            env["CHINWAG_DATABASE_URL"] = stack.enter_context(postgres_database())
            backend = "postgres"
        server = ServerProcess(data_dir=Path(tmp), env=env)
        server.start()
        stack.callback(server.stop)
        assert server.proc is not None
        pid = server.proc.pid
        if args.pin:
            os.sched_setaffinity(pid, {0})
            os.sched_setaffinity(0, {1})
        print(f"server pid {pid}", flush=True)
        if args.hold:
            time.sleep(args.hold)
        r = asyncio.run(run(server.url, pid, args.senders, args.rooms, args.seconds, args.warmup))
    print(
        f"| {backend} | {args.senders} senders / {args.rooms} rooms | {r['msg_per_s']:.0f} msg/s "
        f"| {r['cpu_us_per_msg']:.0f} µs CPU/msg | server CPU {r['cpu_share']:.2f} "
        f"| ack p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms "
        f"| {r['acked']:.0f} acked, {r['errors']:.0f} errors |"
    )


if __name__ == "__main__":
    main()
