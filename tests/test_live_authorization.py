"""Live connections follow authorization at every moment (issue 6, findings 1-4).

Each race is driven many times in a bounded loop, with real sockets and real HTTP, on
SQLite and PostgreSQL. Non-delivery is proven with a witness: a later event the victim is
entitled to, which arrives only after everything emitted to it before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import httpx

from tests.live_support import Client, async_http, came, error_code, online, room_with
from tests.support import PASSWORD, ServerProcess, User, unique_name

MakeUser = Callable[..., User]
ROUNDS = 12  # each race, per backend; the old code lost it within three


async def witness(sender: Client, code: str, to: User, receiver: Client) -> None:
    """A private message in room ``code`` that ``receiver`` (``to``'s socket) must get:
    once it arrives, whatever was emitted to that socket before it has arrived too."""
    ack = await sender.send(code, "witness", to=to.username)
    assert ack["ok"], ack
    await receiver.wait_for("message", lambda m: m["id"] == ack["message"]["id"])


async def connect_racing(client: Client) -> bool:
    """Connect; False if the server refused the handshake."""
    try:
        await client.connect()
    except Exception:  # socketio.exceptions.ConnectionError: refused
        return False
    return True


# ---- 1. an expired session stops listening ----------------------------------------------------
async def test_a_socket_is_closed_when_its_session_expires_and_goes_offline(
    short_session_server: ServerProcess,
) -> None:
    server = short_session_server
    ana = User(server.url, unique_name(), "Ana", PASSWORD)
    bo = User(server.url, unique_name(), "Bo", PASSWORD)
    try:
        assert ana.sign_up().status_code == 201
        assert bo.sign_up().status_code == 201
        code = room_with(bo, ana)
        async with online(ana) as (a,):
            await a.enter(code)
            await a.wait_closed(timeout=20)  # the server closes it when the session ends
            assert bo.log_in().status_code == 200  # bo's own session expired too
            async with online(bo) as (b,):
                ack = await b.enter(code)
                assert [u["username"] for u in ack["online"]] == [bo.username]
                sent = await b.send(code, "after ana's session ended")
                private = await b.send(code, "psst", to=ana.username)
                assert sent["ok"] and private["ok"]
                users = (await b.call("users:search", {"room": code}))["users"]
                assert [u["username"] for u in users] == [bo.username]
            assert not a.mentions("after ana's session ended") and not a.mentions("psst")
    finally:
        ana.close()
        bo.close()


# ---- 2. a room destroyed while someone enters it; its id is never reused --------------------
async def enters(tabs: list[Client], code: str, per_tab: int = 4) -> list[Any]:
    """Every tab asks to enter ``code`` ``per_tab`` times at once (a connection's events
    run one after another, so the enters spread over the time a racing request takes)."""
    calls = [tab.call("room:enter", {"room": code}) for tab in tabs for _ in range(per_tab)]
    return list(await asyncio.gather(*calls))


async def test_entering_a_room_being_destroyed_never_hears_the_next_room(
    make_user: MakeUser,
) -> None:
    owner, eve = make_user("Owner"), make_user("Eve")
    lobby = room_with(owner, eve, name="Witness")
    async with online(owner, eve, eve, eve) as (o, *tabs):
        for _ in range(ROUNDS):
            doomed = room_with(owner, eve, name="Doomed")
            async with async_http(owner) as http:
                entered, destroyed = await asyncio.gather(
                    enters(tabs, doomed), http.delete(f"/api/rooms/{doomed}")
                )
            assert destroyed.status_code == 204, destroyed.text
            for ack in entered:
                assert ack["ok"] or error_code(ack) in ("room_not_found", "not_member"), ack
            fresh = owner.create_room("Private to the owner")
            await o.enter(fresh)
            secret = await o.send(fresh, f"secret of {fresh}")
            assert secret["ok"], secret
            for tab in tabs:
                await witness(o, lobby, eve, tab)
                assert not tab.mentions(fresh), "a stranger heard the next room"
            assert not o.received("presence", came(eve.username, fresh))


def test_a_destroyed_rooms_id_is_never_reused(make_user: MakeUser, server: ServerProcess) -> None:
    from tests.live_support import query_db

    owner = make_user()
    code = owner.create_room()
    (row,) = query_db(server, "SELECT id FROM rooms WHERE code = :code", code=code)
    assert owner.delete(f"/api/rooms/{code}").status_code == 204
    fresh = owner.create_room()
    (fresh_row,) = query_db(server, "SELECT id FROM rooms WHERE code = :code", code=fresh)
    assert int(fresh_row[0]) > int(row[0])


# ---- 3. a handshake racing log-out or a password change --------------------------------------
async def handshakes_during(
    user: User, request: Coroutine[Any, Any, httpx.Response], most: int = 60
) -> tuple[list[Client], list[bool], httpx.Response]:
    """Open sockets with ``user``'s session, one every few milliseconds, for as long as
    ``request`` (which ends that session) is in flight: the handshakes sweep its commit."""
    pending = asyncio.ensure_future(request)
    socks: list[Client] = []
    attempts = []
    while not pending.done() and len(socks) < most:
        sock = Client(user.socket_url(), user.session_cookie)
        socks.append(sock)
        attempts.append(asyncio.ensure_future(connect_racing(sock)))
        await asyncio.sleep(0.005)
    connected = list(await asyncio.gather(*attempts))
    return socks, connected, await pending


async def survivors_hear_nothing(
    socks: list[Client], connected: list[bool], b: Client, code: str, to: User, text: str
) -> None:
    """Every socket that got through is closed by the server; none hears ``text``."""
    try:
        for sock, ok in zip(socks, connected, strict=True):
            if ok:
                await sock.wait_closed()
        sent = await b.send(code, text, to=to.username)
        assert sent["ok"], sent
        for sock in socks:
            assert not sock.mentions(text)
    finally:
        for sock in socks:
            await sock.close()


async def test_a_handshake_racing_log_out_never_survives(make_user: MakeUser) -> None:
    ana, bo = make_user("Ana"), make_user("Bo")
    code = room_with(bo, ana)
    async with online(bo) as (b,):
        for _ in range(ROUNDS):
            assert ana.log_in().status_code == 200
            async with async_http(ana) as http:
                socks, connected, logged_out = await handshakes_during(
                    ana, http.delete("/api/session")
                )
            assert logged_out.status_code == 204, logged_out.text
            await survivors_hear_nothing(socks, connected, b, code, ana, "for ana only")


async def test_a_handshake_racing_a_password_change_never_survives(make_user: MakeUser) -> None:
    ana, bo = make_user("Ana"), make_user("Bo")
    code = room_with(bo, ana)
    keeper = User(ana.base_url, ana.username, ana.full_name, ana.password)
    try:
        async with online(bo) as (b,):
            for round_ in range(ROUNDS):
                assert keeper.log_in().status_code == 200
                assert ana.log_in().status_code == 200  # the session that will be ended
                new_password = f"{PASSWORD} {round_}"
                change = {"current_password": keeper.password, "new_password": new_password}
                async with async_http(keeper) as http:
                    socks, connected, changed = await handshakes_during(
                        ana, http.put("/api/me/password", json=change)
                    )
                assert changed.status_code == 204, changed.text
                keeper.password = ana.password = new_password
                await survivors_hear_nothing(socks, connected, b, code, ana, "after the change")
    finally:
        keeper.close()


# ---- 4. entering racing a leave -------------------------------------------------------------
async def test_entering_racing_a_leave_never_keeps_hearing_the_room(make_user: MakeUser) -> None:
    owner, leo = make_user("Owner"), make_user("Leo")
    lobby = room_with(owner, leo, name="Witness")
    code = owner.create_room("Left behind")
    async with online(owner, leo, leo, leo) as (o, *tabs):
        await o.enter(code)
        for round_ in range(ROUNDS):
            assert leo.join(code).status_code == 200
            async with async_http(leo) as http:
                entered, left = await asyncio.gather(
                    enters(tabs, code), http.post(f"/api/rooms/{code}/leave")
                )
            assert left.status_code == 204, left.text
            for ack in entered:
                assert ack["ok"] or error_code(ack) == "not_member", ack
            said = await o.send(code, f"after leo left, round {round_}")
            assert said["ok"], said
            for tab in tabs:
                await witness(o, lobby, leo, tab)
                assert not tab.mentions(f"after leo left, round {round_}")
        users = (await o.call("users:search", {"room": code, "online": False}))["users"]
        assert [u["username"] for u in users] == [owner.username]
        online_now = (await o.call("users:search", {"room": code}))["users"]
        assert [u["username"] for u in online_now] == [owner.username]


async def test_a_leave_racing_messages_cuts_the_stream_cleanly(make_user: MakeUser) -> None:
    """Messages race the leave: the leaver hears some of them, in order, all before its
    room:left notice, and nothing of the room after it."""
    owner, leo = make_user("Owner"), make_user("Leo")
    lobby = room_with(owner, leo, name="Witness")
    code = room_with(owner, leo, name="Busy")
    async with online(owner, leo) as (o, lc):
        await o.enter(code)
        await lc.enter(code)

        async def chatter() -> list[dict[str, Any]]:
            return [await o.send(code, f"busy {i}") for i in range(20)]

        async with async_http(leo) as http:
            acks, left = await asyncio.gather(chatter(), http.post(f"/api/rooms/{code}/leave"))
        assert left.status_code == 204 and all(a["ok"] for a in acks)
        await o.send(code, "after the leave, surely")
        await witness(o, lobby, leo, lc)
        names = [n for n, d in lc.events if n in ("message", "room:left") and d["room"] == code]
        assert names[-1] == "room:left" and names.count("room:left") == 1, names
        heard = [m["seq"] for m in lc.received("message", lambda m: m["room"] == code)]
        assert heard == [a["message"]["seq"] for a in acks][: len(heard)]
        assert not lc.mentions("after the leave, surely")
        assert error_code(await lc.send(code, "still here?")) == "not_member"
