"""A user's own account on a real server: the list of my sessions, ending one of them (its
sockets drop at once, on every node), and the export of my profile and messages."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.conftest import Server
from tests.live_support import barrier, error_code, online, room_with
from tests.support import PASSWORD, User, replay_cookie

MakeUser = Callable[..., User]
LAPTOP = "Mozilla/5.0 (X11; Linux x86_64) Laptop/1.0"
PHONE = "Mozilla/5.0 (iPhone) Phone/2.0 " + "x" * 300  # longer than is kept


@pytest.fixture
def second_login(server: Server) -> Iterator[Callable[[User, str], User]]:
    """Logs a user in a second time, from another device (on the last node, when there are
    several, so the two sessions are on different nodes)."""
    made: list[User] = []

    def log_in_again(user: User, agent: str) -> User:
        other = User(server.urls[-1], user.username, user.full_name, PASSWORD, nodes=server.urls)
        made.append(other)
        other.http.headers["User-Agent"] = agent
        assert other.log_in().status_code == 200
        return other

    yield log_in_again
    for user in made:
        user.close()


def sessions_of(user: User) -> list[dict[str, object]]:
    response = user.get("/api/me/sessions")
    assert response.status_code == 200, response.text
    return list(response.json())


def signed_up_on(make_user: MakeUser, agent: str) -> User:
    user = make_user(sign_up=False)
    user.http.headers["User-Agent"] = agent
    assert user.sign_up().status_code == 201
    return user


def test_my_sessions_lists_both_log_ins_and_marks_the_current_one(
    make_user: MakeUser, second_login: Callable[[User, str], User]
) -> None:
    laptop = signed_up_on(make_user, LAPTOP)
    phone = second_login(laptop, PHONE)

    mine = sessions_of(laptop)
    assert len(mine) == 2
    assert {s["device"] for s in mine} == {LAPTOP, PHONE[:200]}
    (current,) = [s for s in mine if s["current"]]
    assert current["device"] == LAPTOP
    assert all(s["address"] == "127.0.0.1" for s in mine)
    assert all(s["created_at"] and s["last_seen_at"] for s in mine)
    assert set(mine[0]) == {"id", "device", "address", "created_at", "last_seen_at", "current"}
    # the public id is neither the cookie nor the stored id (the token's hash)
    ids = {str(s["id"]) for s in mine}
    assert len(ids) == 2
    assert all(len(i) == 16 for i in ids)
    assert not ids & {laptop.session_cookie, phone.session_cookie}
    # the other device sees the same two, with itself as current
    from_phone = sessions_of(phone)
    assert {str(s["id"]) for s in from_phone} == ids
    assert [s["device"] for s in from_phone if s["current"]] == [PHONE[:200]]
    # last seen is not written on every request: within the interval (5 minutes by
    # default) it stays at the log-in time, however many requests come
    for _ in range(3):
        assert laptop.get("/api/me").status_code == 200
    assert all(s["last_seen_at"] == s["created_at"] for s in sessions_of(laptop))


async def test_ending_my_other_session_drops_its_socket_and_its_cookie(
    make_user: MakeUser, second_login: Callable[[User, str], User]
) -> None:
    laptop = signed_up_on(make_user, LAPTOP)
    phone = second_login(laptop, PHONE)
    friend = make_user()
    code = room_with(laptop, friend)
    phone_token = phone.session_cookie
    (phone_id,) = [s["id"] for s in sessions_of(laptop) if not s["current"]]

    async with online(phone, laptop, friend) as (phone_sock, laptop_sock, friend_sock):
        await phone_sock.enter(code)
        await laptop_sock.enter(code)
        await friend_sock.enter(code)
        # without the CSRF header the request is refused and nothing ends
        refused = laptop.http.delete(f"/api/me/sessions/{phone_id}")
        assert refused.status_code == 403 and error_code(refused) == "csrf_failed"
        assert len(sessions_of(laptop)) == 2

        response = laptop.delete(f"/api/me/sessions/{phone_id}")
        assert response.status_code == 204, response.text
        await phone_sock.wait_closed()
        # this session is untouched, socket and all
        await barrier(friend_sock, code, laptop_sock)
        assert laptop_sock.client.connected

    replayed = replay_cookie(phone.base_url, phone_token)
    assert replayed.status_code == 401 and error_code(replayed) == "not_authenticated"
    assert [s["current"] for s in sessions_of(laptop)] == [True]
    # ending it again: it is no longer there
    again = laptop.delete(f"/api/me/sessions/{phone_id}")
    assert again.status_code == 404 and error_code(again) == "session_not_found"


async def test_another_users_session_id_is_not_found_and_nothing_changes(
    make_user: MakeUser,
) -> None:
    ana, bob = make_user(), make_user()
    (bobs_id,) = [s["id"] for s in sessions_of(bob)]
    code = room_with(bob, ana)

    async with online(bob, ana) as (bob_sock, ana_sock):
        await bob_sock.enter(code)
        await ana_sock.enter(code)
        for wrong in (bobs_id, "0" * 16, "nope"):
            response = ana.delete(f"/api/me/sessions/{wrong}")
            assert response.status_code == 404 and error_code(response) == "session_not_found"
        # Bob's socket still receives: the barrier reaches it after the refused requests
        await barrier(ana_sock, code, bob_sock)
        assert bob_sock.client.connected
    assert [s["id"] for s in sessions_of(bob)] == [bobs_id]
    assert bob.get("/api/me").status_code == 200


def test_ending_my_current_session_is_a_log_out(make_user: MakeUser) -> None:
    ana = make_user()
    token = ana.session_cookie
    (mine,) = [s["id"] for s in sessions_of(ana)]

    response = ana.delete(f"/api/me/sessions/{mine}")
    assert response.status_code == 204, response.text
    assert ana.session_cookie == ""  # the cookie was cleared
    assert replay_cookie(ana.base_url, token).status_code == 401


async def test_export_holds_my_profile_and_exactly_the_messages_i_sent(
    make_user: MakeUser,
) -> None:
    ana, bob = make_user("Ana Lima"), make_user("Bob Stone")
    code = room_with(ana, bob)
    async with online(ana, bob) as (ana_sock, bob_sock):
        await ana_sock.enter(code)
        await bob_sock.enter(code)
        sent = []
        for body, to in (("hello all", None), ("psst bob", bob.username)):
            ack = await ana_sock.send(code, body, to=to)
            assert ack["ok"], ack
            sent.append(ack["message"])
        for body, to in (("bob public", None), ("bob to ana", ana.username)):
            ack = await bob_sock.send(code, body, to=to)
            assert ack["ok"], ack

    response = ana.get("/api/me/export")
    assert response.status_code == 200, response.text
    export = response.json()
    assert export["profile"] == {
        "username": ana.username,
        "full_name": "Ana Lima",
        "avatar_url": None,
    }
    assert export["created_at"]
    got = [(m["id"], m["room"], m["body"], m["to"]) for m in export["messages"]]
    assert got == [
        (sent[0]["id"], code, "hello all", None),
        (sent[1]["id"], code, "psst bob", bob.username),
    ]
    # nobody else's export: without a session there is none
    assert replay_cookie(ana.base_url, "", "/api/me/export").status_code == 401
