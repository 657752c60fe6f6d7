"""Accounts and sessions on a real server: sign-up rules, log-in and log-out, expiry,
password changes, the profile, and the log-in throttle."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable, Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SERVER_ENV, SHORT_SESSION_SECONDS
from tests.support import (
    PASSWORD,
    ServerProcess,
    User,
    connected,
    db_column,
    refused_handshake,
    replay_cookie,
    run_server,
    unique_name,
)

MakeUser = Callable[..., User]
DEFAULT_TTL = 14 * 24 * 3600


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def usernames(server: ServerProcess) -> list[str]:
    """Every account in the server's database, by stored username."""
    return sorted(db_column(server, "SELECT username FROM users"))


def raw_sign_up(server: ServerProcess, content: bytes | str, content_type: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/users",
        content=content,
        headers={"Content-Type": content_type},
        timeout=15,
    )


def sign_up(server: ServerProcess, **fields: Any) -> httpx.Response:
    body = {"username": unique_name(), "full_name": "Some One", "password": PASSWORD, **fields}
    return httpx.post(f"{server.url}/api/users", json=body, timeout=15)


def session_cookie_of(response: httpx.Response) -> SimpleCookie:
    cookies = [h for h in response.headers.get_list("set-cookie") if "chinwag_session=" in h]
    assert len(cookies) == 1, response.headers
    return SimpleCookie(cookies[0])


async def wait_disconnected(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), 10)


# ---- sign-up -----------------------------------------------------------------------------------
def test_sign_up_answers_the_user_a_csrf_token_and_a_session_cookie(
    server: ServerProcess,
) -> None:
    username = unique_name("Ana")
    response = sign_up(server, username=username, full_name="Ana Lima")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["username"] == username
    assert body["full_name"] == "Ana Lima"
    assert body["avatar_url"] is None
    assert isinstance(body["csrf_token"], str) and len(body["csrf_token"]) >= 32
    assert set(body) == {"username", "full_name", "avatar_url", "csrf_token", "is_admin"}
    assert body["is_admin"] is False
    morsel = session_cookie_of(response)["chinwag_session"]
    assert len(morsel.value) >= 32
    assert morsel["httponly"] is True
    assert morsel["samesite"].lower() == "lax"
    assert morsel["path"] == "/"
    assert morsel["max-age"] == str(DEFAULT_TTL)
    assert not morsel["secure"]  # development serves plain http on loopback
    # the cookie logs the new account in
    me = replay_cookie(server.url, morsel.value)
    assert me.status_code == 200 and me.json()["username"] == username


@pytest.mark.parametrize(
    "username",
    [
        "ab",
        "a" * 33,
        "",
        "ana lima",
        " ana",
        "ánà",
        "анна",
        "ana🙂",
        "ana\u202eoj",
        "an\x00a",
        "ana\n",
        "ana@home",
    ],
    ids=repr,
)
def test_sign_up_refuses_usernames_outside_the_rule(server: ServerProcess, username: str) -> None:
    before = usernames(server)
    response = sign_up(server, username=username)
    assert response.status_code == 422, response.text
    assert error_code(response) == "invalid_input"
    assert "username" in response.json()["error"]["message"]
    assert usernames(server) == before


def test_sign_up_refuses_a_lone_surrogate_sent_as_raw_json(server: ServerProcess) -> None:
    before = usernames(server)
    for field in ("username", "full_name", "password"):
        body = {"username": unique_name(), "full_name": "Sur Rogate", "password": PASSWORD}
        text = json.dumps(body).replace(json.dumps(body[field]), f'"{body[field]}\\ud800"')
        assert "\\ud800" in text
        response = raw_sign_up(server, text, "application/json")
        assert response.status_code == 422, (field, response.text)
        assert error_code(response) == "invalid_input"
    assert usernames(server) == before


@pytest.mark.parametrize(
    "make_name",
    [
        lambda: secrets.token_hex(2)[:3],  # three characters
        lambda: ("Z" + secrets.token_hex(16))[:32],  # thirty-two
        lambda: f"A_b.C-{secrets.token_hex(3)}",  # every kind of character
        lambda: f"._-{secrets.token_hex(3)}",  # no letters at all
    ],
    ids=["3 chars", "32 chars", "mixed", "punctuation first"],
)
def test_sign_up_accepts_usernames_at_the_edges_of_the_rule(
    server: ServerProcess, make_name: Callable[[], str]
) -> None:
    name = make_name()
    response = sign_up(server, username=name)
    assert response.status_code == 201, response.text
    assert response.json()["username"] == name
    assert name in usernames(server)


def test_usernames_are_unique_ignoring_case(server: ServerProcess) -> None:
    name = unique_name("Ana")
    assert sign_up(server, username=name).status_code == 201
    before = usernames(server)
    for variant in (name, name.lower(), name.upper()):
        response = sign_up(server, username=variant)
        assert response.status_code == 409, response.text
        assert error_code(response) == "username_taken"
    assert usernames(server) == before
    assert name in before  # stored as it was typed


def test_full_name_is_trimmed_and_nfc_normalised(server: ServerProcess) -> None:
    response = sign_up(server, full_name="  Ame\u0301lie Poulain \t")
    assert response.status_code == 201, response.text
    assert response.json()["full_name"] == "Am\u00e9lie Poulain"
    # the 64-character limit counts characters after normalisation
    composed = sign_up(server, full_name="e\u0301" * 64)
    assert composed.status_code == 201, composed.text
    assert composed.json()["full_name"] == "\u00e9" * 64
    one = sign_up(server, full_name=" A ")
    assert one.status_code == 201 and one.json()["full_name"] == "A"


@pytest.mark.parametrize(
    "full_name",
    [
        "",
        "   ",
        "x" * 65,
        "a\x00b",
        "bell\x07",
        "line\nbreak",
        "para\u2029graph",
        "evil\u202etxt",
        "\u2066isolate",
        "\u202aembed",
    ],
    ids=repr,
)
def test_sign_up_refuses_bad_full_names(server: ServerProcess, full_name: str) -> None:
    before = usernames(server)
    response = sign_up(server, full_name=full_name)
    assert response.status_code == 422, response.text
    assert error_code(response) == "invalid_input"
    assert "full_name" in response.json()["error"]["message"]
    assert usernames(server) == before


def test_passwords_need_eight_characters(server: ServerProcess) -> None:
    short = sign_up(server, password="7chars!")
    assert short.status_code == 422 and error_code(short) == "invalid_input"
    assert "password" in short.json()["error"]["message"]
    huge = sign_up(server, password="p" * 1025)
    assert huge.status_code == 422 and error_code(huge) == "invalid_input"
    assert sign_up(server, password="8 chars!").status_code == 201


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/json"),
        (b"{", "application/json"),
        (b"not json at all", "application/json"),
        (b"\xff\xfe\x00", "application/json"),
        (b"username=ana&full_name=Ana&password=password1", "application/x-www-form-urlencoded"),
        (b'{"username": "ana", "full_name": "Ana", "password": "password1"}', "text/plain"),
        (b'["ana", "Ana", "password1"]', "application/json"),
        (b"null", "application/json"),
        (b'"ana"', "application/json"),
        (b"{}", "application/json"),
        (b'{"username": 12345, "full_name": "Ana", "password": "password1"}', "application/json"),
        (b'{"username": "anaxyz", "full_name": null, "password": "password1"}', "application/json"),
        (b'{"username": "anaxyz", "full_name": "Ana", "password": 12345678}', "application/json"),
        (
            b'{"username": ["anaxyz"], "full_name": "Ana", "password": "pw123456"}',
            "application/json",
        ),
        (b'{"username": "anaxyz", "full_name": "Ana", "password": true}', "application/json"),
        (b'{"username": "anaxyz", "full_name": "Ana"}', "application/json"),
        (
            b'{"username": "anaxyz", "full_name": "Ana", "password": "password1", "admin": true}',
            "application/json",
        ),
    ],
    ids=lambda value: repr(value)[:40],
)
def test_sign_up_refuses_malformed_bodies(
    server: ServerProcess, content: bytes, content_type: str
) -> None:
    before = usernames(server)
    response = raw_sign_up(server, content, content_type)
    assert response.status_code == 422, response.text
    assert error_code(response) == "invalid_input"
    assert "set-cookie" not in response.headers
    assert usernames(server) == before


def test_a_refused_sign_up_writes_nothing(server: ServerProcess) -> None:
    name = unique_name("Half")
    before = usernames(server)
    refusals = [
        sign_up(server, username=name, full_name="bad\x00name"),
        sign_up(server, username=name, password="short"),
        sign_up(server, username=name, extra="field"),
    ]
    assert [r.status_code for r in refusals] == [422, 422, 422]
    assert usernames(server) == before
    # nothing reserved the name: it registers now, once
    assert sign_up(server, username=name).status_code == 201
    assert usernames(server) == sorted([*before, name])


# ---- log in, the session, log out -------------------------------------------------------------
def test_log_in_answers_the_user_and_a_csrf_token_and_sets_a_new_session(
    server: ServerProcess, make_user: MakeUser
) -> None:
    ana = make_user("Ana Lima")
    first_cookie = ana.session_cookie
    again = User(server.url, ana.username.upper(), "", PASSWORD)  # usernames ignore case
    try:
        response = again.log_in()
        assert response.status_code == 200, response.text
        assert response.json()["username"] == ana.username
        assert response.json()["full_name"] == "Ana Lima"
        morsel = session_cookie_of(response)["chinwag_session"]
        assert morsel["httponly"] is True and morsel["samesite"].lower() == "lax"
        assert morsel.value != first_cookie
        assert response.json()["csrf_token"] != ana.csrf  # one token per session
        session = again.get("/api/session")
        assert session.status_code == 200
        assert session.json() == response.json()
    finally:
        again.close()
    # both sessions stand side by side
    assert ana.get("/api/me").status_code == 200


def test_wrong_password_and_unknown_user_get_the_same_refusal(
    server: ServerProcess, make_user: MakeUser
) -> None:
    ana = make_user()
    wrong_password = httpx.post(
        f"{server.url}/api/session",
        json={"username": ana.username, "password": "not the password"},
        timeout=15,
    )
    unknown_user = httpx.post(
        f"{server.url}/api/session",
        json={"username": unique_name("nobody"), "password": PASSWORD},
        timeout=15,
    )
    nul_user = httpx.post(
        f"{server.url}/api/session",
        json={"username": "ana\x00", "password": PASSWORD},
        timeout=15,
    )
    for response in (wrong_password, unknown_user, nul_user):
        assert response.status_code == 401, response.text
        assert error_code(response) == "invalid_credentials"
        assert "set-cookie" not in response.headers
    assert wrong_password.json() == unknown_user.json() == nul_user.json()


def test_get_session_answers_the_user_and_the_same_csrf_token(make_user: MakeUser) -> None:
    ana = make_user("Ana")
    response = ana.get("/api/session")
    assert response.status_code == 200
    assert response.json() == {
        "username": ana.username,
        "full_name": "Ana",
        "avatar_url": None,
        "csrf_token": ana.csrf,
        "is_admin": False,
    }


def test_logged_out_requests_are_refused(server: ServerProcess) -> None:
    for path in ("/api/me", "/api/session", "/api/rooms"):
        response = httpx.get(f"{server.url}{path}", timeout=15)
        assert response.status_code == 401, (path, response.text)
        assert error_code(response) == "not_authenticated"


@pytest.mark.parametrize(
    "token",
    ["forged-token", "x" * 43, "A" * 300, "", "%00", "a b"],
    ids=["forged", "well-shaped", "too-long", "empty", "nul", "space"],
)
def test_a_forged_cookie_is_refused(server: ServerProcess, token: str) -> None:
    response = replay_cookie(server.url, token)
    assert response.status_code == 401, response.text
    assert error_code(response) == "not_authenticated"


async def test_a_forged_or_missing_cookie_cannot_open_a_socket(server: ServerProcess) -> None:
    for cookie in (None, "forged-token", "x" * 43):
        refusal = await refused_handshake(server.url, cookie)
        assert refusal["data"]["code"] == "not_authenticated", refusal


async def test_log_out_ends_the_session_server_side_and_drops_its_socket(
    server: ServerProcess, make_user: MakeUser
) -> None:
    ana = make_user()
    other_tab = User(server.url, ana.username, ana.full_name, PASSWORD)
    try:
        assert other_tab.log_in().status_code == 200
        code = other_tab.create_room("Still here")
        token = ana.session_cookie
        async with connected(ana) as sock, connected(other_tab) as other_sock:
            response = ana.delete("/api/session")
            assert response.status_code == 204, response.text
            await wait_disconnected(sock.disconnected)
            # the other session of the same person is untouched, socket and all
            assert other_sock.client.connected
            await other_sock.enter(code)
            assert other_tab.get("/api/me").status_code == 200
        # the browser is told to forget the cookie ...
        assert ana.session_cookie == ""
        # ... and a copy of it is worthless: the session is gone on the server
        replayed = replay_cookie(server.url, token)
        assert replayed.status_code == 401 and error_code(replayed) == "not_authenticated"
        refusal = await refused_handshake(server.url, token)
        assert refusal["data"]["code"] == "not_authenticated"
        # logging in again works
        assert ana.log_in().status_code == 200
        assert ana.get("/api/me").status_code == 200
    finally:
        other_tab.close()


def test_log_out_needs_the_session(server: ServerProcess) -> None:
    response = httpx.delete(f"{server.url}/api/session", timeout=15)
    assert response.status_code == 401 and error_code(response) == "not_authenticated"


# ---- session expiry ---------------------------------------------------------------------------
async def test_an_expired_session_is_refused_everywhere(
    short_session_server: ServerProcess,
) -> None:
    server = short_session_server
    ana = User(server.url, unique_name(), "Ana", PASSWORD)
    try:
        response = ana.sign_up()
        assert response.status_code == 201
        max_age = session_cookie_of(response)["chinwag_session"]["max-age"]
        assert max_age == str(SHORT_SESSION_SECONDS)
        token = ana.session_cookie
        # past the session's lifetime (a wait, not a timing assertion)
        await asyncio.sleep(SHORT_SESSION_SECONDS + 1)
        for path in ("/api/me", "/api/session"):
            expired = replay_cookie(server.url, token, path)
            assert expired.status_code == 401, expired.text
            assert error_code(expired) == "not_authenticated"
        refusal = await refused_handshake(server.url, token)
        assert refusal["data"]["code"] == "not_authenticated"
        # a fresh log-in gives a fresh session
        login = ana.log_in()
        assert login.status_code == 200
        assert replay_cookie(server.url, ana.session_cookie).status_code == 200
    finally:
        ana.close()


# ---- password change --------------------------------------------------------------------------
def test_password_change_needs_the_current_password(
    server: ServerProcess, make_user: MakeUser
) -> None:
    ana = make_user()
    response = ana.put(
        "/api/me/password",
        json={"current_password": "not the password", "new_password": "a new password"},
    )
    assert response.status_code == 403, response.text
    assert error_code(response) == "invalid_credentials"
    too_short = ana.put(
        "/api/me/password", json={"current_password": PASSWORD, "new_password": "short"}
    )
    assert too_short.status_code == 422 and error_code(too_short) == "invalid_input"
    # nothing changed: the old password still logs in
    again = User(server.url, ana.username, "", PASSWORD)
    try:
        assert again.log_in().status_code == 200
    finally:
        again.close()
    assert ana.get("/api/me").status_code == 200


async def test_password_change_ends_the_other_sessions_and_keeps_this_one(
    server: ServerProcess, make_user: MakeUser
) -> None:
    ana = make_user()
    elsewhere = User(server.url, ana.username, ana.full_name, PASSWORD)
    try:
        assert elsewhere.log_in().status_code == 200
        elsewhere_token = elsewhere.session_cookie
        new_password = "a brand new password"
        async with connected(elsewhere) as other_sock, connected(ana) as own_sock:
            response = ana.put(
                "/api/me/password",
                json={"current_password": PASSWORD, "new_password": new_password},
            )
            assert response.status_code == 204, response.text
            await wait_disconnected(other_sock.disconnected)
            # this session lives on: its cookie, its CSRF token and its socket
            assert own_sock.client.connected
            code = ana.create_room("After the change")
            await own_sock.enter(code)
        gone = replay_cookie(server.url, elsewhere_token)
        assert gone.status_code == 401 and error_code(gone) == "not_authenticated"
        assert elsewhere.get("/api/me").status_code == 401
        assert ana.get("/api/me").status_code == 200
        # the new password logs in, the old one no longer does
        old = elsewhere.log_in(PASSWORD)
        assert old.status_code == 401 and error_code(old) == "invalid_credentials"
        assert elsewhere.log_in(new_password).status_code == 200
        assert elsewhere.get("/api/me").status_code == 200
    finally:
        elsewhere.close()


# ---- profile ----------------------------------------------------------------------------------
def test_me_answers_the_profile(make_user: MakeUser) -> None:
    ana = make_user("Ana Lima")
    response = ana.get("/api/me")
    assert response.status_code == 200
    assert response.json() == {
        "username": ana.username,
        "full_name": "Ana Lima",
        "avatar_url": None,
    }


def test_patch_me_changes_the_full_name_under_the_same_rules(make_user: MakeUser) -> None:
    ana = make_user("Ana")
    response = ana.patch("/api/me", json={"full_name": "  Ame\u0301lie  "})
    assert response.status_code == 200, response.text
    assert response.json()["full_name"] == "Am\u00e9lie"
    assert ana.get("/api/me").json()["full_name"] == "Am\u00e9lie"
    for bad in ("", "  ", "x" * 65, "a\x00b", "evil\u202etxt", "two\nlines", 42, ["Ana"]):
        refused = ana.patch("/api/me", json={"full_name": bad})
        assert refused.status_code == 422, (bad, refused.text)
        assert error_code(refused) == "invalid_input"
    extra = ana.patch("/api/me", json={"full_name": "Bo", "username": "bo"})
    assert extra.status_code == 422 and error_code(extra) == "invalid_input"
    not_an_object = ana.patch("/api/me", json=["Bo"])
    assert not_an_object.status_code == 422
    assert ana.get("/api/me").json()["full_name"] == "Am\u00e9lie"
    # an empty patch changes nothing
    same = ana.patch("/api/me", json={})
    assert same.status_code == 200 and same.json()["full_name"] == "Am\u00e9lie"


def test_patch_me_needs_a_session(server: ServerProcess) -> None:
    response = httpx.patch(f"{server.url}/api/me", json={"full_name": "Nobody"}, timeout=15)
    assert response.status_code == 401 and error_code(response) == "not_authenticated"


# ---- the log-in throttle ----------------------------------------------------------------------
@pytest.fixture
def throttled_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """Three failures per username and six per address in a minute; a server per test, so the
    counts start at zero."""
    env = {
        **SERVER_ENV,
        "CHINWAG_LOGIN_FAILURES_PER_USER": "3",
        "CHINWAG_LOGIN_FAILURES_PER_ADDRESS": "6",
        "CHINWAG_LOGIN_WINDOW_SECONDS": "60",
    }
    with run_server(tmp_path, env) as proc:
        yield proc


def log_in(server: ServerProcess, username: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{server.url}/api/session", json={"username": username, "password": password}, timeout=15
    )


def assert_throttled(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert error_code(response) == "rate_limited"
    assert "set-cookie" not in response.headers
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_repeated_failures_for_a_username_are_throttled(throttled_server: ServerProcess) -> None:
    server = throttled_server
    ana = User(server.url, unique_name(), "Ana", PASSWORD)
    bo = User(server.url, unique_name(), "Bo", PASSWORD)
    try:
        assert ana.sign_up().status_code == 201
        assert bo.sign_up().status_code == 201
        for _ in range(3):
            assert log_in(server, ana.username, "wrong password").status_code == 401
        assert_throttled(log_in(server, ana.username, "wrong password"))
        # even the right password is refused while throttled, in any letter case
        assert_throttled(log_in(server, ana.username, PASSWORD))
        assert_throttled(log_in(server, ana.username.upper(), PASSWORD))
        # the throttle is per username: someone else from the same address logs in
        assert log_in(server, bo.username, PASSWORD).status_code == 200
        # and a session that already exists is not affected
        assert ana.get("/api/me").status_code == 200
    finally:
        ana.close()
        bo.close()


def test_a_successful_log_in_clears_the_username_failures(throttled_server: ServerProcess) -> None:
    server = throttled_server
    ana = User(server.url, unique_name(), "Ana", PASSWORD)
    try:
        assert ana.sign_up().status_code == 201
        for _ in range(2):
            assert log_in(server, ana.username, "wrong password").status_code == 401
        assert log_in(server, ana.username, PASSWORD).status_code == 200
        for _ in range(2):
            assert log_in(server, ana.username, "wrong password").status_code == 401
        assert log_in(server, ana.username, PASSWORD).status_code == 200
    finally:
        ana.close()


def test_repeated_failures_from_an_address_are_throttled(throttled_server: ServerProcess) -> None:
    server = throttled_server
    ana = User(server.url, unique_name(), "Ana", PASSWORD)
    try:
        assert ana.sign_up().status_code == 201
        # six different names, each under its own limit, all from 127.0.0.1
        for _ in range(6):
            assert log_in(server, unique_name("ghost"), "wrong password").status_code == 401
        assert_throttled(log_in(server, unique_name("ghost"), "wrong password"))
        assert_throttled(log_in(server, ana.username, PASSWORD))
    finally:
        ana.close()


async def test_concurrent_guesses_cannot_outrun_the_throttle(
    throttled_server: ServerProcess,
) -> None:
    server = throttled_server
    ana = User(server.url, unique_name(), "Ana", PASSWORD)
    try:
        assert ana.sign_up().status_code == 201
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/api/session",
                        json={"username": ana.username, "password": f"guess number {i}"},
                    )
                    for i in range(12)
                )
            )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [401] * 3 + [429] * 9, statuses
    finally:
        ana.close()


def test_wrong_current_passwords_are_throttled_like_log_ins(
    throttled_server: ServerProcess,
) -> None:
    server = throttled_server
    ana = User(server.url, unique_name(), "Ana", PASSWORD)
    try:
        assert ana.sign_up().status_code == 201
        change = {"current_password": "not it at all", "new_password": "brand new pass"}
        for _ in range(3):
            wrong = ana.put("/api/me/password", json=change)
            assert wrong.status_code == 403 and error_code(wrong) == "invalid_credentials"
        # a stolen session cannot go on guessing, even with the right password now
        right = ana.put("/api/me/password", json={**change, "current_password": PASSWORD})
        assert_throttled(right)
        assert log_in(server, ana.username, PASSWORD).status_code == 429
    finally:
        ana.close()
