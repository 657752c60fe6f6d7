"""Limits at the transport: request heads (size and time), Socket.IO binary packets, Engine.IO
polling POSTs, and refused bodies that the client can still read. Raw sockets and real
clients against a real server process; memory is read from the server process itself."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect as ws_connect

from tests.conftest import SERVER_ENV
from tests.live_support import client_id, error_code, online, room_with
from tests.support import PASSWORD, ServerProcess, User, run_server, unique_name

HEADER_TIMEOUT = 1.0
MAX_HEADER_BYTES = 32 * 1024
MAX_PACKET = 256 * 1024
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {**SERVER_ENV, "CHINWAG_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT)}
    with run_server(tmp_path_factory.mktemp("transport"), env) as proc:
        yield proc


@pytest.fixture
def ana(make_user: Callable[..., User]) -> User:
    return make_user("Ana")


@pytest.fixture
def bo(make_user: Callable[..., User]) -> User:
    return make_user("Bo")


# ---- helpers -----------------------------------------------------------------------------------
def rss_kb(server: ServerProcess) -> int:
    """The server process's resident memory, from /proc."""
    assert server.proc is not None
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS line")


@contextlib.contextmanager
def raw(server: ServerProcess, timeout: float = 15) -> Iterator[socket.socket]:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    try:
        yield sock
    finally:
        sock.close()


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (or resets) the connection."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


def status_and_json(answer: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


def healthy(server: ServerProcess) -> bool:
    return httpx.get(f"{server.url}/healthz", timeout=15).status_code == 200


# ---- request heads -----------------------------------------------------------------------------
def test_a_header_over_the_cap_is_refused_with_431(server: ServerProcess) -> None:
    with raw(server) as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 64 * 1024 + b"\r\n\r\n"
        )
        status, body = status_and_json(read_all(sock))
    assert status == 431
    assert body["error"]["code"] == "headers_too_large"
    # just under the cap is an ordinary request, body and all
    with raw(server) as sock:
        filler = b"a" * (MAX_HEADER_BYTES - 200)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " + filler)
        sock.sendall(b"\r\n\r\n")
        assert read_all(sock).startswith(b"HTTP/1.1 200")


def test_a_64_mb_header_costs_the_server_no_memory(server: ServerProcess) -> None:
    assert healthy(server)
    before = rss_kb(server)
    sent = 0
    with raw(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        with contextlib.suppress(OSError):  # the server hangs up part way through
            for _ in range(64):
                sock.sendall(b"a" * MIB)
                sent += MIB
    assert sent < 64 * MIB, "the server read the whole 64 MB header"
    grown_mb = (rss_kb(server) - before) / 1024
    assert grown_mb < 16, f"the server grew by {grown_mb:.0f} MB"
    assert healthy(server)


def test_a_body_in_the_same_packet_as_the_head_is_not_counted_as_head(
    server: ServerProcess,
) -> None:
    body = json.dumps({"username": "x", "password": "y" * 60_000}).encode()
    head = (
        b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    with raw(server) as sock:
        sock.sendall(head + body)
        status, answer = status_and_json(read_all(sock))
    assert status == 422, answer  # the password is too long: the usual rules answered


def trickle_until_dropped(sock: socket.socket, first: bytes) -> bytes:
    """Send ``first``, then one more header byte every 0.2 s (bounded) until the server
    answers or hangs up; returns what it sent."""
    sock.sendall(first)
    for _ in range(75):
        readable, _, _ = select.select([sock], [], [], 0.2)
        if readable:
            return read_all(sock)
        try:
            sock.sendall(b"a")
        except OSError:
            return read_all(sock)
    raise AssertionError("the server kept listening to a client trickling its headers")


def test_a_client_that_trickles_its_headers_is_dropped(server: ServerProcess) -> None:
    with raw(server) as sock:
        answer = trickle_until_dropped(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    status, body = status_and_json(answer)
    assert status == 408
    assert body["error"]["code"] == "header_timeout"
    # the same on a kept-alive connection's second request
    with raw(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200"), first
        answer = trickle_until_dropped(sock, b"GET /healthz HTTP/1.1\r\nX-Slow: ")
    assert status_and_json(answer)[0] == 408
    assert healthy(server)


def test_a_connection_that_never_sends_a_byte_is_closed(server: ServerProcess) -> None:
    with raw(server, timeout=HEADER_TIMEOUT * 15) as sock:
        assert read_all(sock) == b""  # closed by the server, not timed out here


def test_a_slow_body_is_not_cut_by_the_header_timeout(server: ServerProcess) -> None:
    body = json.dumps({"username": unique_name(), "password": PASSWORD}).encode()
    head = (
        b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    with raw(server) as sock:
        sock.sendall(head)
        readable, _, _ = select.select([sock], [], [], HEADER_TIMEOUT * 2)
        assert not readable  # still waiting for the body, not dropped
        sock.sendall(body)
        status, answer = status_and_json(read_all(sock))
    assert status == 401, answer  # no such user: the request itself was answered


# ---- Socket.IO binary packets ------------------------------------------------------------------
@contextlib.asynccontextmanager
async def raw_socketio(server: ServerProcess, user: User) -> Any:
    """A websocket speaking Engine.IO/Socket.IO by hand, connected to the main namespace."""
    url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
    headers = {"Cookie": f"chinwag_session={user.session_cookie}"}
    async with ws_connect(url, additional_headers=headers, max_size=None) as ws:
        opened = await ws.recv()
        assert isinstance(opened, str) and opened.startswith("0"), opened
        await ws.send("40")
        connected = await ws.recv()
        assert isinstance(connected, str) and connected.startswith("40"), connected
        yield ws


async def closed_by_server(ws: Any, frames: int, frame: bytes) -> bool:
    """Send up to ``frames`` binary frames, then listen: whether the server hung up (rather
    than staying silent for 10 s)."""
    try:
        for _ in range(frames):
            await ws.send(frame)
        while True:
            await asyncio.wait_for(ws.recv(), 10)
    except websockets.ConnectionClosed:
        return True
    except TimeoutError:
        return False


PLACEHOLDER = '["message:send",{"room":"r","body":{"_placeholder":true,"num":0}}]'


@pytest.mark.parametrize(
    ("declared", "frames", "frame_bytes"),
    [
        pytest.param(1_000_000, 200, 200 * 1024, id="a million attachments, then 40 MB"),
        pytest.param(5, 1, 1024, id="more attachments than the cap"),
        pytest.param(0, 1, 1024, id="a binary packet of no attachments"),
        pytest.param(2, 2, 200 * 1024, id="attachments over the packet size cap"),
    ],
)
async def test_a_binary_packet_over_its_caps_closes_the_connection(
    server: ServerProcess, ana: User, bo: User, declared: int, frames: int, frame_bytes: int
) -> None:
    code = room_with(ana, bo)
    before = rss_kb(server)
    async with raw_socketio(server, ana) as ws:
        await ws.send(f"45{declared}-{PLACEHOLDER}")  # Engine.IO message, Socket.IO binary event
        assert await closed_by_server(ws, frames, os.urandom(frame_bytes))
    grown_mb = (rss_kb(server) - before) / 1024
    assert grown_mb < 16, f"the server grew by {grown_mb:.0f} MB"
    assert healthy(server)
    async with online(bo) as (b,):  # everyone else carries on
        await b.enter(code)
        assert (await b.send(code, "still here"))["ok"]
        await b.wait_for("message", lambda m: m["body"] == "still here")


def test_a_binary_packet_over_the_cap_by_polling_ends_the_session_without_hanging(
    server: ServerProcess, ana: User
) -> None:
    cookies = {"chinwag_session": ana.session_cookie}
    with httpx.Client(base_url=server.url, timeout=15, cookies=cookies) as http:
        sid = polling_session(http)
        params = {"EIO": "4", "transport": "polling", "sid": sid}
        assert http.post("/socket.io/", params=params, content=b"40").status_code == 200
        assert http.get("/socket.io/", params=params).text.startswith("40")
        refused = http.post("/socket.io/", params=params, content=f"455-{PLACEHOLDER}".encode())
        # answered, not left hanging: python-engineio takes the POST and ends the session
        # after it, chinwag.wire refuses it as a protocol error (400); both end it
        assert refused.status_code in (200, 400), refused.text
        gone = http.get("/socket.io/", params=params)
        assert gone.status_code == 400, gone.text  # the session is over
    assert healthy(server)


async def test_a_small_binary_packet_is_still_answered(
    server: ServerProcess, ana: User, bo: User
) -> None:
    code = room_with(ana, bo)
    async with online(ana) as (a,):
        await a.enter(code)
        ack = await a.call(
            "message:send", {"room": code, "body": b"bytes", "client_id": client_id()}
        )
        assert error_code(ack) == "invalid_input"  # refused by the rules, not the transport
        assert a.client.connected


# ---- Engine.IO polling POSTs -------------------------------------------------------------------
def polling_session(http: httpx.Client) -> str:
    """An Engine.IO session by long-polling handshake (no log-in needed for this)."""
    opened = http.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
    assert opened.status_code == 200, opened.text
    return str(json.loads(opened.text[1:])["sid"])


def oversize_post(http: httpx.Client, sid: str) -> httpx.Response:
    return http.post(
        "/socket.io/",
        params={"EIO": "4", "transport": "polling", "sid": sid},
        content=b"4" + b"x" * (MAX_PACKET + 1024),
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )


def test_an_oversize_polling_post_is_answered_413_at_once(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=15) as http:
        response = oversize_post(http, polling_session(http))
        assert response.status_code == 413, response.text
        assert error_code(response) == "too_large"

        def chunks() -> Iterator[bytes]:
            yield b"4hello"

        sid = polling_session(http)
        chunked = http.post(
            "/socket.io/", params={"EIO": "4", "transport": "polling", "sid": sid}, content=chunks()
        )
        assert chunked.status_code == 411, chunked.text
        assert error_code(chunked) == "length_required"


def test_many_oversize_polling_posts_leave_the_server_serving(
    server: ServerProcess, ana: User
) -> None:
    with httpx.Client(base_url=server.url, timeout=15) as http:
        for _ in range(300):
            assert oversize_post(http, polling_session(http)).status_code == 413
    assert healthy(server)
    assert ana.get("/api/me").status_code == 200


def test_sigterm_stops_a_server_that_was_sent_oversize_polling_posts(tmp_path: Path) -> None:
    with run_server(tmp_path, dict(SERVER_ENV)) as server, contextlib.ExitStack() as stack:
        socks = []
        with httpx.Client(base_url=server.url, timeout=15) as http:
            for _ in range(20):
                sid = polling_session(http)
                sock = stack.enter_context(raw(server))
                body = b"4" + b"x" * (MAX_PACKET + 1024)
                sock.sendall(
                    f"POST /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
                    f"Host: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                socks.append(sock)
        answers = [read_all(sock) for sock in socks]
        assert all(a.startswith(b"HTTP/1.1 413") for a in answers), answers[:1]
        assert server.proc is not None
        server.proc.terminate()
        try:
            server.proc.wait(60)
        except subprocess.TimeoutExpired:
            pytest.fail("the server did not exit on SIGTERM")
        assert server.proc.returncode is not None


# ---- refused bodies the client can read --------------------------------------------------------
AVATAR_CAP = 5 * MIB


def avatar_upload(user: User, content: Any) -> httpx.Response:
    headers = {"Content-Type": "multipart/form-data; boundary=chinwag-test"}
    return user.put("/api/me/avatar", content=content, headers=headers)


def multipart_around(data: bytes) -> bytes:
    return (
        b'--chinwag-test\r\nContent-Disposition: form-data; name="avatar"; '
        b'filename="big.png"\r\nContent-Type: image/png\r\n\r\n'
        + data
        + b"\r\n--chinwag-test--\r\n"
    )


def test_an_avatar_over_the_cap_gets_a_413_the_client_can_read(ana: User) -> None:
    # by Content-Length, well past the cap plus the multipart allowance
    response = avatar_upload(ana, multipart_around(os.urandom(AVATAR_CAP + MIB)))
    assert response.status_code == 413, response.text
    assert error_code(response) == "upload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused as it streams in
        yield multipart_around(b"").split(b"\r\n\r\n")[0] + b"\r\n\r\n"
        for _ in range(7):
            yield b"\0" * MIB

    streamed = avatar_upload(ana, chunks())
    assert streamed.status_code == 413, streamed.text
    assert error_code(streamed) == "upload_too_large"
    assert ana.get("/api/me").status_code == 200


def test_a_body_declared_far_over_the_cap_is_refused_before_it_is_sent(
    server: ServerProcess,
) -> None:
    with raw(server) as sock:
        sock.sendall(
            b"PUT /api/me/avatar HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
            b"boundary=b\r\nContent-Length: " + str(1024 * MIB).encode() + b"\r\n\r\n"
        )
        status, body = status_and_json(read_all(sock))  # nothing of the body was sent
    assert status == 413
    assert body["error"]["code"] == "upload_too_large"


def test_the_json_body_cap_is_a_setting(tmp_path: Path) -> None:
    env = {**SERVER_ENV, "CHINWAG_MAX_REQUEST_BODY_BYTES": "2048"}
    with run_server(tmp_path, env) as server:
        body = {"username": unique_name(), "full_name": "x" * 3000, "password": PASSWORD}
        response = httpx.post(f"{server.url}/api/users", json=body, timeout=15)
        assert response.status_code == 413, response.text
        assert error_code(response) == "too_large"
        assert "2,048" in response.json()["error"]["message"]
        body["full_name"] = "Ana"
        assert httpx.post(f"{server.url}/api/users", json=body, timeout=15).status_code == 201
