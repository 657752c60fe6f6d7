"""HTTP-level security on a real server: CSRF tokens, the Origin check (HTTP and the socket
handshake), body limits, JSON errors for unknown routes, the public pages, and logs that
keep no secrets."""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import pytest
from PIL import Image

from tests.conftest import SERVER_ENV
from tests.support import (
    PASSWORD,
    ServerProcess,
    Socket,
    User,
    connected,
    db_column,
    refused_handshake,
    run_server,
    run_server_on,
    unique_name,
)

MakeUser = Callable[..., User]
EVIL = "http://evil.example"
APP_ORIGIN = "https://app.example.org"
DEV_ORIGIN = "http://localhost:5173"


def error_code(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("application/json"), response.headers
    return str(response.json()["error"]["code"])


def usernames(server: ServerProcess) -> list[str]:
    return sorted(db_column(server, "SELECT username FROM users"))


def room_codes(user: User) -> set[str]:
    response = user.get("/api/rooms")
    assert response.status_code == 200, response.text
    return {room["code"] for room in response.json()["rooms"]}


def post_sign_up(
    server: ServerProcess, body: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(f"{server.url}/api/users", json=body, headers=headers, timeout=15)


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    return buffer.getvalue()


def other_port_origin(url: str) -> str:
    port = int(url.rsplit(":", 1)[1])
    return f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}"


# ---- CSRF -------------------------------------------------------------------------------------
@dataclass
class Scene:
    """Ana owns one room and belongs to Bo's; Bo owns another she has not joined."""

    ana: User
    ana_elsewhere: User  # Ana's second session
    bo: User
    own_room: str
    member_room: str
    foreign_room: str


@pytest.fixture
def scene(server: ServerProcess, make_user: MakeUser) -> Iterator[Scene]:
    ana = make_user("Ana Lima")
    bo = make_user("Bo Silva")
    own_room = ana.create_room("Ana's")
    member_room = bo.create_room("Bo's")
    assert ana.join(member_room).status_code == 200
    foreign_room = bo.create_room("Bo's other")
    elsewhere = User(server.url, ana.username, ana.full_name, PASSWORD)
    assert elsewhere.log_in().status_code == 200
    yield Scene(ana, elsewhere, bo, own_room, member_room, foreign_room)
    elsewhere.close()


def unsafe_operations(server: ServerProcess) -> list[tuple[str, str]]:
    """Every state-changing API operation that needs a session, from the server's own spec."""
    spec = httpx.get(f"{server.url}/api/openapi.json", timeout=15).json()
    found = [
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if path.startswith("/api/") and method in ("post", "put", "patch", "delete")
    ]
    no_login = {("POST", "/api/users"), ("POST", "/api/session"), ("POST", "/api/password-reset")}
    return [op for op in found if op not in no_login]


def valid_request(scene: Scene, method: str, template: str) -> tuple[str, dict[str, Any]]:
    """A request that would succeed with the right token (an empty JSON object for a route
    this test does not know yet: the token is checked before the body)."""
    known: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
        ("PATCH", "/api/me"): ("/api/me", {"json": {"full_name": "Changed Name"}}),
        ("PUT", "/api/me/password"): (
            "/api/me/password",
            {"json": {"current_password": PASSWORD, "new_password": "another password"}},
        ),
        ("PUT", "/api/me/avatar"): (
            "/api/me/avatar",
            {"files": {"avatar": ("me.png", png(), "image/png")}},
        ),
        ("DELETE", "/api/me/avatar"): ("/api/me/avatar", {}),
        ("DELETE", "/api/me"): ("/api/me", {"json": {"password": PASSWORD}}),
        ("POST", "/api/rooms"): ("/api/rooms", {"json": {"name": "Sneaky"}}),
        ("POST", "/api/rooms/join"): ("/api/rooms/join", {"json": {"code": scene.foreign_room}}),
        ("DELETE", "/api/rooms/{code}"): (f"/api/rooms/{scene.own_room}", {}),
        ("POST", "/api/rooms/{code}/leave"): (f"/api/rooms/{scene.member_room}/leave", {}),
        ("DELETE", "/api/session"): ("/api/session", {}),
    }
    if (method, template) in known:
        return known[(method, template)]
    path = template.replace("{code}", scene.own_room).replace("{username}", scene.bo.username)
    path = path.replace("{user_id}", "1")
    return path, {"json": {}}


def test_every_state_changing_route_needs_the_sessions_csrf_token(
    server: ServerProcess, scene: Scene
) -> None:
    ana = scene.ana
    operations = unsafe_operations(server)
    assert ("PATCH", "/api/me") in operations and ("DELETE", "/api/session") in operations
    wrong_tokens: dict[str, str | bytes | None] = {
        "missing": None,
        "empty": "",
        "forged": secrets.token_urlsafe(32),
        "another session of the same user": scene.ana_elsewhere.csrf,
        "another user's": scene.bo.csrf,
        "with a tail": f"{ana.csrf}x",
        "not ASCII": "\u00e9t\u00e9".encode("latin-1"),
    }
    assert scene.ana_elsewhere.csrf != ana.csrf
    for method, template in operations:
        path, kwargs = valid_request(scene, method, template)
        for label, token in wrong_tokens.items():
            headers = {} if token is None else {"X-CSRF-Token": token}
            response = ana.http.request(method, path, headers=headers, **kwargs)
            assert response.status_code == 403, (method, path, label, response.text)
            assert error_code(response) == "csrf_failed", (method, path, label)

    # nothing happened: the same session, profile, password and rooms as before
    assert ana.get("/api/session").json()["csrf_token"] == ana.csrf
    assert ana.get("/api/me").json() == {
        "username": ana.username,
        "full_name": "Ana Lima",
        "avatar_url": None,
    }
    assert room_codes(ana) == {scene.own_room, scene.member_room}
    assert scene.bo.get(f"/api/rooms/{scene.own_room}").status_code == 403  # still exists
    again = User(server.url, ana.username, "", PASSWORD)
    try:
        assert again.log_in().status_code == 200
    finally:
        again.close()
    # and the very same requests work with the right token
    changed = ana.patch("/api/me", json={"full_name": "Changed Name"})
    assert changed.status_code == 200 and changed.json()["full_name"] == "Changed Name"
    assert ana.post("/api/rooms", json={"name": "Sneaky"}).status_code == 201


def test_the_csrf_token_is_checked_before_the_body(scene: Scene) -> None:
    response = scene.ana.http.patch("/api/me", json={"full_name": 42, "nonsense": True})
    assert response.status_code == 403 and error_code(response) == "csrf_failed"


def test_reads_need_no_csrf_token(scene: Scene) -> None:
    for path in ("/api/me", "/api/session", "/api/rooms", f"/api/rooms/{scene.own_room}"):
        response = scene.ana.http.get(path)
        assert response.status_code == 200, (path, response.text)


# ---- Origin -----------------------------------------------------------------------------------
def foreign_origins(url: str) -> list[str]:
    """Origins foreign to the server at ``url`` (on several nodes: to that node)."""
    port = int(url.rsplit(":", 1)[1])
    return [
        EVIL,
        "null",
        f"https://127.0.0.1:{port}",  # another scheme is another origin
        other_port_origin(url),
        f"http://localhost:{port}",
        f"http://127.0.0.1:{port}.evil.example",
        f"http://127.0.0.1:{port}@evil.example",
        "not an origin",
    ]


def test_a_foreign_origin_cannot_change_anything(scene: Scene) -> None:
    ana = scene.ana
    for origin in foreign_origins(ana.base_url):
        attempts = [
            ana.post("/api/rooms", json={"name": "From afar"}, headers={"Origin": origin}),
            ana.patch("/api/me", json={"full_name": "Hijacked"}, headers={"Origin": origin}),
            ana.post(f"/api/rooms/{scene.member_room}/leave", headers={"Origin": origin}),
            ana.delete("/api/session", headers={"Origin": origin}),
        ]
        for response in attempts:
            assert response.status_code == 403, (origin, response.request.url, response.text)
            assert error_code(response) == "origin_not_allowed"
    assert room_codes(ana) == {scene.own_room, scene.member_room}
    assert ana.get("/api/me").json()["full_name"] == "Ana Lima"
    assert ana.get("/api/session").status_code == 200


def test_a_foreign_origin_cannot_sign_up_or_log_in(server: ServerProcess, scene: Scene) -> None:
    before = usernames(server)
    name = unique_name("far")
    for origin in (EVIL, "null"):
        signed_up = httpx.post(
            f"{server.url}/api/users",
            json={"username": name, "full_name": "Far Away", "password": PASSWORD},
            headers={"Origin": origin},
            timeout=15,
        )
        assert signed_up.status_code == 403, signed_up.text
        assert error_code(signed_up) == "origin_not_allowed"
        assert "set-cookie" not in signed_up.headers
        logged_in = httpx.post(
            f"{server.url}/api/session",
            json={"username": scene.ana.username, "password": PASSWORD},
            headers={"Origin": origin},
            timeout=15,
        )
        assert logged_in.status_code == 403, logged_in.text
        assert error_code(logged_in) == "origin_not_allowed"
        assert "set-cookie" not in logged_in.headers
    assert usernames(server) == before
    # the name was not taken on the way
    ok = httpx.post(
        f"{server.url}/api/users",
        json={"username": name, "full_name": "Near", "password": PASSWORD},
        timeout=15,
    )
    assert ok.status_code == 201, ok.text


def test_the_servers_own_origin_is_accepted(scene: Scene) -> None:
    url = scene.ana.base_url  # the server Ana's requests reach (on several nodes: her node)
    own = {"Origin": url}
    signed_up = httpx.post(
        f"{url}/api/users",
        json={"username": unique_name("own"), "full_name": "Own", "password": PASSWORD},
        headers=own,
        timeout=15,
    )
    assert signed_up.status_code == 201, signed_up.text
    logged_in = httpx.post(
        f"{url}/api/session",
        json={"username": scene.ana.username, "password": PASSWORD},
        headers=own,
        timeout=15,
    )
    assert logged_in.status_code == 200, logged_in.text
    created = scene.ana.post("/api/rooms", json={"name": "Home"}, headers=own)
    assert created.status_code == 201, created.text
    # the same origin however it is spelled
    spelled = scene.ana.post("/api/rooms", json={"name": "Home"}, headers={"Origin": url.upper()})
    assert spelled.status_code == 201, spelled.text


def test_forwarded_headers_do_not_make_a_foreign_origin_acceptable(
    server: ServerProcess, scene: Scene
) -> None:
    before = room_codes(scene.ana)
    spoofs = [
        {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
        {"X-Forwarded-Host": "evil.example:80"},
        {"Forwarded": "host=evil.example;proto=http"},
        {"X-Forwarded-For": "10.0.0.1", "X-Forwarded-Host": "evil.example"},
    ]
    for spoof in spoofs:
        response = scene.ana.post(
            "/api/rooms", json={"name": "Spoofed"}, headers={"Origin": EVIL, **spoof}
        )
        assert response.status_code == 403, (spoof, response.text)
        assert error_code(response) == "origin_not_allowed"
        signed_up = httpx.post(
            f"{server.url}/api/users",
            json={"username": unique_name("spoof"), "full_name": "Spoof", "password": PASSWORD},
            headers={"Origin": EVIL, **spoof},
            timeout=15,
        )
        assert signed_up.status_code == 403, (spoof, signed_up.text)
    assert room_codes(scene.ana) == before


def test_reads_from_a_foreign_origin_get_no_cors_grant(scene: Scene) -> None:
    response = scene.ana.get("/api/me", headers={"Origin": EVIL})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers
    preflight = scene.ana.http.options(
        "/api/rooms",
        headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


async def test_a_socket_handshake_from_a_foreign_origin_is_refused(
    server: ServerProcess, make_user: MakeUser
) -> None:
    ana = make_user()
    url = server.url
    for origin in foreign_origins(url):
        refusal = await refused_handshake(url, ana.session_cookie, origin=origin)
        assert refusal["data"]["code"] == "origin_not_allowed", (origin, refusal)
    spoofed = await refused_handshake(
        server.url,
        ana.session_cookie,
        origin=EVIL,
        headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
    )
    assert spoofed["data"]["code"] == "origin_not_allowed"


def polling_handshake(url: str, headers: dict[str, str]) -> str:
    """Open the default namespace over Engine.IO long-polling (how browsers start) at ``url``
    and answer the server's reply to the namespace CONNECT packet."""
    with httpx.Client(base_url=url, headers=headers, timeout=15) as client:
        opened = client.get("/socket.io/", params={"EIO": "4", "transport": "polling"})
        assert opened.status_code == 200 and opened.text.startswith("0"), opened.text
        assert "access-control-allow-origin" not in opened.headers
        params = {"EIO": "4", "transport": "polling", "sid": json.loads(opened.text[1:])["sid"]}
        assert client.post("/socket.io/", params=params, content="40").status_code == 200
        reply = client.get("/socket.io/", params=params).text
        client.post("/socket.io/", params=params, content="1")  # close the Engine.IO session
        return reply


def test_a_long_polling_handshake_checks_origin_and_session_too(
    server: ServerProcess, make_user: MakeUser
) -> None:
    ana = make_user()
    url = server.url  # on several nodes: the one after Ana's
    cookie = f"chinwag_session={ana.session_cookie}"
    for origin in (EVIL, "null"):
        reply = polling_handshake(url, {"Origin": origin, "Cookie": cookie})
        assert reply.startswith("44"), reply  # CONNECT_ERROR
        assert json.loads(reply[2:])["data"]["code"] == "origin_not_allowed"
    forged = polling_handshake(url, {"Origin": url, "Cookie": "chinwag_session=forged"})
    assert forged.startswith("44") and json.loads(forged[2:])["data"]["code"] == (
        "not_authenticated"
    )
    accepted = polling_handshake(url, {"Origin": url, "Cookie": cookie})
    assert accepted.startswith("40") and "sid" in json.loads(accepted[2:]), accepted


async def test_a_socket_handshake_from_the_own_origin_connects(
    server: ServerProcess, make_user: MakeUser
) -> None:
    ana = make_user()
    code = ana.create_room("Own origin")
    url = server.url  # on several nodes: the one after Ana's
    sock = Socket(url, ana.session_cookie, origin=url)
    await sock.connect()
    try:
        assert sock.client.connected
        ack = await sock.enter(code)
        assert ack["room"]["code"] == code
    finally:
        await sock.close()


@pytest.fixture(scope="module")
def configured_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that also trusts two configured origins."""
    env = {**SERVER_ENV, "CHINWAG_ALLOWED_ORIGINS": f"{APP_ORIGIN}/, {DEV_ORIGIN}"}
    with run_server(tmp_path_factory.mktemp("configured-origins"), env) as proc:
        yield proc


async def test_configured_origins_are_accepted_and_others_still_refused(
    configured_server: ServerProcess,
) -> None:
    server = configured_server
    for origin, expected in [
        (APP_ORIGIN, 201),
        ("HTTPS://APP.example.org:443", 201),
        (DEV_ORIGIN, 201),
        (server.url, 201),
        (EVIL, 403),
        ("http://app.example.org", 403),  # the configured one is https
        ("https://app.example.org.evil.example", 403),
    ]:
        body = {"username": unique_name("cfg"), "full_name": "Cfg", "password": PASSWORD}
        response = post_sign_up(server, body, {"Origin": origin})
        assert response.status_code == expected, (origin, response.text)
    ana = User(server.url, unique_name(), "Ana", PASSWORD)
    try:
        assert ana.sign_up().status_code == 201
        sock = Socket(server.url, ana.session_cookie, origin=APP_ORIGIN)
        await sock.connect()
        assert sock.client.connected
        await sock.close()
        refusal = await refused_handshake(server.url, ana.session_cookie, origin=EVIL)
        assert refusal["data"]["code"] == "origin_not_allowed"
    finally:
        ana.close()


# ---- bodies, unknown routes, public pages -----------------------------------------------------
def test_an_oversized_json_body_is_refused_before_anything_is_written(
    server: ServerProcess, make_user: MakeUser
) -> None:
    before = usernames(server)
    name = unique_name("big")
    huge = {"username": name, "full_name": "x" * 200_000, "password": PASSWORD}
    response = httpx.post(f"{server.url}/api/users", json=huge, timeout=15)
    assert response.status_code == 413, response.text
    assert error_code(response) == "too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap counts as it streams in
        yield b'{"username": "' + name.encode() + b'", "password": "' + PASSWORD.encode()
        yield b'", "full_name": "'
        for _ in range(20):
            yield b"x" * 10_000
        yield b'"}'

    streamed = httpx.post(
        f"{server.url}/api/users",
        content=chunks(),
        headers={"Content-Type": "application/json"},
        timeout=15,
    )
    assert streamed.status_code == 413, streamed.text
    assert error_code(streamed) == "too_large"
    assert usernames(server) == before

    ana = make_user("Ana")
    patched = ana.patch("/api/me", json={"full_name": "y" * 200_000})
    assert patched.status_code == 413 and error_code(patched) == "too_large"
    # under the cap the usual rules answer instead
    long_name = ana.patch("/api/me", json={"full_name": "y" * 60_000})
    assert long_name.status_code == 422 and error_code(long_name) == "invalid_input"
    assert ana.get("/api/me").json()["full_name"] == "Ana"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/nothing-here"),
        ("GET", "/api/rooms/abc/nothing/here"),
        ("GET", "/media/avatars/missing.webp"),
    ],
)
def test_an_unknown_route_is_a_json_404(server: ServerProcess, method: str, path: str) -> None:
    response = httpx.request(method, f"{server.url}{path}", timeout=15)
    assert response.status_code == 404, response.text
    assert error_code(response) == "not_found"


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/api/me"), ("PUT", "/api/session"), ("POST", "/healthz"), ("PATCH", "/readyz")],
)
def test_a_wrong_method_is_a_json_405(server: ServerProcess, method: str, path: str) -> None:
    response = httpx.request(method, f"{server.url}{path}", timeout=15)
    assert response.status_code == 405, response.text
    assert error_code(response) == "method_not_allowed"
    assert response.headers["allow"]


def test_the_api_documents_itself(server: ServerProcess) -> None:
    docs = httpx.get(f"{server.url}/api/docs", timeout=15)
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html")
    assert "/api/openapi.json" in docs.text
    spec = httpx.get(f"{server.url}/api/openapi.json", timeout=15)
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    for path in ("/api/users", "/api/session", "/api/me", "/api/me/password"):
        assert path in paths, sorted(paths)


def test_health_probes_answer(server: ServerProcess) -> None:
    for path in ("/healthz", "/readyz"):
        response = httpx.get(f"{server.url}{path}", timeout=15)
        assert response.status_code == 200, (path, response.text)
        assert response.json() == {"status": "ok"}


# ---- logs -------------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgres"])
def logged_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server of its own, so its log holds only what the test did; at debug level, the
    most talkative there is."""
    data_dir = tmp_path_factory.mktemp(f"logged-{request.param}")
    env = {**SERVER_ENV, "CHINWAG_LOG_LEVEL": "debug"}
    with run_server_on(request.param, data_dir, env) as proc:
        yield proc


async def test_the_log_keeps_no_secrets(logged_server: ServerProcess) -> None:
    server = logged_server
    secrets_sent: list[str] = []

    def secret(prefix: str) -> str:
        value = f"{prefix}-{secrets.token_hex(8)}"
        secrets_sent.append(value)
        return value

    ana = User(server.url, unique_name("ana"), "Ana", secret("ana-password"))
    bo = User(server.url, unique_name("bo"), "Bo", secret("bo-password"))
    ana_elsewhere = User(server.url, ana.username, "Ana", ana.password)
    try:
        assert ana.sign_up().status_code == 201
        assert bo.sign_up().status_code == 201
        assert ana_elsewhere.log_in().status_code == 200
        wrong = ana_elsewhere.log_in(secret("wrong-password"))
        assert wrong.status_code == 401
        unknown = User(server.url, unique_name("ghost"), "", secret("ghost-password"))
        assert unknown.log_in().status_code == 401
        unknown.close()
        dup = {"username": ana.username, "full_name": "Dup", "password": secret("dup-pw")}
        refused = post_sign_up(server, dup)
        assert refused.status_code == 409
        bad = {"username": "x", "full_name": "Bad\x00", "password": secret("invalid-pw")}
        invalid = post_sign_up(server, bad)
        assert invalid.status_code == 422
        forged_csrf = ana.http.patch(
            "/api/me", json={"full_name": "Z"}, headers={"X-CSRF-Token": secret("csrf")}
        )
        assert forged_csrf.status_code == 403
        refusal = await refused_handshake(server.url, secret("forged-cookie"))
        assert refusal["data"]["code"] == "not_authenticated"

        code = ana.create_room("Secrets")
        assert bo.join(code).status_code == 200
        async with connected(ana) as a, connected(bo) as b:
            await a.enter(code)
            await b.enter(code)
            public = await a.send(code, secret("public-body"))
            private = await a.send(code, secret("private-body"), to=bo.username)
            assert public["ok"] and private["ok"], (public, private)
            await b.wait_for("message", lambda m: m["id"] == private["message"]["id"])
            typed = await b.call("typing", {"room": code, "active": True})
            assert typed["ok"], typed

        new_password = secret("new-password")
        changed = ana.put(
            "/api/me/password",
            json={"current_password": ana.password, "new_password": new_password},
        )
        assert changed.status_code == 204
        wrong_current = ana.put(
            "/api/me/password",
            json={"current_password": secret("wrong-current"), "new_password": secret("unused")},
        )
        assert wrong_current.status_code == 403
        cookies = [ana.session_cookie, ana_elsewhere.session_cookie, bo.session_cookie]
        tokens = [ana.csrf, ana_elsewhere.csrf, bo.csrf]
        assert ana.delete("/api/session").status_code == 204
    finally:
        ana.close()
        bo.close()
        ana_elsewhere.close()
    server.stop()  # every line is written

    log = server.log()
    # the log is the right one, and it did record what happened
    for event in ("user.created", "login.failed", "socket.connected", "password.changed"):
        assert event in log, event
    for value in [*secrets_sent, *cookies, *tokens]:
        assert value and value not in log, f"a secret reached the log: {value[:12]}..."


# ---- host names -------------------------------------------------------------------------------
async def test_a_configured_host_list_refuses_other_host_names(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A DNS-rebinding page reaches the server's address under its own name: refused."""
    env = {**SERVER_ENV, "CHINWAG_ALLOWED_HOSTS": "127.0.0.1, chat.example.org"}
    with run_server(tmp_path_factory.mktemp("hosts"), env) as proc:
        async with httpx.AsyncClient(base_url=proc.url, timeout=15) as http:
            assert (await http.get("/healthz")).status_code == 200
            named = await http.get("/healthz", headers={"Host": "chat.example.org:8443"})
            assert named.status_code == 200
            sign_up = {"username": unique_name(), "full_name": "Eve", "password": PASSWORD}
            for host in (
                "rebind.evil.example",
                "rebind.evil.example:8000",
                "chat.example.org.evil",
            ):
                refused = await http.post("/api/users", json=sign_up, headers={"Host": host})
                assert refused.status_code == 400, (host, refused.text)
                assert error_code(refused) == "host_not_allowed"
            # nobody was created by the refused requests
            log_in = {"username": sign_up["username"], "password": PASSWORD}
            assert (await http.post("/api/session", json=log_in)).status_code == 401
        # the websocket handshake under a foreign name is refused before it is accepted
        ws_url = f"{proc.url}/socket.io/?EIO=4&transport=websocket"
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused_ws:
                await session.ws_connect(ws_url, headers={"Host": "rebind.evil.example"})
            assert refused_ws.value.status == 403
            accepted = await session.ws_connect(ws_url)
            await accepted.close()
