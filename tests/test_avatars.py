"""Avatars over real HTTP: upload, serve, share, replace, delete, and every refusal."""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.support import ServerProcess, User, connected, db_column

MakeUser = Callable[..., User]
MAX_AVATAR_BYTES = 5 * 1024 * 1024  # the server's default
AVATAR_URL = re.compile(r"/media/avatars/([0-9a-f]{64})\.webp")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def picture(fmt: str, size: tuple[int, int] = (300, 200)) -> bytes:
    """A real image of random pixels: no other test's upload can share its thumbnail."""
    width, height = size
    image = Image.frombytes("RGB", size, os.urandom(width * height * 3))
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def bomb(size: tuple[int, int]) -> bytes:
    """A 1-bit PNG that declares ``size``: a few kilobytes that would decode to gigabytes."""
    out = io.BytesIO()
    Image.new("1", size).save(out, format="PNG", optimize=True)
    return out.getvalue()


def upload(user: User, data: bytes, field: str = "avatar", **kw: Any) -> httpx.Response:
    return user.put("/api/me/avatar", files={field: ("me.png", data, "image/png")}, **kw)


def avatar_name(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    url = response.json()["avatar_url"]
    match = AVATAR_URL.fullmatch(url)
    assert match, url
    return f"{match.group(1)}.webp"


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"], body
    return str(body["error"]["code"])


def fetch(server: ServerProcess, path: str) -> httpx.Response:
    """GET without any cookie: avatars are public."""
    with httpx.Client(base_url=server.url, timeout=15) as anonymous:
        return anonymous.get(path)


def stored(server: ServerProcess) -> set[str]:
    """The names of the avatars in the server's database."""
    return set(db_column(server, "SELECT name FROM avatars"))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_upload_is_served_as_a_256px_webp_named_by_its_hash(
    fmt: str, make_user: MakeUser, server: ServerProcess
) -> None:
    ana = make_user("Ana Lima")
    response = upload(ana, picture(fmt))
    name = avatar_name(response)
    assert response.json() == {
        "username": ana.username,
        "full_name": "Ana Lima",
        "avatar_url": f"/media/avatars/{name}",
    }
    assert ana.get("/api/me").json()["avatar_url"] == f"/media/avatars/{name}"
    assert name in stored(server)

    served = fetch(server, f"/media/avatars/{name}")
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/webp"
    cache = {part.strip() for part in served.headers["cache-control"].split(",")}
    assert {"public", "immutable"} <= cache
    assert any(p.startswith("max-age=") and int(p[8:]) >= 31536000 for p in cache), cache
    assert served.headers["x-content-type-options"] == "nosniff"
    assert hashlib.sha256(served.content).hexdigest() + ".webp" == name
    with Image.open(io.BytesIO(served.content)) as image:
        assert image.format == "WEBP"
        assert image.size == (256, 256)


def test_odd_images_still_make_a_square_thumbnail(
    make_user: MakeUser, server: ServerProcess
) -> None:
    ana = make_user()
    tall = picture("PNG", (40, 900))
    out = io.BytesIO()
    Image.new("LA", (64, 64), (120, 0)).save(out, format="PNG")  # grey with alpha
    frames = [Image.new("P", (50, 50), i) for i in range(4)]
    animated = io.BytesIO()
    frames[0].save(animated, format="GIF", save_all=True, append_images=frames[1:])
    for data in (tall, out.getvalue(), animated.getvalue()):
        name = avatar_name(upload(ana, data))
        with Image.open(io.BytesIO(fetch(server, f"/media/avatars/{name}").content)) as image:
            assert image.size == (256, 256)


def test_the_same_image_gets_the_same_url(make_user: MakeUser, server: ServerProcess) -> None:
    ana, bo = make_user(), make_user()
    data = picture("PNG")
    first = avatar_name(upload(ana, data))
    before = stored(server)
    assert avatar_name(upload(ana, data)) == first
    assert avatar_name(upload(bo, data)) == first  # one row for everyone who shows it
    assert stored(server) == before
    assert fetch(server, f"/media/avatars/{first}").status_code == 200


def test_replacing_an_avatar_deletes_the_old_one(
    make_user: MakeUser, server: ServerProcess
) -> None:
    ana = make_user()
    old = avatar_name(upload(ana, picture("JPEG")))
    assert old in stored(server)
    new = avatar_name(upload(ana, picture("PNG")))
    assert new != old
    assert new in stored(server)
    assert old not in stored(server)
    missing = fetch(server, f"/media/avatars/{old}")
    assert missing.status_code == 404
    assert error_code(missing) == "not_found"


def test_an_avatar_another_user_shows_is_kept_until_the_last_one_moves_on(
    make_user: MakeUser, server: ServerProcess
) -> None:
    ana, bo = make_user(), make_user()
    shared = picture("WEBP")
    name = avatar_name(upload(ana, shared))
    assert avatar_name(upload(bo, shared)) == name

    avatar_name(upload(ana, picture("PNG")))  # Ana moves on; Bo still shows it
    assert name in stored(server)
    assert fetch(server, f"/media/avatars/{name}").status_code == 200

    response = bo.delete("/api/me/avatar")  # the last one moves on
    assert response.status_code == 200, response.text
    assert name not in stored(server)
    assert fetch(server, f"/media/avatars/{name}").status_code == 404


def test_a_shared_avatar_survives_one_user_leaving_it_as_another_takes_it(
    make_user: MakeUser, server: ServerProcess
) -> None:
    # Ana moves from X to Y while Bo picks X, at the same time. Before the server serialised
    # this, Ana's clean-up could delete X between Bo's "X is already there" and Bo's commit,
    # leaving Bo pointing at a missing file in about one round in three. Now the database
    # does it (tests/test_avatar_storage.py runs the same race across two nodes).
    ana, bo = make_user(), make_user()
    x, y = picture("PNG", (64, 64)), picture("PNG", (64, 64))
    for _ in range(20):
        avatar_name(upload(ana, x))
        assert bo.delete("/api/me/avatar").status_code == 200
        with ThreadPoolExecutor(2) as pool:
            moved, picked = pool.submit(upload, ana, y), pool.submit(upload, bo, x)
            name = avatar_name(picked.result())
            avatar_name(moved.result())
        assert name in stored(server)
        assert fetch(server, f"/media/avatars/{name}").status_code == 200


def test_deleting_the_avatar_clears_it_and_removes_the_stored_one(
    make_user: MakeUser, server: ServerProcess
) -> None:
    ana = make_user("Ana")
    name = avatar_name(upload(ana, picture("GIF")))
    response = ana.delete("/api/me/avatar")
    assert response.status_code == 200, response.text
    assert response.json() == {"username": ana.username, "full_name": "Ana", "avatar_url": None}
    assert ana.get("/api/me").json()["avatar_url"] is None
    assert name not in stored(server)
    assert fetch(server, f"/media/avatars/{name}").status_code == 404
    # Deleting again is harmless, and so is deleting when there never was one.
    assert ana.delete("/api/me/avatar").json()["avatar_url"] is None
    assert make_user().delete("/api/me/avatar").json()["avatar_url"] is None


def test_avatar_changes_need_a_login_and_the_csrf_token(
    make_user: MakeUser, server: ServerProcess
) -> None:
    ana = make_user()
    name = avatar_name(upload(ana, picture("PNG")))
    before = stored(server)
    csrf, ana.csrf = ana.csrf, None
    refused = [upload(ana, picture("PNG")), ana.delete("/api/me/avatar")]
    ana.csrf = csrf
    with httpx.Client(base_url=server.url, timeout=15) as stranger:
        files = {"avatar": ("a.png", picture("PNG"), "image/png")}
        refused += [stranger.put("/api/me/avatar", files=files)]
    assert [r.status_code for r in refused] == [403, 403, 401]
    assert [error_code(r) for r in refused] == ["csrf_failed", "csrf_failed", "not_authenticated"]
    assert ana.get("/api/me").json()["avatar_url"] == f"/media/avatars/{name}"
    assert stored(server) == before


def multipart(
    field: str, chunks: Iterator[bytes], boundary: str = "chinwag-test"
) -> Iterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
        f'filename="big.png"\r\nContent-Type: image/png\r\n\r\n'
    ).encode()
    yield from chunks
    yield f"\r\n--{boundary}--\r\n".encode()


def refusals() -> list[tuple[str, Callable[[User], httpx.Response], int, set[str]]]:
    """(what, how it is sent, status, acceptable error codes)."""
    disguised = PNG_SIGNATURE + b"this is just text pretending to be a picture\n" * 20
    svg = (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
        b'<rect width="10" height="10" fill="red"/></svg>'
    )
    just_over = PNG_SIGNATURE + os.urandom(MAX_AVATAR_BYTES + 1 - len(PNG_SIGNATURE))
    far_over = os.urandom(MAX_AVATAR_BYTES + 1024 * 1024)

    def streamed(user: User) -> httpx.Response:
        # a generator body goes out chunked, with no Content-Length to refuse it by
        chunks = (b"\0" * (1024 * 1024) for _ in range(7))
        body = multipart("avatar", chunks)
        headers = {"Content-Type": "multipart/form-data; boundary=chinwag-test"}
        return user.put("/api/me/avatar", content=body, headers=headers)

    return [
        ("text behind a PNG signature", lambda u: upload(u, disguised), 415, {"not_an_image"}),
        ("plain text", lambda u: upload(u, b"hello, world\n" * 50), 415, {"not_an_image"}),
        ("SVG", lambda u: upload(u, svg), 415, {"not_an_image"}),
        ("BMP", lambda u: upload(u, picture("BMP", (20, 20))), 415, {"not_an_image"}),
        ("truncated PNG", lambda u: upload(u, picture("PNG")[:300]), 415, {"not_an_image"}),
        ("empty file", lambda u: upload(u, b""), 415, {"not_an_image"}),
        ("20000x20000 bomb", lambda u: upload(u, bomb((20000, 20000))), 413, {"image_too_large"}),
        ("7000x7000 bomb", lambda u: upload(u, bomb((7000, 7000))), 413, {"image_too_large"}),
        ("just over 5 MB", lambda u: upload(u, just_over), 413, {"upload_too_large"}),
        ("6 MB by Content-Length", lambda u: upload(u, far_over), 413, {"upload_too_large"}),
        ("7 MB chunked", streamed, 413, {"upload_too_large"}),
        ("no field", lambda u: u.put("/api/me/avatar", files={}), 422, {"invalid_input"}),
        (
            "wrong field name",
            lambda u: upload(u, picture("PNG"), field="picture"),
            422,
            {"invalid_input"},
        ),
        (
            "a text field, not a file",
            lambda u: u.put("/api/me/avatar", data={"avatar": "me.png"}),
            422,
            {"invalid_input"},
        ),
        ("JSON", lambda u: u.put("/api/me/avatar", json={"avatar": "x"}), 422, {"invalid_input"}),
        (
            "raw image body",
            lambda u: u.put(
                "/api/me/avatar", content=picture("PNG"), headers={"Content-Type": "image/png"}
            ),
            422,
            {"invalid_input"},
        ),
        (
            "broken multipart",
            lambda u: u.put(
                "/api/me/avatar",
                content=b"no parts here",
                headers={"Content-Type": "multipart/form-data; boundary=chinwag-test"},
            ),
            400,
            {"bad_request"},
        ),
    ]


REFUSALS = refusals()


@pytest.mark.parametrize(
    ("send", "status", "codes"),
    [pytest.param(send, status, codes, id=what) for what, send, status, codes in REFUSALS],
)
def test_refused_uploads_change_nothing(
    send: Callable[[User], httpx.Response],
    status: int,
    codes: set[str],
    make_user: MakeUser,
    server: ServerProcess,
) -> None:
    ana = make_user()
    name = avatar_name(upload(ana, picture("PNG")))
    before = stored(server)
    response = send(ana)
    assert response.status_code == status, response.text
    assert error_code(response) in codes
    assert ana.get("/api/me").json()["avatar_url"] == f"/media/avatars/{name}"
    assert stored(server) == before  # nothing new, not even a row without a user


@pytest.mark.parametrize(
    "path",
    [
        "/media/avatars/%2e%2e%2f%2e%2e%2fchinwag.db",
        "/media/avatars/..%2Fsecret_key",
        "/media/avatars/%2e%2e%2fsecret_key",
        "/media/avatars/secret_key",
        "/media/avatars/chinwag.db",
        "/media/avatars/" + "0" * 64 + ".webp",
        "/media/avatars/" + "g" * 64 + ".webp",
        "/media/avatars/" + "0" * 63 + ".webp",
        "/media/avatars/" + "0" * 64 + ".png",
        "/media/avatars/%00",
        "/media/avatars/",
        "/media/%2e%2e/secret_key",
    ],
)
def test_junk_avatar_names_are_not_found(path: str, server: ServerProcess) -> None:
    response = fetch(server, path)
    assert response.status_code in (400, 404), response.text
    assert error_code(response) in ("not_found", "bad_request")
    assert response.headers["content-type"] == "application/json"


def test_only_the_exact_name_of_an_avatar_serves_it(
    make_user: MakeUser, server: ServerProcess
) -> None:
    name = avatar_name(upload(make_user(), picture("PNG")))
    assert fetch(server, f"/media/avatars/{name}").status_code == 200
    for alias in (name.upper(), f"{name}.tmp", name[:-5], f"{name}%00", f"{name}/"):
        response = fetch(server, f"/media/avatars/{alias}")
        assert response.status_code in (400, 404), (alias, response.status_code)


async def test_room_members_see_a_new_avatar_and_name_live(make_user: MakeUser) -> None:
    ana, bo, carl = make_user("Ana"), make_user("Bo"), make_user("Carl")
    code = ana.create_room("Faces")
    assert bo.join(code).status_code == 200
    elsewhere = carl.create_room("Elsewhere")  # Carl shares no room with Ana

    def about_ana(**fields: Any) -> Callable[[Any], bool]:
        def matches(event: Any) -> bool:
            user = event["user"]
            return bool(user["username"] == ana.username) and all(
                user[k] == v for k, v in fields.items()
            )

        return matches

    async with connected(ana) as own_tab, connected(bo) as b, connected(carl) as c:
        await b.enter(code)
        await c.enter(elsewhere)

        url = upload(ana, picture("PNG")).json()["avatar_url"]
        seen = await b.wait_for("user:updated", about_ana(avatar_url=url))
        assert seen == {"user": {"username": ana.username, "full_name": "Ana", "avatar_url": url}}
        await own_tab.wait_for("user:updated", about_ana(avatar_url=url))

        assert ana.patch("/api/me", json={"full_name": "Ana Maria"}).status_code == 200
        seen = await b.wait_for("user:updated", about_ana(full_name="Ana Maria"))
        assert seen["user"] == {
            "username": ana.username,
            "full_name": "Ana Maria",
            "avatar_url": url,
        }

        assert ana.delete("/api/me/avatar").status_code == 200
        await b.wait_for("user:updated", about_ana(full_name="Ana Maria", avatar_url=None))

        # Carl's own round trip comes after anything emitted to him before it.
        ack = await c.call("users:search", {"room": elsewhere, "online": False})
        assert ack["ok"], ack
        assert c.received("user:updated", about_ana()) == []


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_photo_taken_sideways_is_turned_upright(
    fmt: str, make_user: MakeUser, server: ServerProcess
) -> None:
    # red left half, blue right half, with EXIF "rotate 90° clockwise to view": upright, red
    # is on top; the server shrinks the image before it turns it, so the tag must survive
    photo = Image.new("RGB", (1600, 800), (255, 0, 0))
    photo.paste((0, 0, 255), (800, 0, 1600, 800))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    out = io.BytesIO()
    photo.save(out, format=fmt, exif=exif)
    name = avatar_name(upload(make_user(), out.getvalue()))
    with Image.open(io.BytesIO(fetch(server, f"/media/avatars/{name}").content)) as thumb:
        top, bottom = (
            thumb.convert("RGB").getpixel((128, 10)),
            thumb.convert("RGB").getpixel((128, 245)),
        )
    assert top[0] > 200 and top[2] < 50, top
    assert bottom[2] > 200 and bottom[0] < 50, bottom
