"""The load generator's parts: a fleet of connections, open- and closed-loop senders, and a
tracker of what was expected, delivered and duplicated, with per-receipt latency.

Every message's ``client_id`` is a unique decimal tag and its body carries the send time;
a receipt is matched to its send by the tag, and counted once per connection (a second
receipt of the same tag on one connection is a duplicate).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks import procs
from benchmarks.wire import Conn

CLIENT_ID_FIELD = '"client_id":"'
SEND_EVENT = "message:send"
ENTER_EVENT = "room:enter"


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


@dataclass
class Tracker:
    """What one measurement sent and what came back."""

    sent_at: dict[int, float] = field(default_factory=dict)
    expected: int = 0
    delivered: int = 0
    duplicates: int = 0
    stale: int = 0  # receipts of tags this tracker did not send (an earlier step's)
    latencies: array = field(default_factory=lambda: array("d"))  # type: ignore[type-arg]
    ack_latencies: array = field(default_factory=lambda: array("d"))  # type: ignore[type-arg]
    acks_ok: int = 0
    ack_errors: dict[str, int] = field(default_factory=dict)
    pending_acks: int = 0
    seen: dict[int, set[int]] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def receipt(self, conn: Conn, raw: str) -> None:
        if not raw.startswith('["message"'):
            return
        now = time.perf_counter()
        at = raw.rfind(CLIENT_ID_FIELD) + len(CLIENT_ID_FIELD)
        tag = int(raw[at : raw.index('"', at)])
        sent = self.sent_at.get(tag)
        if sent is None:
            self.stale += 1
            return
        seen = self.seen.setdefault(id(conn), set())
        if tag in seen:
            self.duplicates += 1
            return
        seen.add(tag)
        self.delivered += 1
        self.latencies.append(now - sent)
        if self.delivered >= self.expected:
            self.changed.set()

    def send(self, conn: Conn, room: str, tag: int, recipients: int) -> asyncio.Future[Any]:
        """Send one message without waiting; its ack is recorded when it comes."""
        sent = time.perf_counter()
        self.sent_at[tag] = sent
        self.expected += recipients
        self.pending_acks += 1
        body = f"bench {tag} sent_at={time.time():.6f}"
        future = conn.call_nowait(SEND_EVENT, {"room": room, "body": body, "client_id": str(tag)})
        future.add_done_callback(lambda done: self._acked(done, sent))
        return future

    def _acked(self, done: asyncio.Future[Any], sent: float) -> None:
        self.pending_acks -= 1
        if done.cancelled() or done.exception() is not None:
            self.ack_errors["no_ack"] = self.ack_errors.get("no_ack", 0) + 1
        else:
            ack = done.result()
            if isinstance(ack, dict) and ack.get("ok"):
                self.acks_ok += 1
                self.ack_latencies.append(time.perf_counter() - sent)
            else:
                code = str((ack or {}).get("error", {}).get("code", "bad_ack"))
                self.ack_errors[code] = self.ack_errors.get(code, 0) + 1
        if self.pending_acks == 0:
            self.changed.set()

    def complete(self) -> bool:
        return self.delivered >= self.expected and self.pending_acks == 0

    async def drain(self, within: float) -> None:
        """Wait until everything expected came and every ack is in, or ``within`` s passed."""
        deadline = time.perf_counter() + within
        while not self.complete():
            left = deadline - time.perf_counter()
            if left <= 0:
                return
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(left, 0.5))
            except TimeoutError:
                pass

    def summary(self) -> dict[str, Any]:
        lat = self.latencies
        return {
            "sent": len(self.sent_at),
            "acked": self.acks_ok,
            "ack_errors": dict(self.ack_errors),
            "expected": self.expected,
            "delivered": self.delivered,
            "duplicates": self.duplicates,
            "stale": self.stale,
            "delivery_ratio": round(self.delivered / self.expected, 5) if self.expected else None,
            "p50_ms": ms(percentile(lat, 0.50)),
            "p90_ms": ms(percentile(lat, 0.90)),
            "p99_ms": ms(percentile(lat, 0.99)),
            "max_ms": ms(max(lat) if lat else None),
            "ack_p50_ms": ms(percentile(self.ack_latencies, 0.50)),
            "ack_p99_ms": ms(percentile(self.ack_latencies, 0.99)),
        }


class Fleet:
    """Many connections from this process; receipts go to the current ``tracker``."""

    def __init__(self, concurrency: int = 64) -> None:
        self.conns: list[Conn] = []
        self.tracker = Tracker()
        self.concurrency = concurrency
        self.connect_failures: dict[str, int] = {}
        self.entered: set[int] = set()  # id() of the connections whose enter was acked ok
        self.next_tag = 1

    def tag(self) -> int:
        self.next_tag += 1
        return self.next_tag

    def _on_event(self, conn: Conn, raw: str) -> None:
        self.tracker.receipt(conn, raw)

    async def connect(
        self, urls: Sequence[str], cookies: Sequence[str], deadline: float
    ) -> list[Conn | None]:
        """One connection per cookie (the reference takes ``""``), spread over ``urls``;
        at most ``concurrency`` handshakes at a time. Returns them in the cookies' order,
        None where one failed."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(i: int, cookie: str) -> Conn | None:
            async with gate:
                if time.perf_counter() > deadline:
                    self._fail("deadline")
                    return None
                conn = Conn(urls[i % len(urls)], self._on_event)
                try:
                    await asyncio.wait_for(conn.connect(cookie or None), 30)
                except (Exception, TimeoutError) as error:
                    self._fail(type(error).__name__)
                    await conn.close()
                    return None
                return conn

        made = await asyncio.gather(*(one(i, c) for i, c in enumerate(cookies)))
        self.conns.extend(c for c in made if c is not None)
        return list(made)

    def _fail(self, why: str) -> None:
        self.connect_failures[why] = self.connect_failures.get(why, 0) + 1

    async def enter(
        self, pairs: Sequence[tuple[Conn, str]], deadline: float, concurrency: int | None = None
    ) -> tuple[int, dict[str, int]]:
        """Each connection enters its room, at most ``concurrency`` (default: as many as
        handshakes) at a time; returns (entered, refusals by code)."""
        gate = asyncio.Semaphore(concurrency or self.concurrency)
        refused: dict[str, int] = {}

        async def one(conn: Conn, room: str) -> bool:
            async with gate:
                left = deadline - time.perf_counter()
                try:
                    if left <= 0:
                        raise TimeoutError
                    ack = await conn.call(ENTER_EVENT, {"room": room}, within=left)
                except (Exception, TimeoutError) as error:
                    code = type(error).__name__
                else:
                    if isinstance(ack, dict) and ack.get("ok"):
                        self.entered.add(id(conn))
                        return True
                    code = str((ack or {}).get("error", {}).get("code", "bad_ack"))
                refused[code] = refused.get(code, 0) + 1
                return False

        results = await asyncio.gather(*(one(c, r) for c, r in pairs))
        return sum(results), refused

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.conns), return_exceptions=True)
        self.conns = []


async def open_loop(
    tracker: Tracker,
    fleet: Fleet,
    senders: Sequence[tuple[Conn, str, int]],
    rate: float,
    seconds: float,
) -> float:
    """Each (conn, room, recipients) sends ``rate`` messages/s for ``seconds`` on a fixed
    schedule, whatever the acks do (open loop). Returns the time the sending took."""
    count = max(1, round(rate * seconds))
    began = time.perf_counter()

    async def sender(conn: Conn, room: str, recipients: int, offset: float) -> None:
        for k in range(count):
            delay = began + offset + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if conn.closed.is_set():
                return
            tracker.send(conn, room, fleet.tag(), recipients)

    spread = 1 / rate / max(1, len(senders))  # the rooms' senders do not fire together
    await asyncio.gather(*(sender(c, r, n, i * spread) for i, (c, r, n) in enumerate(senders)))
    return time.perf_counter() - began


async def closed_loop(
    tracker: Tracker, fleet: Fleet, senders: Sequence[tuple[Conn, str, int]], seconds: float
) -> float:
    """Each sender sends its next message when the previous one is acked, for ``seconds``."""
    began = time.perf_counter()
    end = began + seconds

    async def sender(conn: Conn, room: str, recipients: int) -> None:
        while time.perf_counter() < end and not conn.closed.is_set():
            with contextlib.suppress(Exception):
                await tracker.send(conn, room, fleet.tag(), recipients)

    await asyncio.gather(*(sender(c, r, n) for c, r, n in senders))
    return time.perf_counter() - began


@dataclass
class Window:
    """Server, helper and load-generator CPU, and wall time, over one measurement.
    ``helper_pids`` is asked again at the end: a database backend that a pool opened during
    the window is counted too (from zero)."""

    server_pids: list[int]
    helper_pids: Callable[[], dict[str, list[int]]] = dict
    server: procs.CpuMeter = field(init=False)
    helpers: dict[str, procs.CpuMeter] = field(init=False)
    profiler: procs.WindowProfiler = field(init=False)
    began: float = 0.0
    load_cpu: float = 0.0

    def __post_init__(self) -> None:
        self.server = procs.CpuMeter(self.server_pids)
        self.helpers = {}
        self.profiler = procs.WindowProfiler(self.server_pids)

    def start(self) -> None:
        self.profiler.start()
        self.server.start()
        self.helpers = {name: procs.CpuMeter(pids) for name, pids in self.helper_pids().items()}
        for meter in self.helpers.values():
            meter.start()
        self.began = time.perf_counter()
        self.load_cpu = _own_cpu()

    def stop(self) -> dict[str, Any]:
        result = {
            "wall_s": round(time.perf_counter() - self.began, 3),
            "server_cpu_s": round(self.server.read(), 3),
            "load_cpu_s": round(_own_cpu() - self.load_cpu, 3),
        }
        self.profiler.stop()
        now = self.helper_pids()
        for name, meter in self.helpers.items():
            pids = sorted(set(meter.pids) | set(now.get(name, [])))
            result[f"{name}_cpu_s"] = round(meter.read(pids), 3)
        return result


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system
