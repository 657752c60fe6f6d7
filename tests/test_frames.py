"""Room events framed once and written straight to websockets (``chinwag.realtime.frames``
on python-socketio, ``chinwag.wire`` on the own server; every test runs on both):
every delivery still reaches exactly the right connections, once and in order, whichever
transport each is on (long-polling, websocket, upgrading, caught mid-upgrade), and a
connection's acks and events keep the order the server produced them in. Real server, real
python-socketio clients, and raw Engine.IO clients where the test needs to see every frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from tests.conftest import SERVER_ENV
from tests.live_support import Client, client_id, room_with
from tests.support import ServerProcess, User, run_server

EIO = {"EIO": "4"}
ACK = re.compile(r"^43(\d+)(.*)$", re.S)


@pytest.fixture(scope="module", params=["python-socketio", "own"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """Each Socket.IO server underneath (``CHINWAG_SOCKET_SERVER``)."""
    env = {**SERVER_ENV, "CHINWAG_SOCKET_SERVER": request.param}
    with run_server(tmp_path_factory.mktemp("frames"), env) as proc:
        yield proc


class TransportClient(Client):
    """A recording python-socketio client on the transports given (the official clients'
    default is long-polling first, then the upgrade to websocket)."""

    def __init__(self, url: str, cookie: str, transports: list[str]) -> None:
        super().__init__(url, cookie)
        self.transports = transports

    async def connect(self) -> None:
        headers = {"Cookie": f"chinwag_session={self.cookie}"}
        await self.client.connect(
            self.url, headers=headers, transports=self.transports, wait_timeout=10
        )


@contextlib.asynccontextmanager
async def clients(
    server: ServerProcess, *places: tuple[User, list[str]]
) -> AsyncIterator[list[TransportClient]]:
    async with contextlib.AsyncExitStack() as stack:
        found = []
        for user, transports in places:
            client = TransportClient(server.url, user.session_cookie, transports)
            await client.connect()
            stack.push_async_callback(client.close)
            found.append(client)
        yield found


def frame_counts(server: ServerProcess) -> dict[str, float]:
    text = httpx.get(f"{server.url}/metrics").text
    found = re.findall(r'^chinwag_socket_frames_total\{path="(\w+)"\} (\S+)$', text, re.M)
    return {path: float(value) for path, value in found}


def seqs(client: Client, code: str) -> list[int]:
    return [m["seq"] for m in client.received("message", lambda m: m["room"] == code)]


async def test_room_messages_reach_every_member_once_in_order_on_every_transport(
    server: ServerProcess, make_user: Callable[..., User]
) -> None:
    ana, bo, cy, dee, eve = (make_user(n) for n in ("Ana", "Bo", "Cy", "Dee", "Eve"))
    code = room_with(ana, bo, cy, dee)
    elsewhere = room_with(eve, ana)
    before = frame_counts(server)
    async with clients(
        server,
        (ana, ["websocket"]),
        (bo, ["polling"]),
        (cy, ["polling", "websocket"]),
        (dee, ["websocket"]),
        (eve, ["websocket"]),
    ) as (sender, polling, upgrading, websocket, outsider):
        for member in (sender, polling, upgrading, websocket):
            await member.enter(code)
        await outsider.enter(elsewhere)
        await sender.enter(elsewhere)
        acks = await asyncio.gather(
            *(sender.send(code, f"message {i}", client_id=client_id()) for i in range(40))
        )
        assert all(ack["ok"] for ack in acks), acks
        sent = sorted(ack["message"]["seq"] for ack in acks)
        for member in (sender, polling, upgrading, websocket):
            try:
                await member.wait_count("message", len(sent), lambda m: m["room"] == code)
            except AssertionError as stalled:  # say whose stream stopped, on which transport
                got = seqs(member, code)
                raise AssertionError(
                    f"the {member.transports} client (now on {member.client.transport()}) "
                    f"has {len(got)} of {len(sent)} messages: {got}"
                ) from stalled
        # a later message in the outsider's room: what was meant for it has arrived by then
        barrier = await sender.send(elsewhere, "barrier")
        await outsider.wait_for("message", lambda m: m["id"] == barrier["message"]["id"])
        for member in (sender, polling, upgrading, websocket):
            assert seqs(member, code) == sent
        assert seqs(outsider, code) == []
        assert polling.client.transport() == "polling"
        assert upgrading.client.transport() == "websocket"
    after = frame_counts(server)
    assert after["direct"] > before.get("direct", 0)  # the websockets took the fast path
    assert after["queued"] > before.get("queued", 0)  # long-polling kept the queue


# ---- raw Engine.IO clients: every frame, in the order it arrived ------------------------------
class RawWebSocket:
    """A websocket Engine.IO client that keeps every frame and pipelines acked events."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[str] = []
        self.next_id = 0
        self._reader = asyncio.ensure_future(self._read())
        self._changed = asyncio.Event()

    async def _read(self) -> None:
        async for frame in self.ws:
            assert isinstance(frame, str), frame
            if frame == "2":
                await self.ws.send("3")
                continue
            self.frames.append(frame)
            self._changed.set()

    async def emit(self, event: str, data: Any) -> int:
        self.next_id += 1
        await self.ws.send(f"42{self.next_id}" + json.dumps([event, data]))
        return self.next_id

    async def wait_until(self, done: Callable[[list[str]], bool], timeout: float = 15) -> None:
        async with asyncio.timeout(timeout):
            while not done(self.frames):
                self._changed.clear()
                await self._changed.wait()

    async def close(self) -> None:
        self._reader.cancel()
        await self.ws.close()


def acks_in(frames: list[str]) -> dict[int, Any]:
    found = {}
    for frame in frames:
        matched = ACK.match(frame)
        if matched:
            found[int(matched.group(1))] = json.loads(matched.group(2))[0]
    return found


def message_seqs(frames: list[str], code: str) -> list[int]:
    found = []
    for frame in frames:
        if frame.startswith('42["message"'):
            data = json.loads(frame[2:])[1]
            if data["room"] == code:
                found.append(data["seq"])
    return found


@contextlib.asynccontextmanager
async def raw_websocket(
    server: ServerProcess, user: User, sid: str | None = None
) -> AsyncIterator[ClientConnection]:
    query = "EIO=4&transport=websocket" + (f"&sid={sid}" if sid else "")
    url = f"ws://127.0.0.1:{server.port}/socket.io/?{query}"
    headers = {"Cookie": f"chinwag_session={user.session_cookie}"}
    async with ws_connect(url, additional_headers=headers, compression=None) as ws:
        yield ws


async def test_the_senders_events_and_acks_keep_the_order_they_were_produced_in(
    server: ServerProcess, make_user: Callable[..., User]
) -> None:
    """Each ``message:send`` is handled after the previous one's ack was queued, and its
    message reaches the sender's own connection before its ack: the frames must alternate
    event, ack, event, ack, however the sends are pipelined."""
    ana, bo = make_user("Ana"), make_user("Bo")
    code = room_with(ana, bo)
    async with raw_websocket(server, ana) as ws, clients(server, (bo, ["websocket"])) as (peer,):
        assert (await ws.recv()).startswith("0")
        await ws.send("40")
        assert str(await ws.recv()).startswith("40")
        sender = RawWebSocket(ws)
        entered = await sender.emit("room:enter", {"room": code})
        await sender.wait_until(lambda frames: entered in acks_in(frames))
        await peer.enter(code)
        sender.frames.clear()
        count = 60
        ids = [
            await sender.emit(
                "message:send", {"room": code, "body": f"m{i}", "client_id": client_id()}
            )
            for i in range(count)
        ]
        await sender.wait_until(lambda frames: len(acks_in(frames)) == count)
        await sender.wait_until(lambda frames: len(message_seqs(frames, code)) == count)
        frames = [f for f in sender.frames if f.startswith(("43", '42["message"'))]
        acks = acks_in(frames)
        assert all(acks[i]["ok"] for i in ids), acks
        expected: list[str] = []
        for i in ids:
            expected += ["message", f"ack {i}"]
        got = ["message" if f.startswith("42") else f"ack {ACK.match(f).group(1)}" for f in frames]  # type: ignore[union-attr]
        assert got == expected
        assert message_seqs(frames, code) == [acks[i]["message"]["seq"] for i in ids]
        await peer.wait_count("message", count)
        assert seqs(peer, code) == message_seqs(frames, code)
        await sender.close()


class Polling:
    """A long-polling Engine.IO client, as the official clients start."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.sid = ""

    async def open(self) -> None:
        opened = await self.http.get("/socket.io/", params={**EIO, "transport": "polling"})
        assert opened.text.startswith("0"), opened.text
        self.sid = json.loads(opened.text[1:])["sid"]

    def params(self) -> dict[str, str]:
        return {**EIO, "transport": "polling", "sid": self.sid}

    async def post(self, packet: str) -> None:
        sent = await self.http.post("/socket.io/", params=self.params(), content=packet.encode())
        # python-engineio answers "OK", the reference server (and chinwag.wire) "ok"
        assert sent.status_code == 200 and sent.text.lower() == "ok", sent.text

    async def get(self) -> list[str]:
        got = await self.http.get("/socket.io/", params=self.params())
        assert got.status_code == 200, got.text
        return got.text.split("\x1e")


async def test_a_message_sent_while_a_member_is_mid_upgrade_arrives_once_in_order(
    server: ServerProcess, make_user: Callable[..., User]
) -> None:
    """The member polls, probes a websocket (the upgrade has begun: packets are held), and
    messages are sent; then it completes the upgrade and more are sent. Across what the
    polls and the websocket carried, it has each message once, in order."""
    ana, bo = make_user("Ana"), make_user("Bo")
    code = room_with(ana, bo)
    cookies = {"chinwag_session": bo.session_cookie}
    async with (
        httpx.AsyncClient(base_url=server.url, cookies=cookies, timeout=30) as http,
        clients(server, (ana, ["websocket"])) as (sender,),
    ):
        await sender.enter(code)
        member = Polling(http)
        await member.open()
        await member.post("40")
        assert (await member.get())[0].startswith("40")
        await member.post("420" + json.dumps(["room:enter", {"room": code}]))
        polled: list[str] = []
        while not any(p.startswith("430") for p in polled):
            polled += await member.get()

        async def send(i: int) -> int:
            ack = await sender.send(code, f"m{i}", client_id=client_id())
            assert ack["ok"], ack
            return int(ack["message"]["seq"])

        sent = [await send(0)]  # on long-polling
        pending = asyncio.ensure_future(member.get())  # a poll waiting, as clients keep one
        async with raw_websocket(server, bo, member.sid) as ws:
            await ws.send("2probe")
            assert await ws.recv() == "3probe"
            sent += [await send(i) for i in range(1, 6)]  # mid-upgrade: held
            polled += await pending  # the probe ends the waiting poll (a NOOP)
            await ws.send("5")  # upgraded: what was held goes out on the websocket
            upgraded = RawWebSocket(ws)
            sent += [await send(i) for i in range(6, 12)]  # straight to the websocket
            await upgraded.wait_until(
                lambda frames: max(message_seqs(frames, code), default=0) >= sent[-1]
            )
            carried = message_seqs(polled, code) + message_seqs(upgraded.frames, code)
            assert carried == sent
            assert message_seqs(upgraded.frames, code)[-6:] == sent[-6:]
            await upgraded.close()


@pytest.mark.parametrize("compression", [False, True])
async def test_websocket_compression_is_accepted_only_when_turned_on(
    tmp_path: Path, compression: bool
) -> None:
    env = {**SERVER_ENV, "CHINWAG_WEBSOCKET_COMPRESSION": str(compression).lower()}
    with run_server(tmp_path, env) as proc:
        url = f"ws://127.0.0.1:{proc.port}/socket.io/?EIO=4&transport=websocket"
        async with ws_connect(url, compression="deflate") as ws:  # what browsers offer
            assert ws.response is not None
            extensions = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
            assert ("permessage-deflate" in extensions) is compression
            assert str(await ws.recv()).startswith("0")
