"""Typing indicators and presence over real sockets."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.live_support import barrier, error_code, online, room_with
from tests.support import PASSWORD, User, run_server, unique_name

MakeUser = Callable[..., User]
TTL = 1.5  # CHINWAG_TYPING_TTL_SECONDS of the test server (tests/conftest.py)


def typing_of(user: User, *, active: bool) -> Callable[[dict[str, object]], bool]:
    def match(event: dict[str, object]) -> bool:
        who = event["user"]
        return (
            isinstance(who, dict)
            and who["username"] == user.username
            and (event["active"] is active)
        )

    return match


# ---- typing -----------------------------------------------------------------------------------
async def test_room_typing_reaches_the_others_stamped_by_the_server(make_user: MakeUser) -> None:
    ana, bo, cy = make_user("Ana Lima"), make_user(), make_user()
    code = room_with(ana, bo, cy)
    async with online(ana, bo, cy) as (a, b, c):
        for client in (a, b, c):
            await client.enter(code)
        ack = await a.call("typing", {"room": code, "active": True})
        assert ack == {"ok": True}
        for client in (b, c):
            event = await client.wait_for("typing", typing_of(ana, active=True))
            assert event == {
                "room": code,
                "user": {"username": ana.username, "full_name": "Ana Lima", "avatar_url": None},
                "to": None,
                "active": True,
                "expires_in": TTL,
            }
        assert (await a.call("typing", {"room": code, "active": False}))["ok"]
        for client in (b, c):
            await client.wait_for("typing", typing_of(ana, active=False))
        ack = await a.call("typing", {"room": code, "active": True, "user": bo.username})
        assert error_code(ack) == "invalid_input"


async def test_a_typing_indicator_expires_by_itself(make_user: MakeUser) -> None:
    ana, bo = make_user(), make_user()
    code = room_with(ana, bo)
    async with online(ana, bo) as (a, b):
        await a.enter(code)
        await b.enter(code)
        started = time.monotonic()
        assert (await a.call("typing", {"room": code, "active": True}))["ok"]
        await b.wait_for("typing", typing_of(ana, active=True))
        assert not b.received("typing", typing_of(ana, active=False))
        await b.wait_for("typing", typing_of(ana, active=False))
        # the server's timer, not a client: never before the TTL has run
        assert time.monotonic() - started >= TTL * 0.9
        assert b.count("typing", typing_of(ana, active=False)) == 1
        assert b.count("typing", typing_of(ana, active=True)) == 1


async def test_sending_the_message_clears_typing(make_user: MakeUser) -> None:
    ana, bo = make_user(), make_user()
    code = room_with(ana, bo)
    async with online(ana, bo) as (a, b):
        await a.enter(code)
        await b.enter(code)
        assert (await a.call("typing", {"room": code, "active": True}))["ok"]
        ack = await a.send(code, "done typing")
        await b.wait_for("message", lambda m: m["id"] == ack["message"]["id"])
        # cleared by the send itself, so before the message: not by the TTL, long after
        names = [
            (name, data.get("active"))
            for name, data in b.events
            if name in ("typing", "message") and data.get("room") == code
        ]
        assert names == [("typing", True), ("typing", False), ("message", None)]


async def test_a_typist_who_vanishes_leaves_no_stuck_indicator(make_user: MakeUser) -> None:
    ana, bo, cy = make_user(), make_user(), make_user()
    code = room_with(ana, bo, cy)
    async with online(ana, bo, cy) as (a, b, c):
        for client in (a, b, c):
            await client.enter(code)
        assert (await a.call("typing", {"room": code, "active": True}))["ok"]
        assert (await a.call("typing", {"room": code, "to": cy.username, "active": True}))["ok"]
        await b.wait_for("typing", typing_of(ana, active=True))
        await c.wait_for("typing", lambda e: e["to"] == cy.username and e["active"])
        await a.close()
        offline = await b.wait_for("presence", lambda p: not p["online"])
        assert offline["user"]["username"] == ana.username
        # cleared as the connection went, before the presence change: not by the TTL
        order = [(name, data.get("active"), data.get("online")) for name, data in b.events]
        assert order.index(("typing", False, None)) < order.index(("presence", None, False))
        await c.wait_for("typing", lambda e: e["to"] == cy.username and not e["active"])
        await c.wait_for("presence", lambda p: not p["online"])
        assert b.count("typing", lambda e: e["to"] is not None) == 0


async def test_leaving_clears_the_leaver_s_typing(make_user: MakeUser) -> None:
    ana, bo, cy = make_user(), make_user(), make_user()
    code = room_with(ana, bo, cy)
    async with online(ana, bo, cy) as (a, b, c):
        for client in (a, b, c):
            await client.enter(code)
        assert (await b.call("typing", {"room": code, "active": True}))["ok"]
        assert (await b.call("typing", {"room": code, "to": cy.username, "active": True}))["ok"]
        await a.wait_for("typing", typing_of(bo, active=True))
        await c.wait_for("typing", lambda e: e["to"] == cy.username and e["active"])
        assert bo.post(f"/api/rooms/{code}/leave").status_code == 204
        for client in (a, c):
            await client.wait_for("presence", lambda p: not p["online"])
            await client.wait_for("typing", typing_of(bo, active=False))
            # cleared by the leaving, before the presence change: not by the TTL, later
            order = [(name, data.get("active"), data.get("online")) for name, data in client.events]
            assert order.index(("typing", False, None)) < order.index(("presence", None, False))


async def test_a_destroyed_room_leaves_no_typing_behind(make_user: MakeUser) -> None:
    ana, bo = make_user(), make_user()
    doomed = room_with(ana, bo, name="Doomed")
    other = room_with(ana, bo, name="Other")
    async with online(ana, bo) as (a, b):
        assert (await a.call("typing", {"room": doomed, "to": bo.username, "active": True}))["ok"]
        await b.wait_for("typing", lambda e: e["room"] == doomed and e["active"])
        assert ana.delete(f"/api/rooms/{doomed}").status_code == 204
        await b.wait_for("room:destroyed")
        # a timer armed now runs out after the doomed room's would have
        assert (await a.call("typing", {"room": other, "to": bo.username, "active": True}))["ok"]
        await b.wait_for("typing", lambda e: e["room"] == other and not e["active"])
        names = [name for name, _ in b.events]
        after = b.events[names.index("room:destroyed") + 1 :]
        assert not [event for event in after if doomed in str(event)]


async def test_private_typing_reaches_only_the_recipient(make_user: MakeUser) -> None:
    ana, bo, cy = make_user(), make_user(), make_user()
    code = room_with(ana, bo, cy)
    async with online(ana, bo, cy) as (a, b, c):
        for client in (a, b, c):
            await client.enter(code)
        ack = await a.call("typing", {"room": code, "to": bo.username, "active": True})
        assert ack == {"ok": True}
        event = await b.wait_for("typing", typing_of(ana, active=True))
        assert event["to"] == bo.username
        await b.wait_for("typing", typing_of(ana, active=False))  # expired: still only bo
        await barrier(a, code, b, c)
        assert c.count("typing") == 0 and a.count("typing") == 0
        ack = await a.call("typing", {"room": code, "to": ana.username, "active": True})
        assert error_code(ack) == "invalid_recipient"
        ack = await a.call("typing", {"room": code, "to": "nobody-at-all", "active": True})
        assert error_code(ack) == "recipient_not_member"


async def test_typing_and_sending_are_rate_limited(tmp_path: Path) -> None:
    env = {
        "CHINWAG_TYPING_PER_WINDOW": "3",
        "CHINWAG_TYPING_WINDOW_SECONDS": "60",
        "CHINWAG_MESSAGES_PER_WINDOW": "3",
        "CHINWAG_MESSAGE_WINDOW_SECONDS": "60",
    }
    with run_server(tmp_path, env) as server:
        ana = User(server.url, unique_name(), "Ana", PASSWORD)
        try:
            assert ana.sign_up().status_code == 201
            code = ana.create_room()
            async with online(ana) as (a,):
                for active in (True, False, True):
                    assert (await a.call("typing", {"room": code, "active": active}))["ok"]
                ack = await a.call("typing", {"room": code, "active": False})
                assert error_code(ack) == "rate_limited"
                assert ack["error"]["retry_after"] > 0

                sent = [await a.send(code, f"m{i}", client_id=f"c{i}") for i in range(3)]
                assert all(ack["ok"] for ack in sent), sent
                ack = await a.send(code, "one too many", client_id="c3")
                assert error_code(ack) == "rate_limited" and ack["error"]["retry_after"] > 0
                # a retry of a stored message is still answered: it stores nothing new
                retry = await a.send(code, "m0", client_id="c0")
                assert retry["duplicate"] is True and retry["message"] == sent[0]["message"]
            page = ana.get(f"/api/rooms/{code}/messages").json()
            assert [m["body"] for m in page["messages"]] == ["m2", "m1", "m0"]
        finally:
            ana.close()


# ---- presence ---------------------------------------------------------------------------------
async def test_two_tabs_count_once(make_user: MakeUser) -> None:
    ana, bo = make_user(), make_user()
    code = room_with(ana, bo)
    async with online(ana, bo, bo) as (a, tab1, tab2):
        await a.enter(code)
        await tab1.enter(code)
        await a.wait_for("presence", lambda p: p["user"]["username"] == bo.username)
        ack = await tab2.enter(code)
        assert sorted(u["username"] for u in ack["online"]) == sorted([ana.username, bo.username])
        await barrier(tab2, code, a)
        assert a.count("presence", lambda p: p["user"]["username"] == bo.username) == 1

        await tab1.close()
        users = (await a.call("users:search", {"room": code}))["users"]
        assert bo.username in [u["username"] for u in users]
        await barrier(tab2, code, a)  # tab2 still hears the room

        await tab2.close()
        offline = await a.wait_for("presence", lambda p: not p["online"])
        assert offline == {
            "room": code,
            "user": {"username": bo.username, "full_name": "Test Person", "avatar_url": None},
            "online": False,
        }
        users = (await a.call("users:search", {"room": code}))["users"]
        assert [u["username"] for u in users] == [ana.username]
        await barrier(a, code, a)
        assert a.count("presence", lambda p: not p["online"]) == 1


async def test_entering_tells_who_is_online(make_user: MakeUser) -> None:
    ana, bo, cy = make_user("Ana"), make_user("Bo"), make_user("Cy")
    code = room_with(ana, bo, cy)
    async with online(ana, bo, cy) as (a, b, c):
        ack = await a.enter(code)
        assert [u["username"] for u in ack["online"]] == [ana.username]
        assert ack["room"]["code"] == code and ack["last_seq"] == 0
        ack = await b.enter(code)
        assert sorted(u["username"] for u in ack["online"]) == sorted([ana.username, bo.username])
        came = await a.wait_for(
            "presence", lambda p: p["online"] and p["user"]["username"] == bo.username
        )
        assert came["user"] == {"username": bo.username, "full_name": "Bo", "avatar_url": None}
        # exiting is going offline there; re-entering comes back
        assert (await b.call("room:exit", {"room": code})) == {"ok": True}
        await a.wait_for("presence", lambda p: not p["online"])
        missed = await a.send(code, "while bo was out")
        await b.enter(code)
        await a.wait_count("presence", 2, lambda p: p["online"])
        # bo hears the room again, and nothing from while he was out came first
        fence = await barrier(a, code, b)
        assert [m["id"] for m in b.received("message")] == [fence["id"]]
        assert missed["ok"] and not b.mentions("while bo was out")
        # cy is connected but never entered: a private message reaches her, presence not
        note = await a.send(code, "psst", to=cy.username)
        await c.wait_for("message", lambda m: m["id"] == note["message"]["id"])
        assert not c.received("presence")


async def test_searching_members_by_name(make_user: MakeUser) -> None:
    ana = make_user("Ana Maria Lopez")
    bo = make_user("Bob Marley")
    cy = make_user("Lola Mae")  # a member who stays offline
    code = room_with(ana, bo, cy)
    async with online(ana, bo) as (a, b):
        await a.enter(code)
        await b.enter(code)

        async def search(**payload: object) -> list[str]:
            ack = await a.call("users:search", {"room": code, **payload})
            assert ack["ok"], ack
            return [u["username"] for u in ack["users"]]

        async def by_http(**params: object) -> list[str]:
            response = ana.get(f"/api/rooms/{code}/users", params={"online": "true", **params})
            assert response.status_code == 200, response.text
            return [u["username"] for u in response.json()["users"]]

        both = sorted([ana.username, bo.username], key=str.casefold)
        for find in (search, by_http):
            assert sorted(await find(q=""), key=str.casefold) == both
            assert await find(q="lop") == [ana.username]  # a later word of the full name
            assert await find(q="MAR") == both  # Maria and Marley, any case
            assert await find(q="ana maria") == [ana.username]  # the full name's start
            assert await find(q=bo.username[:8].upper()) == [bo.username]
            assert await find(q="lola") == []  # offline
            assert await find(q="ria") == []  # a prefix, not a substring
        assert await search(q="lola", online=False) == [cy.username]
        response = ana.get(f"/api/rooms/{code}/users", params={"q": "lo"})
        assert response.status_code == 200
        members = {u["username"]: u["online"] for u in response.json()["users"]}
        assert members == {ana.username: True, cy.username: False}


async def test_a_renamed_user_is_named_anew_on_the_sockets_already_open(
    make_user: MakeUser,
) -> None:
    """Sockets keep their user in memory (no database read per event): a profile change
    must reach that copy, so the next event the socket sends carries the new name."""
    ana, bo = make_user("Ana Before"), make_user()
    code = room_with(ana, bo)
    async with online(ana, bo) as (a, b):
        await a.enter(code)
        await b.enter(code)
        assert ana.patch("/api/me", json={"full_name": "Ana After"}).status_code == 200
        await b.wait_for("user:updated", lambda e: e["user"]["full_name"] == "Ana After")
        assert (await a.call("typing", {"room": code, "active": True}))["ok"]
        event = await b.wait_for("typing", typing_of(ana, active=True))
        assert event["user"]["full_name"] == "Ana After"
        sent = await a.send(code, "signed anew")
        assert sent["message"]["sender"]["full_name"] == "Ana After"
