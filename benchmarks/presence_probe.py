"""How long N clients take to enter one room, and how many presence frames that costs.

A bounded probe, not a pass/fail test and not the official harness: it starts one
``chinwag serve`` on SQLite in a temporary directory, seeds N users with sessions and
memberships straight into the database (sign-ups are argon2 and rate limited), connects N
python-socketio clients, and has each send ``room:enter``. It prints the time
until every connection was made, until every enter was acked, and until the room went
quiet (all from the first connect), with the presence frames the clients received and the
largest enter ack. By default each client enters as soon as it is connected (`--connects`
at a time), as a room fills when people arrive; `--wave` connects everyone, then has them
all enter at once.

    .venv/bin/python -m benchmarks.presence_probe --clients 200
    .venv/bin/python -m benchmarks.presence_probe --clients 1000 --src /other/checkout/src

``--src`` runs the server from another checkout's ``src`` (to measure before and after).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import socketio
from sqlalchemy import create_engine, insert

from chinwag.db.models import AuthSession, Membership, Room, User

QUIET_SECONDS = 3.0  # no presence frame for this long: the room is settled


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(db_file: Path, n: int) -> tuple[str, list[str]]:
    """N users, a session each and one room they all belong to; returns code and tokens."""
    engine = create_engine(f"sqlite:///{db_file}")
    now = datetime.now(UTC)
    tokens = [secrets.token_urlsafe(32) for _ in range(n)]
    code = str(uuid.uuid4())
    with engine.begin() as c:
        users = [
            {
                "username": f"p{i:05d}",
                "username_key": f"p{i:05d}",
                "full_name": f"Probe {i}",
                "password_hash": "!",
                "created_at": now,
            }
            for i in range(n)
        ]
        c.execute(insert(User), users)
        ids = [row[0] for row in c.exec_driver_sql("SELECT id FROM users ORDER BY id")]
        c.execute(
            insert(Room),
            [{"code": code, "name": "Probe", "owner_id": ids[0], "created_at": now}],
        )
        room_id = c.exec_driver_sql("SELECT id FROM rooms").scalar_one()
        c.execute(
            insert(AuthSession),
            [
                {
                    "id": hashlib.sha256(t.encode()).hexdigest(),
                    "user_id": uid,
                    "created_at": now,
                    "expires_at": now + timedelta(days=1),
                }
                for t, uid in zip(tokens, ids, strict=True)
            ],
        )
        c.execute(
            insert(Membership),
            [{"room_id": room_id, "user_id": uid, "joined_at": now} for uid in ids],
        )
    engine.dispose()
    return code, tokens


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(url: str, name: str) -> dict[str, float]:
    """Every sample of one metric of /metrics, by its labels."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:  # noqa: S310
        text = answer.read().decode()
    found = {}
    for line in text.splitlines():
        if line.startswith(name):
            labels, _, value = line.rpartition(" ")
            found[labels] = float(value)
    return found


async def probe(
    url: str, code: str, tokens: list[str], connects: int, *, wave: bool
) -> dict[str, Any]:
    frames = 0
    last_frame = time.monotonic()
    clients: list[socketio.AsyncClient] = []

    def on_presence(_data: Any) -> None:
        nonlocal frames, last_frame
        frames += 1
        last_frame = time.monotonic()

    async def connect(token: str) -> socketio.AsyncClient:
        client = socketio.AsyncClient(reconnection=False)
        client.on("presence", on_presence)
        await client.connect(
            url,
            transports=["websocket"],
            headers={"Cookie": f"chinwag_session={token}", "Origin": url},
            wait_timeout=60,
        )
        return client

    start = time.monotonic()
    gate = asyncio.Semaphore(connects)

    async def enter(client: socketio.AsyncClient) -> dict[str, Any]:
        ack: dict[str, Any] = await client.call("room:enter", {"room": code}, timeout=600)
        return ack

    async def arrive(token: str) -> dict[str, Any] | None:
        async with gate:
            client = await connect(token)
            clients.append(client)
        return None if wave else await enter(client)

    try:
        arrived = await asyncio.gather(*(arrive(t) for t in tokens))
        connected = time.monotonic()
        acks = (
            await asyncio.gather(*(enter(c) for c in clients))
            if wave
            else [a for a in arrived if a is not None]
        )
    except BaseException:
        await asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)
        raise
    entered = time.monotonic()
    while time.monotonic() - last_frame < QUIET_SECONDS:  # noqa: ASYNC110 (a quiet spell, no event)
        await asyncio.sleep(0.2)
    settled = last_frame
    biggest_ack = max(len(json.dumps(a)) for a in acks)
    refused = [a["error"]["code"] for a in acks if not a["ok"]]
    await asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)
    return {
        "clients": len(tokens),
        "mode": "wave" if wave else "arrive",
        "connect_s": round(connected - start, 2),
        "all_entered_s": round(entered - start, 2),
        "settled_s": round(max(settled, entered) - start, 2),
        "presence_frames": frames,
        "largest_enter_ack_bytes": biggest_ack,
        "enters_refused": {code: refused.count(code) for code in sorted(set(refused))},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--connects", type=int, default=50, help="connections opened at once")
    parser.add_argument("--src", help="run the server from this checkout's src directory")
    parser.add_argument(
        "--wave",
        action="store_true",
        help="connect everyone first, then all enter at once (default: each enters as it connects)",
    )
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="presence-probe-") as tmp:
        env = {
            **os.environ,
            "CHINWAG_DATA_DIR": tmp,
            "CHINWAG_LOG_LEVEL": "warning",
            "CHINWAG_ENTERS_PER_WINDOW": "1000",
        }
        if args.src:
            env["PYTHONPATH"] = args.src
        chinwag = [sys.executable, "-m", "chinwag"]
        subprocess.run([*chinwag, "migrate"], env=env, check=True, capture_output=True)
        code, tokens = seed(Path(tmp) / "chinwag.db", args.clients)
        log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115 (closed with the server)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [*chinwag, "serve", "--port", str(port), "--skip-migrations"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            for _ in range(300):
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(f"{url}/api/health", timeout=1)  # noqa: S310
                    break
                time.sleep(0.1)
            cpu = cpu_seconds(server.pid)
            result = asyncio.run(probe(url, code, tokens, args.connects, wave=args.wave))
            result["server_cpu_s"] = round(cpu_seconds(server.pid) - cpu, 2)
            result["load_average"] = os.getloadavg()[0]
            result["server_presence_published"] = metric(
                url, 'chinwag_events_published_total{event="presence"}'
            )
            print(json.dumps(result))
        finally:
            server.terminate()
            server.wait(30)
            log.close()
            errors = [
                line
                for line in (Path(tmp) / "server.log").read_text(errors="replace").splitlines()
                if "error" in line.lower()
            ]
            if errors:
                print(f"server log: {len(errors)} error lines, the first: {errors[0][:300]}")


if __name__ == "__main__":
    main()
