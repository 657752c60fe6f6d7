"""Raw Engine.IO / Socket.IO clients (aiohttp) and the real servers the wire tests talk to."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class WireProcess:
    """A server process on a free loopback port: ``chinwag conformance`` or a test app."""

    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def run_wire_process(argv: Sequence[str], tmp: Path) -> Iterator[WireProcess]:
    port = free_port()
    log_path = tmp / f"wire-{port}.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, *[arg.format(port=port) for arg in argv]],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = WireProcess(port, proc, log_path)
    try:
        wait_ready(server)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait_ready(server: WireProcess, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/socket.io/?EIO=4&transport=polling").status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server did not become ready:\n{server.log()}")


class RawClient:
    """Engine.IO requests by hand: polling GET/POST and websockets, pings answered."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url

    def endpoint(self, query: str) -> str:
        return f"{self.url}/socket.io/?{query}"

    async def request(self, method: str, query: str, body: str | bytes | None = None) -> Any:
        async with self.http.request(method, self.endpoint(query), data=body) as response:
            return response.status, await response.text()

    async def handshake(self) -> dict[str, Any]:
        status, text = await self.request("GET", "EIO=4&transport=polling")
        assert status == 200 and text[0] == "0", (status, text)
        return dict(json.loads(text[1:]))

    async def open_polling(self) -> str:
        return str((await self.handshake())["sid"])

    async def get(self, sid: str) -> tuple[int, str]:
        return await self.request("GET", f"EIO=4&transport=polling&sid={sid}")  # type: ignore[no-any-return]

    async def post(self, sid: str, body: str | bytes) -> tuple[int, str]:
        return await self.request("POST", f"EIO=4&transport=polling&sid={sid}", body)  # type: ignore[no-any-return]

    async def websocket(self, query: str = "EIO=4&transport=websocket") -> Socket:
        ws = await self.http.ws_connect(self.endpoint(query), max_msg_size=0, autoping=True)
        return Socket(ws)

    async def open_websocket(self) -> tuple[Socket, dict[str, Any]]:
        socket = await self.websocket()
        opened = await socket.receive()
        assert isinstance(opened, str) and opened[0] == "0", opened
        return socket, dict(json.loads(opened[1:]))

    async def connected(self, connect: str = "40") -> Socket:
        """A websocket session connected to a namespace, its "auth" event read."""
        socket, _ = await self.open_websocket()
        await socket.send(connect)
        answer = await socket.receive()
        assert isinstance(answer, str) and answer.startswith(connect[:2]), answer
        auth = await socket.receive()
        assert isinstance(auth, str) and '"auth"' in auth, auth
        return socket


class Socket:
    """A websocket whose Engine.IO pings are answered and skipped."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.answer_pings = True

    async def send(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def receive(self) -> str | bytes | None:
        """The next message that is not a ping; None once the websocket is closed."""
        while True:
            message = await self.ws.receive()
            if message.type == aiohttp.WSMsgType.TEXT:
                if message.data == "2" and self.answer_pings:
                    await self.ws.send_str("3")
                    continue
                return str(message.data)
            if message.type == aiohttp.WSMsgType.BINARY:
                return bytes(message.data)
            return None  # closed, closing or an error

    async def receive_until_closed(self) -> list[str | bytes]:
        """Every message up to the close (pings left out)."""
        messages = []
        while (message := await self.receive()) is not None:
            messages.append(message)
        return messages

    async def close(self) -> None:
        await self.ws.close()
