"""Typing indicators and presence over real sockets."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import SERVER_ENV, SHAPES, Server, run_shape
from tests.live_support import (
    Client,
    barrier,
    came,
    error_code,
    online,
    online_list,
    presence_fence,
    room_with,
    went,
)
from tests.support import PASSWORD, User, run_server, unique_name

MakeUser = Callable[..., User]
TTL = 1.5  # CHINWAG_TYPING_TTL_SECONDS of the test server (tests/conftest.py)
PAGE = 3  # CHINWAG_PRESENCE_PAGE_SIZE of the test server
# a presence interval long enough that what a test does at once lands in one batch
SLOW_INTERVAL = 3.0


def typing_of(user: User, *, active: bool) -> Callable[[dict[str, object]], bool]:
    def match(event: dict[str, object]) -> bool:
        who = event["user"]
        return (
            isinstance(who, dict)
            and who["username"] == user.username
            and (event["active"] is active)
        )

    return match


def stops_then_offline(client: Client, user: User) -> list[str]:
    """In order: the room typing stops and the presence batches of ``user`` going offline."""
    return [
        name
        for name, data in client.events
        if (name == "typing" and not data["active"] and data["to"] is None)
        or (name == "presence" and user.username in data["offline"])
    ]


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
        await b.wait_for("presence", came(ana.username))  # or her going is no change
        await c.wait_for("presence", came(ana.username))
        await a.close()
        await b.wait_for("presence", went(ana.username))
        # cleared as the connection went, before the presence change: not by the TTL
        assert stops_then_offline(b, ana)[:2] == ["typing", "presence"]
        await c.wait_for("typing", lambda e: e["to"] == cy.username and not e["active"])
        await c.wait_for("presence", went(ana.username))
        assert b.count("typing", lambda e: e["to"] is not None) == 0


async def test_leaving_clears_the_leaver_s_typing(make_user: MakeUser) -> None:
    ana, bo, cy = make_user(), make_user(), make_user()
    code = room_with(ana, bo, cy)
    async with online(ana, bo, cy) as (a, b, c):
        entered = [await client.enter(code) for client in (a, b, c)]
        assert (await b.call("typing", {"room": code, "active": True}))["ok"]
        assert (await b.call("typing", {"room": code, "to": cy.username, "active": True}))["ok"]
        await a.wait_for("typing", typing_of(bo, active=True))
        await c.wait_for("typing", lambda e: e["to"] == cy.username and e["active"])
        await a.wait_for("presence", came(bo.username))  # or his going is no change
        # cy entered after bo: his enter's answer has bo online (the batch that says bo
        # came may have gone out before cy listened)
        assert bo.username in [u["username"] for u in entered[2]["online"]]
        assert bo.post(f"/api/rooms/{code}/leave").status_code == 204
        for client in (a, c):
            await client.wait_for("presence", went(bo.username))
            await client.wait_for("typing", typing_of(bo, active=False))
            # cleared by the leaving, before the presence change: not by the TTL, later
            assert stops_then_offline(client, bo)[:2] == ["typing", "presence"]


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
    cy = make_user()
    assert cy.join(code).status_code == 200
    async with online(ana, bo, bo, cy) as (a, tab1, tab2, c):
        await a.enter(code)
        await tab1.enter(code)
        await a.wait_for("presence", came(bo.username))
        ack = await tab2.enter(code)
        assert sorted(u["username"] for u in ack["online"]) == sorted([ana.username, bo.username])
        await presence_fence(c, cy, code, a)
        assert a.count("presence", came(bo.username)) == 1

        await tab1.close()
        users = (await a.call("users:search", {"room": code}))["users"]
        assert bo.username in [u["username"] for u in users]
        await barrier(tab2, code, a)  # tab2 still hears the room

        await tab2.close()
        offline = await a.wait_for("presence", went(bo.username))
        assert offline == {"room": code, "online": [], "offline": [bo.username], "count": 2}
        users = (await a.call("users:search", {"room": code}))["users"]
        assert sorted(u["username"] for u in users) == sorted([ana.username, cy.username])
        assert a.count("presence", went()) == 1


async def test_entering_tells_who_is_online(make_user: MakeUser) -> None:
    ana, bo, cy = make_user("Ana"), make_user("Bo"), make_user("Cy")
    code = room_with(ana, bo, cy)
    async with online(ana, bo, cy) as (a, b, c):
        ack = await a.enter(code)
        assert [u["username"] for u in ack["online"]] == [ana.username]
        assert ack["room"]["code"] == code and ack["last_seq"] == 0
        await a.wait_for("presence", came(ana.username))
        ack = await b.enter(code)
        assert sorted(u["username"] for u in ack["online"]) == sorted([ana.username, bo.username])
        batch = await a.wait_for("presence", came(bo.username))
        assert batch == {
            "room": code,
            "online": [{"username": bo.username, "full_name": "Bo", "avatar_url": None}],
            "offline": [],
            "count": 2,
        }
        # exiting is going offline there; re-entering comes back
        assert (await b.call("room:exit", {"room": code})) == {"ok": True}
        await a.wait_for("presence", went(bo.username))
        missed = await a.send(code, "while bo was out")
        await b.enter(code)
        await a.wait_count("presence", 2, came(bo.username))
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


# ---- the online list, paged, and presence in batches --------------------------------------------
async def test_entering_answers_the_first_page_and_presence_list_pages_everyone_once(
    make_user: MakeUser,
) -> None:
    people = [make_user() for _ in range(2 * PAGE + 1)]
    owner, *others = people
    away = [make_user() for _ in range(3)]  # members who are not online: never listed
    code = room_with(owner, *others, *away)
    by_name = sorted((p.username for p in people), key=str.casefold)
    async with online(*people) as clients:
        for client in clients[:-1]:
            await client.enter(code)
        ack = await clients[-1].enter(code)
        assert [u["username"] for u in ack["online"]] == by_name[:PAGE]
        assert ack["online_count"] == len(people)
        assert ack["online_next"] == by_name[PAGE - 1].casefold()
        for limit in (None, 1, 2, PAGE, 1000):  # past the page size: a page
            assert await online_list(clients[0], code, limit) == by_name
        page = await clients[0].call("presence:list", {"room": code, "after": by_name[-2]})
        assert page == {
            "ok": True,
            "users": [{"username": by_name[-1], "full_name": "Test Person", "avatar_url": None}],
            "count": len(people),
            "next": None,
        }
        for bad in ({"room": code, "limit": 0}, {"room": code, "limit": "2"}, {"after": "x"}):
            assert error_code(await clients[0].call("presence:list", bad)) == "invalid_input"
        stranger = make_user()
        async with online(stranger) as (s,):
            refused = await s.call("presence:list", {"room": code})
            assert error_code(refused) == "not_member"


async def test_a_small_room_s_enter_ack_is_everyone(make_user: MakeUser) -> None:
    ana, bo = make_user(), make_user()
    code = room_with(ana, bo)
    async with online(ana, bo) as (a, b):
        await a.enter(code)
        ack = await b.enter(code)
        assert sorted(u["username"] for u in ack["online"]) == sorted([ana.username, bo.username])
        assert ack["online_count"] == 2 and ack["online_next"] is None


@pytest.fixture(scope="module", params=SHAPES)
def slow_presence(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    env = {**SERVER_ENV, "CHINWAG_PRESENCE_INTERVAL_SECONDS": str(SLOW_INTERVAL)}
    with run_shape(request.param, tmp_path_factory.mktemp("slow-presence"), env) as running:
        yield running


def person_on(server: Server, name: str = "Test Person") -> User:
    user = User(server.url, unique_name(), name, PASSWORD, nodes=server.urls)
    assert user.sign_up().status_code == 201
    return user


async def test_presence_is_one_batch_per_interval_of_each_user_s_last_change(
    slow_presence: Server,
) -> None:
    ana, bo, cy, dee, eve = (person_on(slow_presence) for _ in range(5))
    try:
        code = room_with(ana, bo, cy, dee, eve)
        async with online(ana, bo, cy, cy, dee, eve) as (a, b, c, c2, d, e):
            await a.enter(code)
            await a.wait_for("presence", came(ana.username))
            # within one interval: bo comes and goes, cy and dee come
            await b.enter(code)
            assert (await b.call("room:exit", {"room": code}))["ok"]
            await c.enter(code)
            await d.enter(code)
            await a.wait_for("presence", came(cy.username))
            await a.wait_for("presence", came(dee.username))
            await a.wait_for("presence", went(bo.username))  # his last change: offline
            batches = a.received("presence")[1:]
            # one batch from each node that saw a change
            assert len(batches) <= len(slow_presence.urls)
            assert sorted(u["username"] for p in batches for u in p["online"]) == sorted(
                [cy.username, dee.username]
            )
            assert [name for p in batches for name in p["offline"]] == [bo.username]
            assert batches[-1]["count"] == 3
            # cy reloads (a tab goes, another comes) and dee goes: cy is told online (his
            # last change), dee offline
            await c.close()
            await c2.enter(code)
            await d.close()
            gone = await a.wait_for("presence", went(dee.username))
            assert gone["offline"] == [dee.username] and gone["count"] == 2
            await a.wait_count("presence", 2, came(cy.username))
            await presence_fence(e, eve, code, a)
            assert not a.received("presence", went(cy.username))
            assert not a.received("presence", came(bo.username))
            assert sorted(await online_list(a, code)) == sorted(
                [ana.username, cy.username, eve.username]
            )
    finally:
        for user in (ana, bo, cy, dee, eve):
            user.close()


async def test_a_coming_seen_before_its_batch_is_put_right_when_the_user_goes(
    slow_presence: Server,
) -> None:
    """Bo comes and goes within one interval, but cy saw him online in between (her enter's
    answer; on several nodes, another node's batch counts him too): everyone hears he went,
    or cy would show him online for good."""
    ana, bo, cy = (person_on(slow_presence) for _ in range(3))
    try:
        code = room_with(ana, bo, cy)
        async with online(ana, bo, cy) as (a, b, c):
            await a.enter(code)
            await b.enter(code)
            entered = await c.enter(code)
            assert bo.username in [u["username"] for u in entered["online"]]
            assert (await b.call("room:exit", {"room": code}))["ok"]
            for client in (a, c):
                gone = await client.wait_for("presence", went(bo.username))
                assert bo.username not in [u["username"] for u in gone["online"]]
                assert gone["count"] == 2
    finally:
        for user in (ana, bo, cy):
            user.close()


async def test_a_going_seen_before_its_batch_is_put_right_when_the_user_comes_back(
    slow_presence: Server,
) -> None:
    """Bo goes and comes back within one interval (a reload), but cy entered in between and
    was answered without him: she hears he came, or she would never show him online."""
    ana, bo, cy = (person_on(slow_presence) for _ in range(3))
    try:
        code = room_with(ana, bo, cy)
        async with online(ana, bo, cy) as (a, b, c):
            await a.enter(code)
            await b.enter(code)
            await a.wait_for("presence", came(bo.username))
            assert (await b.call("room:exit", {"room": code}))["ok"]
            entered = await c.enter(code)
            assert bo.username not in [u["username"] for u in entered["online"]]
            await b.enter(code)
            back = await c.wait_for("presence", came(bo.username))
            assert back["count"] == 3
    finally:
        for user in (ana, bo, cy):
            user.close()
