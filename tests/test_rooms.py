"""Rooms over HTTP: create, join, list, leave and destroy, with what live members see."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from tests.live_support import (
    async_http,
    barrier,
    came,
    error_code,
    history,
    last_seq,
    online,
    query_db,
    room_with,
    went,
)
from tests.support import ServerProcess, User

MakeUser = Callable[..., User]


def test_create_room_gives_a_uuid4_code_and_makes_me_owner(make_user: MakeUser) -> None:
    ana = make_user("Ana Lima")
    response = ana.post("/api/rooms", json={"name": "  Book club  "})
    assert response.status_code == 201, response.text
    room = response.json()
    assert str(uuid.UUID(room["code"])) == room["code"]
    assert uuid.UUID(room["code"]).version == 4
    assert room["owner"] == ana.username
    assert room["name"] == "Book club"
    assert ana.get(f"/api/rooms/{room['code']}").json() == room
    other = ana.post("/api/rooms", json={"name": "Book club"}).json()
    assert other["code"] != room["code"]


def test_room_names_are_checked(make_user: MakeUser) -> None:
    ana = make_user()
    assert ana.post("/api/rooms", json={"name": "x" * 80}).status_code == 201
    for bad in ["", "   ", "x" * 81, "bell\x07", "two\nlines", "nul\x00", "\u202eevil", 42, None]:
        response = ana.post("/api/rooms", json={"name": bad})
        assert response.status_code == 422, (bad, response.text)
        assert error_code(response) == "invalid_input"
    response = ana.post("/api/rooms", json={"name": "ok", "owner": "someone"})
    assert response.status_code == 422, response.text
    assert len(ana.get("/api/rooms").json()["rooms"]) == 1


def test_join_by_code_twice_is_harmless(make_user: MakeUser) -> None:
    ana, bo = make_user(), make_user()
    code = ana.create_room("Club")
    for _ in range(2):
        response = bo.join(code)
        assert response.status_code == 200, response.text
        assert response.json()["code"] == code
        assert response.json()["owner"] == ana.username
    assert bo.join(code.upper()).status_code == 200  # the same UUID, spelled in capitals
    assert [r["code"] for r in bo.get("/api/rooms").json()["rooms"]] == [code]
    members = ana.get(f"/api/rooms/{code}/users").json()["users"]
    assert sorted(m["username"] for m in members) == sorted([ana.username, bo.username])


async def test_joining_concurrently_is_still_harmless(make_user: MakeUser) -> None:
    ana, bo = make_user(), make_user()
    async with async_http(bo) as http:
        for _ in range(8):
            code = ana.create_room()
            joins = [http.post("/api/rooms/join", json={"code": code}) for _ in range(5)]
            responses = await asyncio.gather(*joins)
            assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
            members = ana.get(f"/api/rooms/{code}/users").json()["users"]
            assert sorted(m["username"] for m in members) == sorted([ana.username, bo.username])


def test_joining_an_unknown_or_malformed_code_is_room_not_found(make_user: MakeUser) -> None:
    bo = make_user()
    for code in [str(uuid.uuid4()), "not-a-code", "1234", "../../etc", "x" * 64]:
        response = bo.join(code)
        assert response.status_code == 404, (code, response.text)
        assert error_code(response) == "room_not_found"
    for code in [str(uuid.uuid4()), "not-a-code", "1234", "x" * 64]:
        response = bo.get(f"/api/rooms/{code}")
        assert response.status_code == 404, (code, response.text)
        assert error_code(response) == "room_not_found"
    assert bo.get("/api/rooms").json()["rooms"] == []


async def test_my_rooms_are_listed_with_their_last_seq(make_user: MakeUser) -> None:
    ana, bo, cy = make_user(), make_user(), make_user()
    first = room_with(ana, bo, name="First")
    second = room_with(bo, name="Second")
    third = room_with(cy, name="Not mine")
    async with online(ana) as (a,):
        await a.enter(first)
        for body in ("one", "two", "three"):
            assert (await a.send(first, body))["ok"]
    rooms = bo.get("/api/rooms").json()["rooms"]
    assert [r["code"] for r in rooms] == [second, first]  # newest first
    assert {r["code"]: r["last_seq"] for r in rooms} == {first: 3, second: 0}
    assert rooms[1]["owner"] == ana.username and rooms[1]["name"] == "First"
    assert third not in {r["code"] for r in ana.get("/api/rooms").json()["rooms"]}


def test_a_non_member_cannot_look_into_a_room(make_user: MakeUser) -> None:
    ana, eve = make_user(), make_user()
    code = ana.create_room()
    for path in ["", "/messages", f"/dms/{ana.username}/messages", "/users"]:
        response = eve.get(f"/api/rooms/{code}{path}")
        assert response.status_code == 403, (path, response.text)
        assert error_code(response) == "not_member"
    response = eve.post(f"/api/rooms/{code}/leave")
    assert response.status_code == 403 and error_code(response) == "not_member"


def test_the_owner_cannot_leave(make_user: MakeUser) -> None:
    ana = make_user()
    code = ana.create_room()
    response = ana.post(f"/api/rooms/{code}/leave")
    assert response.status_code == 409, response.text
    assert error_code(response) == "owner_cannot_leave"
    assert ana.get(f"/api/rooms/{code}").status_code == 200


async def test_a_member_who_leaves_is_gone_live_too(make_user: MakeUser) -> None:
    ana, bo = make_user(), make_user()
    code = room_with(ana, bo, name="Left")
    elsewhere = room_with(ana, bo, name="Still here")
    async with online(ana, bo, bo) as (a, b1, b2):
        for client in (a, b1):
            await client.enter(code)
            await client.enter(elsewhere)
        await a.wait_for("presence", came(bo.username, code))
        await a.wait_for("presence", came(bo.username, elsewhere))

        response = bo.post(f"/api/rooms/{code}/leave")
        assert response.status_code == 204, response.text

        # every tab of the leaver hears it, entered or not; the others see them go offline
        for tab in (b1, b2):
            assert await tab.wait_for("room:left", lambda e: e["room"] == code)
        offline = await a.wait_for("presence", went(room=code))
        assert offline["offline"] == [bo.username]
        # still online in the other room
        assert not a.received("presence", went(room=elsewhere))

        # the leaver's socket no longer hears the room: a message sent there before one in
        # the shared room would have arrived first
        secret = await a.send(code, "after you left")
        assert secret["ok"], secret
        await barrier(a, elsewhere, b1)
        assert not b1.mentions("after you left")

        assert error_code(await b1.call("room:enter", {"room": code})) == "not_member"
        assert error_code(await b1.send(code, "let me back")) == "not_member"
    assert code not in {r["code"] for r in bo.get("/api/rooms").json()["rooms"]}
    assert bo.get(f"/api/rooms/{code}").status_code == 403
    members = ana.get(f"/api/rooms/{code}/users").json()["users"]
    assert [m["username"] for m in members] == [ana.username]
    assert bo.join(code).status_code == 200  # and may come back with the code


async def test_only_the_owner_can_destroy(make_user: MakeUser) -> None:
    ana, bo, eve = make_user(), make_user(), make_user()
    code = room_with(ana, bo)
    async with online(ana) as (a,):
        await a.enter(code)
        assert (await a.send(code, "keep me"))["ok"]
    response = bo.delete(f"/api/rooms/{code}")
    assert response.status_code == 403, response.text
    assert error_code(response) == "not_owner"
    response = eve.delete(f"/api/rooms/{code}")
    assert response.status_code == 403, response.text
    assert error_code(response) == "not_member"
    assert bo.get(f"/api/rooms/{code}").status_code == 200
    assert [m["body"] for m in history(bo, code)["messages"]] == ["keep me"]


async def test_destroying_a_room_removes_it_everywhere(
    make_user: MakeUser, server: ServerProcess
) -> None:
    ana, bo, cy, eve = make_user(), make_user(), make_user(), make_user()
    code = room_with(ana, bo, cy, name="Doomed")
    kept = room_with(ana, bo, name="Kept")
    async with online(ana, bo, cy) as (a, b, c):
        for client in (a, b):
            await client.enter(code)
        await a.enter(kept)
        await b.enter(kept)  # cy is connected but never entered the room
        assert (await a.send(code, "public words"))["ok"]
        assert (await a.send(code, "private words", to=bo.username))["ok"]
        assert (await a.send(kept, "kept words"))["ok"]
        (room_id,) = query_db(server, "SELECT id FROM rooms WHERE code = :code", code=code)[0]

        response = ana.delete(f"/api/rooms/{code}")
        assert response.status_code == 204, response.text

        for client in (a, b, c):
            event = await client.wait_for("room:destroyed", lambda e: e["room"] == code)
            assert event["name"] == "Doomed"
        ack = await b.send(code, "anyone there?")
        assert error_code(ack) == "room_not_found"
        for client in (b, c):  # b's node read the room's id when b entered it
            assert error_code(await client.call("room:enter", {"room": code})) == "room_not_found"
        ack = await b.call("typing", {"room": code, "active": True})
        assert error_code(ack) == "room_not_found"
        fence = await barrier(a, kept, a, b)
        for client in (a, b, c):
            assert client.count("room:destroyed") == 1  # once, though in two channels
            assert not client.mentions("anyone there?")

    for user in (ana, bo, cy, eve):
        response = user.get(f"/api/rooms/{code}")
        assert response.status_code == 404, response.text
        assert error_code(response) == "room_not_found"
        response = user.get(f"/api/rooms/{code}/messages")
        assert response.status_code == 404, response.text
        assert code not in {r["code"] for r in user.get("/api/rooms").json()["rooms"]}
    assert bo.join(code).status_code == 404
    assert ana.delete(f"/api/rooms/{code}").status_code == 404
    assert last_seq(bo, kept) == 2
    assert [m["body"] for m in history(bo, kept)["messages"]] == [fence["body"], "kept words"]
    for table in ("messages", "conversations", "memberships", "rooms"):
        column = "id" if table == "rooms" else "room_id"
        rows = query_db(
            server,
            f"SELECT count(*) FROM {table} WHERE {column} = :room_id",  # noqa: S608 - fixed names
            room_id=room_id,
        )
        assert int(rows[0][0]) == 0, table


async def test_destroying_while_people_send_and_join(
    make_user: MakeUser, server: ServerProcess
) -> None:
    """Whatever lands first, every request gets a clean answer and nothing is left behind."""
    ana, bo, cy = make_user(), make_user(), make_user()
    async with online(ana, bo) as (a, b), async_http(ana) as owner, async_http(cy) as joiner:
        for _ in range(4):
            code = room_with(ana, bo)
            (room_id,) = query_db(server, "SELECT id FROM rooms WHERE code = :code", code=code)[0]
            await a.enter(code)
            sends = [c.send(code, f"m{i}") for i in range(15) for c in (a, b)]
            joins = [joiner.post("/api/rooms/join", json={"code": code}) for _ in range(5)]
            destroy = owner.delete(f"/api/rooms/{code}")
            outcome = await asyncio.gather(destroy, *sends, *joins)
            assert outcome[0].status_code == 204, outcome[0].text
            acks, joined = outcome[1:31], outcome[31:]
            for ack in acks:
                assert ack["ok"] or error_code(ack) in ("room_not_found", "not_member"), ack
            for response in joined:
                assert response.status_code in (200, 404), response.text
            for table in ("messages", "memberships"):
                rows = query_db(
                    server,
                    f"SELECT count(*) FROM {table} WHERE room_id = :room_id",  # noqa: S608
                    room_id=room_id,
                )
                assert int(rows[0][0]) == 0, table
