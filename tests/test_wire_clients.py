"""Official clients against ``chinwag conformance``: python-socketio and socket.io-client (JS),
each starting on long-polling and upgrading to a websocket, with binary events and acks."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from typing import Any

import pytest
import socketio

from tests.wire_support import ROOT, WireProcess

FRONTEND = ROOT / "frontend"


async def test_python_socketio_upgrades_and_carries_binary_and_acks(
    patient_conformance: WireProcess,
) -> None:
    client = socketio.AsyncClient(reconnection=False)
    auths: asyncio.Queue[Any] = asyncio.Queue()
    echoes: asyncio.Queue[Any] = asyncio.Queue()
    client.on("auth", auths.put_nowait)
    client.on("message-back", lambda *args: echoes.put_nowait(args))
    await client.connect(
        patient_conformance.url, auth={"token": "py"}, transports=["polling", "websocket"]
    )
    try:
        assert await auths.get() == {"token": "py"}
        for i in range(5):  # on polling, then wherever the upgrade has got to
            await client.emit("message", (i, b"\x00\xff", {"deep": [b"\x01"]}))
            assert await echoes.get() == (i, b"\x00\xff", {"deep": [b"\x01"]})
            ack = await client.call("message-with-ack", (i, b"\x02"))
            assert ack == (i, b"\x02")
        while client.transport() != "websocket":  # the upgrade completes on its own
            await client.call("message-with-ack", "wait")
        await client.emit("message", (b"after",))
        assert await echoes.get() == (b"after",)
        assert await client.call("message-with-ack", (b"ws", "ack")) == (b"ws", "ack")
    finally:
        await client.disconnect()


JS_CLIENT = """
const { io } = require("socket.io-client");
const socket = io(process.argv[1], { auth: { token: "js" }, reconnection: false });
const out = { transports: [] };
const call = (...args) =>
  new Promise((resolve) => socket.emit(...args, (...acked) => resolve(acked)));
socket.on("auth", (auth) => { out.auth = auth; });
socket.on("connect_error", (err) => {
  console.error(err.message);
  process.exit(1);
});
socket.on("connect", async () => {
  out.transports.push(socket.io.engine.transport.name);
  const echoed = new Promise((resolve) => socket.once("message-back", (...args) => resolve(args)));
  socket.emit("message", 1, Buffer.from([1, 2, 3]));
  const back = await echoed;
  out.echo = [back[0], Array.from(back[1])];
  const ack = await call("message-with-ack", "a", Buffer.from([9]));
  out.ack = [ack[0], Array.from(ack[1])];
  while (socket.io.engine.transport.name !== "websocket") {
    await call("message-with-ack", "wait");
  }
  out.transports.push(socket.io.engine.transport.name);
  const late = await call("message-with-ack", Buffer.from([7]));
  out.late = Array.from(late[0]);
  console.log(JSON.stringify(out));
  socket.disconnect();
});
"""


@pytest.mark.skipif(
    shutil.which("node") is None or not (FRONTEND / "node_modules" / "socket.io-client").exists(),
    reason="needs node and socket.io-client (`cd frontend && npm ci`)",
)
async def test_the_js_client_upgrades_and_carries_binary_and_acks(
    patient_conformance: WireProcess,
) -> None:
    proc = await asyncio.create_subprocess_exec(
        "node",
        "-e",
        JS_CLIENT,
        patient_conformance.url,
        cwd=FRONTEND,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, stderr.decode()
    assert json.loads(stdout) == {
        "auth": {"token": "js"},
        "transports": ["polling", "websocket"],
        "echo": [1, [1, 2, 3]],
        "ack": ["a", [9]],
        "late": [7],
    }
