"""Fan-out benchmark: one room, N connected members, senders taking turns.

Measures, against a real `chinwag serve` on loopback, the time from emitting
`message:send` to its ack (stored + broadcast) and to delivery at every member
(the sender's own connection included).
Bounded: a fixed number of messages and a hard time limit; it stops by itself.

    .venv/bin/python -m benchmarks.fanout --members 20 --messages 300 [--postgres]
        [--redis] [--nodes 2]

``--redis`` routes every event through Redis (the fan-out of several nodes) with one node;
``--nodes N`` runs N nodes on PostgreSQL and Redis, members spread over them in turn.

Prints a Markdown table row; docs/performance.md keeps the numbers we publish.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from tests.node_support import SHARED_REDIS, redis_prefix
from tests.support import PASSWORD, ServerProcess, Socket, User, postgres_database, unique_name

TIME_LIMIT = 120.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(urls: list[str], members: int, messages: int) -> dict[str, float]:
    people = []
    for i in range(members):
        user = User(urls[i % len(urls)], unique_name("b"), "Bench Person", PASSWORD)
        assert user.sign_up().status_code == 201
        people.append(user)
    code = people[0].create_room("bench")
    for user in people[1:]:
        assert user.join(code).status_code == 200
    sockets = [Socket(user.base_url, user.session_cookie) for user in people]
    for sock in sockets:
        await sock.connect()
        await sock.enter(code)
    sent_at: dict[str, float] = {}
    delivered: list[float] = []
    done = asyncio.Event()
    expected = messages * members  # the sender's own connection receives it too

    def on_message(data: dict[str, object]) -> None:
        started = sent_at.get(str(data["client_id"]))
        if started is not None:
            delivered.append(time.perf_counter() - started)
            if len(delivered) >= expected:
                done.set()

    for sock in sockets:
        sock.client.on("message", on_message)
    acks: list[float] = []
    began = time.perf_counter()
    deadline = began + TIME_LIMIT
    for i in range(messages):
        if time.perf_counter() > deadline:
            break
        sender = sockets[i % members]
        client_id = uuid.uuid4().hex
        sent_at[client_id] = time.perf_counter()
        ack = await sender.send(code, f"message {i}", client_id=client_id)
        assert ack["ok"], ack
        acks.append(time.perf_counter() - sent_at[client_id])
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), max(1.0, deadline - time.perf_counter()))
    elapsed = time.perf_counter() - began
    for sock in sockets:
        await sock.close()
    for user in people:
        user.close()
    return {
        "sent": len(acks),
        "deliveries": len(delivered),
        "expected": len(acks) * members,
        "ack_p50_ms": statistics.median(acks) * 1000,
        "ack_p95_ms": percentile(acks, 0.95) * 1000,
        "deliver_p50_ms": statistics.median(delivered) * 1000,
        "deliver_p95_ms": percentile(delivered, 0.95) * 1000,
        "deliveries_per_s": len(delivered) / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--redis", action="store_true")
    parser.add_argument("--nodes", type=int, default=1)
    args = parser.parse_args()
    env = {
        "CHINWAG_LOG_LEVEL": "warning",
        "CHINWAG_MESSAGES_PER_WINDOW": "100000",
        "CHINWAG_SIGNUPS_PER_WINDOW": "100000",  # every member signs up from loopback
    }
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        backend = "sqlite"
        if args.postgres or args.nodes > 1:
            env["CHINWAG_DATABASE_URL"] = stack.enter_context(postgres_database())
            backend = "postgres"
        if args.redis or args.nodes > 1:
            env["CHINWAG_REDIS_URL"] = SHARED_REDIS
            env["CHINWAG_REDIS_PREFIX"] = stack.enter_context(redis_prefix())
            env["CHINWAG_SECRET_KEY"] = secrets.token_urlsafe(32)
            backend += f" + Redis, {args.nodes} node{'s' if args.nodes > 1 else ''}"
        servers = []
        for i in range(args.nodes):
            data_dir = Path(tmp) / f"node-{i}"
            data_dir.mkdir()
            server = ServerProcess(data_dir=data_dir, env=env)
            server.start()
            stack.callback(server.stop)
            servers.append(server)
        result = asyncio.run(run([s.url for s in servers], args.members, args.messages))
    print(
        f"| {backend} | {args.members} | {result['sent']:.0f} | "
        f"{result['deliveries']:.0f}/{result['expected']:.0f} | "
        f"{result['ack_p50_ms']:.1f} / {result['ack_p95_ms']:.1f} | "
        f"{result['deliver_p50_ms']:.1f} / {result['deliver_p95_ms']:.1f} | "
        f"{result['deliveries_per_s']:.0f} |"
    )


if __name__ == "__main__":
    main()
