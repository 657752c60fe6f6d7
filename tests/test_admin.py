"""Administration against a running server and its sockets, in every shape: `chinwag admin`
from a terminal (over the control socket on one node, over Redis on two) and the admin API;
a user's own account deletion; one-time password resets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Server
from tests.support import PASSWORD, Socket, User, chinwag_admin, connected, db_column

NEW_PASSWORD = "a brand new password"
# What does not depend on how the server runs is proven once, on one SQLite node; what reaches
# live connections, in every shape.
ONE_SHAPE = pytest.mark.parametrize("server", ["sqlite"], indirect=True)


def admin_ok(server: Server, *args: str, stdin: str | None = None) -> str:
    result = chinwag_admin(server, *args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout


def listed(server: Server, username: str) -> dict[str, Any]:
    found = json.loads(admin_ok(server, "list-users", "--query", username, "--json"))
    (user,) = [u for u in found["users"] if u["username"] == username]
    return dict(user)


async def dropped(sock: Socket) -> None:
    await asyncio.wait_for(sock.disconnected.wait(), 10)


def make_admin(server: Server, make_user: Callable[..., User]) -> User:
    admin = make_user("Site Admin")
    out = chinwag_admin(server, "create-admin", admin.username)
    assert out.returncode == 0, out.stderr
    assert "now a site administrator" in out.stderr
    assert admin.log_in().json()["is_admin"] is True
    return admin


# ---- disable / enable -------------------------------------------------------------------------
async def test_disable_drops_the_open_socket_at_once_and_refuses_log_in(
    server: Server, make_user: Callable[..., User]
) -> None:
    ana, bob = make_user("Ana"), make_user("Bob")
    code = ana.create_room()
    assert bob.join(code).status_code == 200
    async with connected(ana) as ana_sock, connected(bob) as bob_sock:
        await ana_sock.enter(code)
        await bob_sock.enter(code)
        admin_ok(server, "disable", bob.username)
        await dropped(bob_sock)
        assert (await ana_sock.send(code, "after the disable"))["ok"]
        await ana_sock.wait_for("message", lambda m: m["body"] == "after the disable")
    assert bob.get("/api/me").status_code == 401
    refused = bob.log_in()
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "account_disabled"
    assert listed(server, bob.username)["disabled"] is True
    # the data stays: still a member, still able to come back
    assert bob.username in [
        m["username"] for m in ana.get(f"/api/rooms/{code}/users").json()["users"]
    ]
    admin_ok(server, "enable", bob.username)
    assert bob.log_in().status_code == 200
    assert listed(server, bob.username)["disabled"] is False


# ---- reset-password ---------------------------------------------------------------------------
async def test_a_reset_password_ends_every_session_and_its_code_works_once(
    server: Server, make_user: Callable[..., User]
) -> None:
    bob = make_user("Bob")
    other_device = User(bob.base_url, bob.username, bob.full_name, PASSWORD, nodes=bob.nodes)
    assert other_device.log_in().status_code == 200
    async with connected(bob) as sock:
        out = admin_ok(server, "reset-password", bob.username)
        await dropped(sock)
    code = out.splitlines()[0]
    assert len(code) >= 16
    assert bob.get("/api/me").status_code == 401
    assert other_device.get("/api/me").status_code == 401
    assert bob.log_in().status_code == 401  # the old password stopped working
    weak = bob.http.post("/api/password-reset", json={"code": code, "password": "short"})
    assert weak.status_code == 422  # the sign-up rules; the code is not used up by it
    done = bob.http.post("/api/password-reset", json={"code": code, "password": NEW_PASSWORD})
    assert done.status_code == 204, done.text
    again = bob.http.post("/api/password-reset", json={"code": code, "password": "another one!"})
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "reset_code_invalid"
    assert bob.log_in(NEW_PASSWORD).status_code == 200
    other_device.close()


@ONE_SHAPE
def test_a_wrong_reset_code_is_refused_and_changes_nothing(
    server: Server, make_user: Callable[..., User]
) -> None:
    bob = make_user("Bob")
    wrong = bob.http.post("/api/password-reset", json={"code": "x" * 22, "password": NEW_PASSWORD})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "reset_code_invalid"
    assert bob.get("/api/me").status_code == 200
    assert bob.log_in().status_code == 200


# ---- delete-user ------------------------------------------------------------------------------
async def test_a_deleted_user_is_gone_and_what_they_wrote_stays_anonymised(
    server: Server, make_user: Callable[..., User]
) -> None:
    dave, erin, frank = make_user("Dave"), make_user("Erin"), make_user("Frank")
    shared = dave.create_room("Dave's room")
    alone = dave.create_room("Dave alone")
    assert erin.join(shared).status_code == 200  # erin joined first: she inherits it
    assert frank.join(shared).status_code == 200
    async with (
        connected(dave) as dave_sock,
        connected(erin) as erin_sock,
        connected(frank) as frank_sock,
    ):
        for sock in (dave_sock, erin_sock, frank_sock):
            await sock.enter(shared)
        assert (await dave_sock.send(shared, "hello from dave"))["ok"]
        assert (await dave_sock.send(shared, "psst", to=erin.username))["ok"]
        await erin_sock.wait_for("message", lambda m: m["body"] == "psst")
        admin_ok(server, "delete-user", dave.username, "--yes")
        await dropped(dave_sock)
        updated = await frank_sock.wait_for("room:updated")
        assert updated["room"]["owner"] == erin.username
        renamed = await frank_sock.wait_for("user:updated")
        assert renamed["user"] == {
            "username": dave.username,
            "full_name": "Deleted user",
            "avatar_url": None,
        }
    assert dave.log_in().status_code == 401
    assert dave.sign_up().status_code == 409  # the name stays reserved
    room = erin.get(f"/api/rooms/{shared}").json()
    assert room["owner"] == erin.username
    members = [m["username"] for m in erin.get(f"/api/rooms/{shared}/users").json()["users"]]
    assert dave.username not in members
    page = erin.get(f"/api/rooms/{shared}/messages").json()["messages"]
    (kept,) = [m for m in page if m["body"] == "hello from dave"]
    assert kept["sender"]["full_name"] == "Deleted user"
    assert alone not in db_column(server, "SELECT code FROM rooms")  # nobody else was in it
    assert dave.username not in json.dumps(
        json.loads(admin_ok(server, "list-users", "--query", dave.username, "--json"))["users"]
    )
    assert erin.delete(f"/api/rooms/{shared}").status_code == 204  # she owns it now


@ONE_SHAPE
def test_delete_user_asks_for_yes_without_a_terminal(
    server: Server, make_user: Callable[..., User]
) -> None:
    bob = make_user("Bob")
    refused = chinwag_admin(server, "delete-user", bob.username)
    assert refused.returncode == 1
    assert "--yes" in refused.stderr
    assert bob.get("/api/me").status_code == 200


@ONE_SHAPE
def test_admin_commands_on_an_unknown_user_say_so(server: Server) -> None:
    for args in (
        ("disable", "nobody-here"),
        ("enable", "nobody-here"),
        ("reset-password", "nobody-here"),
        ("delete-user", "nobody-here", "--yes"),
    ):
        result = chinwag_admin(server, *args)
        assert result.returncode == 1, args
        assert result.stderr.strip().splitlines() == ["chinwag: No such user."], args


# ---- the user's own account -------------------------------------------------------------------
async def test_deleting_my_account_wants_my_password_then_ends_everything(
    server: Server, make_user: Callable[..., User]
) -> None:
    bob = make_user("Bob")
    async with connected(bob) as sock:
        wrong = bob.delete("/api/me", json={"password": "not my password"})
        assert wrong.status_code == 403
        assert wrong.json()["error"]["code"] == "invalid_credentials"
        assert bob.get("/api/me").status_code == 200
        done = bob.delete("/api/me", json={"password": PASSWORD})
        assert done.status_code == 204, done.text
        await dropped(sock)
    assert bob.log_in().status_code == 401


# ---- administrators and the admin API ---------------------------------------------------------
@ONE_SHAPE
def test_create_admin_makes_a_new_account_from_stdin(server: Server) -> None:
    from tests.support import unique_name

    name = unique_name("adm")
    out = chinwag_admin(server, "create-admin", name, "--password-stdin", stdin=PASSWORD + "\n")
    assert out.returncode == 0, out.stderr
    admin = User(server.url, name, name, PASSWORD)
    answer = admin.log_in()
    assert answer.status_code == 200
    assert answer.json()["is_admin"] is True
    assert listed(server, name)["is_admin"] is True
    weak = chinwag_admin(
        server, "create-admin", unique_name("adm"), "--password-stdin", stdin="x\n"
    )
    assert weak.returncode == 1
    assert "password" in weak.stderr
    admin.close()


@pytest.mark.parametrize("server", ["sqlite", "nodes"], indirect=True)
async def test_the_admin_api_disables_enables_and_deletes(
    server: Server, make_user: Callable[..., User]
) -> None:
    admin, bob, carol = make_admin(server, make_user), make_user("Bob"), make_user("Carol")
    assert bob.get("/api/admin/users").json()["error"]["code"] == "not_admin"
    found = admin.get("/api/admin/users", params={"q": bob.username}).json()
    assert found["total"] == 1
    (entry,) = found["users"]
    assert entry["username"] == bob.username and entry["disabled"] is False
    async with connected(bob) as sock:
        disabled = admin.post(f"/api/admin/users/{entry['id']}/disable")
        assert disabled.status_code == 200 and disabled.json()["disabled"] is True
        await dropped(sock)
    assert bob.log_in().status_code == 403
    assert admin.post(f"/api/admin/users/{entry['id']}/enable").json()["disabled"] is False
    assert bob.log_in().status_code == 200
    me = admin.get("/api/admin/users", params={"q": admin.username}).json()["users"][0]
    selfish = admin.post(f"/api/admin/users/{me['id']}/disable")
    assert selfish.status_code == 409
    assert selfish.json()["error"]["code"] == "cannot_act_on_self"
    assert admin.delete("/api/admin/users/999999999").status_code == 404
    carol_id = admin.get("/api/admin/users", params={"q": carol.username}).json()["users"][0]["id"]
    assert admin.delete(f"/api/admin/users/{carol_id}").status_code == 204
    assert carol.get("/api/me").status_code == 401
    assert admin.get("/api/admin/users", params={"q": carol.username}).json()["total"] == 0
