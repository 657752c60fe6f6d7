"""Work per client is bounded: sign-ups per address and avatar uploads per user are counted,
password checks and image decodes run in small pools that refuse at once when full, and an
image is refused before it is decoded if it would decode to more than the pixel cap.

Each limit gets a server of its own with the limit set low, so counts start at zero; all
addresses are loopback ones (a client picks its own 127.x source address to be another
address)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.conftest import SERVER_ENV
from tests.live_support import error_code
from tests.support import PASSWORD, ServerProcess, User, db_column, run_server, unique_name

MAX_PIXELS = 16_000_000  # the server's default pixel cap
# The most memory a decode may hold per pixel of the cap (a WebP: libwebp keeps canvases of
# its own; a PNG holds about half); measured in docs/security.md.
DECODE_BYTES_PER_PIXEL = 16


def image(fmt: str, size: tuple[int, int], mode: str = "RGBA", **options: object) -> bytes:
    """A small file that declares a large image (one colour compresses to almost nothing)."""
    out = io.BytesIO()
    Image.new(mode, size, (40, 90, 160, 255)[: len(mode)]).save(out, format=fmt, **options)
    return out.getvalue()


def photo(size: tuple[int, int], *, progressive: bool = False) -> bytes:
    """A camera-like JPEG: a gradient, so it is a real picture yet small on the wire."""
    gradient = Image.linear_gradient("L").resize(size).convert("RGB")
    out = io.BytesIO()
    gradient.save(out, format="JPEG", quality=85, progressive=progressive)
    return out.getvalue()


def upload(user: User, data: bytes) -> httpx.Response:
    return user.put("/api/me/avatar", files={"avatar": ("me.img", data, "application/x-img")})


def from_address(server: ServerProcess, address: str) -> httpx.AsyncClient:
    """An HTTP client whose connections come from ``address`` (any 127.x works on Linux)."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=server.url, transport=transport, timeout=30)


def sign_up_body(username: str | None = None) -> dict[str, str]:
    return {"username": username or unique_name(), "full_name": "Some One", "password": PASSWORD}


def assert_refused(response: httpx.Response, status: int, code: str, most: int) -> None:
    """Refused with ``status``/``code``, told when to come back (within ``most`` seconds)."""
    assert response.status_code == status, response.text
    assert error_code(response) == code
    assert 1 <= int(response.headers["Retry-After"]) <= most
    assert "set-cookie" not in response.headers


def signed_up(server: ServerProcess, count: int) -> list[User]:
    users = [User(server.url, unique_name(), "Some One", PASSWORD) for _ in range(count)]
    for user in users:
        assert user.sign_up().status_code == 201
    return users


@pytest.fixture
def limited_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server with the test's own limits (``@pytest.mark.parametrize("limited_server",
    [{...}], indirect=True)``) over the suite's fast defaults."""
    with run_server(tmp_path, {**SERVER_ENV, **request.param}) as proc:
        yield proc


def with_limits(**env: str) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("limited_server", [env], indirect=True, ids=["limits"])


# ---- sign-ups per address ---------------------------------------------------------------------
@with_limits(CHINWAG_SIGNUPS_PER_WINDOW="3", CHINWAG_SIGNUP_WINDOW_SECONDS="600")
async def test_sign_ups_are_limited_per_address(limited_server: ServerProcess) -> None:
    server = limited_server
    first, second, third = sign_up_body(), sign_up_body(), sign_up_body()
    async with (
        from_address(server, "127.0.0.2") as crowd,
        from_address(server, "127.0.0.3") as other,
    ):
        assert (await crowd.post("/api/users", json=first)).status_code == 201
        taken = await crowd.post("/api/users", json=sign_up_body(first["username"]))
        assert taken.status_code == 409  # a refused attempt counts too: it cost a hash
        assert (await crowd.post("/api/users", json=second)).status_code == 201
        assert_refused(await crowd.post("/api/users", json=third), 429, "rate_limited", 600)
        assert third["username"] not in db_column(server, "SELECT username FROM users")
        # other addresses still sign up, and the limited address still logs in
        assert (await other.post("/api/users", json=third)).status_code == 201
        login = {"username": first["username"], "password": PASSWORD}
        assert (await crowd.post("/api/session", json=login)).status_code == 200


# ---- the password-hash pool -------------------------------------------------------------------
@with_limits(CHINWAG_PASSWORD_HASH_WORKERS="1", CHINWAG_PASSWORD_HASH_QUEUE="0")
async def test_a_full_hash_pool_refuses_log_ins_at_once(limited_server: ServerProcess) -> None:
    server = limited_server
    users = signed_up(server, 8)
    clients = [from_address(server, f"127.0.0.{10 + i}") for i in range(len(users))]
    try:
        responses = await asyncio.gather(
            *(
                client.post("/api/session", json={"username": u.username, "password": PASSWORD})
                for client, u in zip(clients, users, strict=True)
            )
        )
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {200, 503}, statuses
        assert 200 in statuses and 503 in statuses, statuses
        for response in responses:
            if response.status_code == 503:
                assert_refused(response, 503, "server_busy", 5)
        # a refusal is not a failed guess, and the pool is free again: each logs in now
        for client, user, response in zip(clients, users, responses, strict=True):
            if response.status_code == 503:
                body = {"username": user.username, "password": PASSWORD}
                assert (await client.post("/api/session", json=body)).status_code == 200
    finally:
        for client in clients:
            await client.aclose()
        for user in users:
            user.close()


@with_limits(CHINWAG_PASSWORD_HASH_WORKERS="1", CHINWAG_PASSWORD_HASH_QUEUE="1")
async def test_a_full_hash_pool_refuses_sign_ups_at_once(limited_server: ServerProcess) -> None:
    server = limited_server
    bodies = [sign_up_body() for _ in range(8)]
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        responses = await asyncio.gather(*(client.post("/api/users", json=b) for b in bodies))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 503} and 201 in statuses and 503 in statuses, statuses
    stored = set(db_column(server, "SELECT username FROM users"))
    for body, response in zip(bodies, responses, strict=True):
        if response.status_code == 503:
            assert_refused(response, 503, "server_busy", 5)
        assert (body["username"] in stored) == (response.status_code == 201)


# ---- avatars ----------------------------------------------------------------------------------
def test_images_over_the_pixel_cap_are_refused_before_decoding(server: ServerProcess) -> None:
    ana = User(server.url, unique_name(), "Ana", PASSWORD)
    try:
        assert ana.sign_up().status_code == 201
        big_png = image("PNG", (6300, 6300), optimize=True)  # ~40 Mpx declared, ~150 KB sent
        assert len(big_png) < 200_000
        for data in (
            big_png,
            image("PNG", (5000, 4000)),  # 20 Mpx: over the 16 Mpx cap
            image("GIF", (4001, 4000), mode="P"),
            image("WEBP", (4001, 4000), lossless=True),
            photo((8064, 6048), progressive=True),  # decoded whole: 48 Mpx
        ):
            response = upload(ana, data)
            assert response.status_code == 413, response.text
            assert error_code(response) == "image_too_large"
        assert ana.get("/api/me").json()["avatar_url"] is None
        # at the cap, and a phone camera's sequential JPEG (decoded at 1/8 scale) are fine
        for data in (image("PNG", (4000, 4000)), photo((4032, 3024)), photo((8064, 6048))):
            response = upload(ana, data)
            assert response.status_code == 200, response.text
    finally:
        ana.close()


@with_limits(CHINWAG_AVATAR_UPLOADS_PER_WINDOW="2", CHINWAG_AVATAR_UPLOAD_WINDOW_SECONDS="300")
def test_avatar_uploads_are_limited_per_user(limited_server: ServerProcess) -> None:
    server = limited_server
    ana, bo = signed_up(server, 2)
    try:
        not_an_image = upload(ana, b"hello, world\n" * 50)
        assert not_an_image.status_code == 415  # a refused upload counts too: it was decoded
        kept = upload(ana, image("PNG", (64, 64)))
        assert kept.status_code == 200, kept.text
        assert_refused(upload(ana, image("JPEG", (64, 64), mode="RGB")), 429, "rate_limited", 300)
        assert ana.get("/api/me").json()["avatar_url"] == kept.json()["avatar_url"]
        assert upload(bo, image("PNG", (64, 64))).status_code == 200  # per user
        assert ana.delete("/api/me/avatar").status_code == 200  # removing is not limited
    finally:
        ana.close()
        bo.close()


@with_limits(CHINWAG_IMAGE_DECODE_WORKERS="1", CHINWAG_IMAGE_DECODE_QUEUE="0")
def test_a_full_decode_pool_refuses_uploads_at_once(limited_server: ServerProcess) -> None:
    server = limited_server
    users = signed_up(server, 8)
    data = image("PNG", (4000, 4000))  # at the cap: a decode of a few hundred milliseconds
    try:
        with ThreadPoolExecutor(len(users)) as pool:
            responses = list(pool.map(upload, users, [data] * len(users)))
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {200, 503} and 200 in statuses and 503 in statuses, statuses
        for user, response in zip(users, responses, strict=True):
            if response.status_code == 503:
                assert_refused(response, 503, "server_busy", 5)
                assert user.get("/api/me").json()["avatar_url"] is None
                assert upload(user, data).status_code == 200  # the pool is free again
    finally:
        for user in users:
            user.close()


def memory_kib(server: ServerProcess) -> dict[str, int]:
    assert server.proc is not None
    status = Path(f"/proc/{server.proc.pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")}


@with_limits(CHINWAG_IMAGE_DECODE_WORKERS="2", CHINWAG_IMAGE_DECODE_QUEUE="10")
def test_concurrent_max_size_uploads_stay_within_the_decode_pool_memory(
    limited_server: ServerProcess,
) -> None:
    """Twelve uploads at once, each decoding to the full pixel cap: only two decode at a time,
    so the server's peak memory grows by at most two decodes' worth (before the pool, all
    twelve decoded at once and it grew by over 2 GB)."""
    server = limited_server
    users = signed_up(server, 12)
    data = image("PNG", (4000, 4000))
    bound_kib = (2 * DECODE_BYTES_PER_PIXEL * MAX_PIXELS + 64 * 2**20) // 1024
    try:
        before = memory_kib(server)
        with ThreadPoolExecutor(len(users)) as pool:
            responses = list(pool.map(upload, users, [data] * len(users)))
        assert [r.status_code for r in responses] == [200] * len(users)  # all had a place
        growth = memory_kib(server)["VmHWM"] - before["VmRSS"]
        assert growth < bound_kib, (growth, bound_kib)
    finally:
        for user in users:
            user.close()
