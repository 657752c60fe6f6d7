"""The benchmark harness end to end at its smallest scale: real Chinwag servers (SQLite,
PostgreSQL, two nodes through Redis), the Node socket.io reference, this repository's load
generator and the official python-socketio client. Counts only, never timings: everything
expected is delivered once, every acked message is stored, every scenario is reported."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from benchmarks import wire
from benchmarks.load import Window
from benchmarks.procs import PROFILE_DIR
from benchmarks.report import POSTGRES, REF, SQLITE, TWO_NODES
from benchmarks.targets import reference_available
from benchmarks.wire import CLOSE, PING, PONG, TEXT, HandshakeRefused, _WebSocket

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {
    "x": [SQLITE],
    "a": [SQLITE],
    "f": [SQLITE],
    "c": [SQLITE],
    "d": [SQLITE, POSTGRES],
    "e": [POSTGRES, TWO_NODES],
}


def everything_delivered(step: dict[str, Any]) -> None:
    assert step["sent"] > 0
    assert step["acked"] == step["sent"], step["ack_errors"]
    assert step["delivered"] == step["expected"], step
    assert step["duplicates"] == 0


@pytest.mark.timeout(240)
def test_every_scenario_runs_and_counts_agree(tmp_path: Path) -> None:
    why_not = reference_available()  # npm ci where node_modules is missing
    plot = tmp_path / "latency.png"
    command = [sys.executable, "-m", "benchmarks.run", "--quick", "--results", str(tmp_path)]
    command += ["--plot", str(plot), *(["--no-reference"] if why_not else [])]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=230)
    assert run.returncode == 0, run.stderr[-4000:]

    results = json.loads((tmp_path / "latest.json").read_text())
    assert results["reference"] == (why_not or "ran")
    for key, shapes in SCENARIOS.items():
        targets = results["scenarios"][key]["targets"]
        assert sorted(targets) == sorted(shapes + ([] if why_not else [REF])), key
        for label, outcome in targets.items():
            assert "error" not in outcome, (key, label, outcome)

    for label, x in results["scenarios"]["x"]["targets"].items():
        clients = x["official_clients"]
        assert x["generator_delivered"] == x["sent"] * x["generator_clients"], label
        assert x["official_delivered"] == x["sent"] * clients, label
        assert x["generator_duplicates"] == x["official_duplicates"] == 0
        assert x["agree"] is True
    for a in results["scenarios"]["a"]["targets"].values():
        assert a["enter"]["entered"] == a["rooms"] * a["members"]
        assert a["steps"]
        # at this scale the lowest rate is far below any server's capacity
        everything_delivered(a["steps"][0])
    for f in results["scenarios"]["f"]["targets"].values():
        assert f["enter"]["entered"] == f["members"]
        everything_delivered(f["steps"][0])
    for c in results["scenarios"]["c"]["targets"].values():
        assert c["connected"] == c["entered"] == c["connections"]
        assert c["connect_failures"] == {}
    for label, d in results["scenarios"]["d"]["targets"].items():
        assert d["acked"] > 0 and d["ack_errors"] == {}
        assert d["delivered"] == d["expected"] and d["duplicates"] == 0
        if label != REF:
            assert d["stored"] == d["acked"], label  # every acked message was kept
    for e in results["scenarios"]["e"]["targets"].values():
        everything_delivered(e)
    assert results["scenarios"]["e"]["targets"][TWO_NODES]["nodes"] == 2

    for heading in ("(a)", "(b)", "(c)", "(d)", "(e)", "(f)", "(x)"):
        assert f"| {heading}" in run.stdout or f"{heading} " in run.stdout, heading
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_window_profile_records_the_server_s_own_stacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``BENCH_PROFILE``: each server process is recorded over exactly one window."""
    busy = "def spin_for_the_profiler():\n    while True: sum(range(1000))\nspin_for_the_profiler()"
    proc = subprocess.Popen([sys.executable, "-c", busy])
    try:
        monkeypatch.setenv(PROFILE_DIR, str(tmp_path))
        window = Window([proc.pid])
        window.start()
        time.sleep(1.5)
        result = window.stop()
    finally:
        proc.kill()
        proc.wait()
    assert result["server_cpu_s"] > 0
    (recorded,) = tmp_path.glob(f"000-{proc.pid}.txt")
    stacks = recorded.read_text().splitlines()
    assert any("spin_for_the_profiler" in line for line in stacks), stacks[:5]
    assert sum(int(line.rsplit(" ", 1)[1]) for line in stacks) > 0  # samples counted


def test_without_bench_profile_a_window_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PROFILE_DIR, raising=False)
    monkeypatch.chdir(tmp_path)
    window = Window([os.getpid()])
    window.start()
    window.stop()
    assert window.profiler.running == [] and list(tmp_path.iterdir()) == []


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def server_frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        return bytes((first, n)) + payload
    if n < 1 << 16:
        return bytes((first, 126)) + n.to_bytes(2, "big") + payload
    return bytes((first, 127)) + n.to_bytes(8, "big") + payload


def unmask(sent: bytes) -> tuple[int, bytes]:
    """A client frame's opcode and payload (the generator masks every frame it sends)."""
    assert sent[1] & 0x80, "a client frame must be masked"
    n, at = sent[1] & 0x7F, 2
    if n == 126:
        n, at = int.from_bytes(sent[2:4], "big"), 4
    key, body = sent[at : at + 4], sent[at + 4 :]
    assert len(body) == n
    return sent[0] & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(body))


async def test_the_generator_s_websocket_reads_frames_however_the_bytes_arrive() -> None:
    """Frames of every length form, split anywhere across reads, fragmented text, a PING
    answered with its PONG, then the server's CLOSE answered and the socket closed."""
    key = b"dGhlIHNhbXBsZSBub25jZQ=="
    accept = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455's own example
    texts: list[str] = []
    ws = _WebSocket(b"GET / HTTP/1.1\r\n\r\n", accept, texts.append)
    transport = FakeTransport()
    ws.connection_made(transport)  # type: ignore[arg-type]
    assert transport.written == [b"GET / HTTP/1.1\r\n\r\n"]
    assert base64.b64encode(hashlib.sha1(key + wire._GUID).digest()) == accept  # noqa: S324
    upgrade = b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    big, medium = "é" * 40_000, "m" * 300
    stream = upgrade + b"".join(
        [
            server_frame(TEXT, b"42short"),
            server_frame(TEXT, medium.encode()),
            server_frame(TEXT, big.encode()),
            server_frame(TEXT, b"42par", fin=False),
            server_frame(0x0, b"ts", fin=False),
            server_frame(0x0, b" joined", fin=True),
            server_frame(PING, b"are you there"),
            server_frame(CLOSE, (1000).to_bytes(2, "big")),
        ]
    )
    for at in range(0, len(stream), 7):  # 7-byte reads: every header split somewhere
        ws.data_received(stream[at : at + 7])
    assert ws.opened.done() and ws.opened.exception() is None
    assert texts == ["42short", medium, big, "42parts joined"]
    pong, close = (unmask(sent) for sent in transport.written[1:])
    assert pong == (PONG, b"are you there")
    assert close == (CLOSE, (1000).to_bytes(2, "big"))
    assert transport.closed


async def test_the_generator_s_websocket_refuses_a_wrong_upgrade() -> None:
    ws = _WebSocket(b"GET / HTTP/1.1\r\n\r\n", b"expected", lambda text: None)
    transport = FakeTransport()
    ws.connection_made(transport)  # type: ignore[arg-type]
    ws.data_received(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(HandshakeRefused, match="403"):
        await ws.opened
    assert transport.closed
