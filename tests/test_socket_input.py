"""Hostile socket input: every bad payload is refused, nothing is stored, the server and
everyone else carry on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.live_support import (
    DROPPED,
    barrier,
    client_id,
    dm_history,
    error_code,
    history,
    last_seq,
    online,
    presence_fence,
    room_with,
    went,
)
from tests.support import ServerProcess, User

MakeUser = Callable[..., User]


async def test_bad_bodies_are_invalid_input(make_user: MakeUser) -> None:
    ana, bo = make_user(), make_user()
    code = room_with(ana, bo)
    async with online(ana, bo) as (a, b):
        await a.enter(code)
        await b.enter(code)
        assert (await a.send(code, "x" * 4000))["ok"]
        for body in ["x" * 4001, "", " \n\t ", "\ud800 lone surrogate", "bell \x07", "\u202e"]:
            ack = await a.send(code, body)
            assert error_code(ack) == "invalid_input", (body[:20], ack)
        await barrier(a, code, b)
        assert b.count("message") == 2  # the 4000-character one and the barrier
    assert last_seq(ana, code) == 2


async def test_malformed_payloads_are_refused(make_user: MakeUser) -> None:
    ana = make_user()
    code = ana.create_room()
    async with online(ana) as (a,):
        await a.enter(code)
        good = {"room": code, "body": "hi", "client_id": client_id()}
        payloads: list[Any] = [
            "just a string",
            ["a", "list"],
            42,
            None,
            {},
            {"room": code, "body": "hi"},  # no client_id
            {"room": code, "client_id": client_id()},  # no body
            {"body": "hi", "client_id": client_id()},  # no room
            {**good, "extra": 1},
            {**good, "body": 12},
            {**good, "body": ["hi"]},
            {**good, "room": 5},
            {**good, "client_id": 7},
            {**good, "client_id": "has spaces"},
            {**good, "client_id": "x" * 65},
            {**good, "to": 3},
            {**good, "room": "r" * 65},
        ]
        for payload in payloads:
            ack = await a.call("message:send", payload)
            assert error_code(ack) == "invalid_input", (payload, ack)
        # no payload at all, or several arguments
        assert error_code(await a.client.call("message:send", timeout=10)) == "invalid_input"
        ack = await a.client.call("message:send", (good, good), timeout=10)
        assert error_code(ack) == "invalid_input"
        for event, payload in [
            ("room:enter", {"room": code, "extra": True}),
            ("room:enter", {"code": code}),
            ("typing", {"room": code, "active": "maybe"}),
            ("typing", {"room": code, "active": [True]}),
            ("typing", {"room": code}),
            ("typing", {"room": code, "active": True, "user": ana.username}),
            ("users:search", {"room": code, "q": "q" * 65}),
            ("users:search", {"room": code, "online": "maybe"}),
        ]:
            ack = await a.call(event, payload)
            assert error_code(ack) == "invalid_input", (event, payload, ack)
        assert (await a.send(code, "still fine"))["ok"]
    assert [m["body"] for m in history(ana, code)["messages"]] == ["still fine"]


async def test_unknown_events_are_answered(make_user: MakeUser) -> None:
    ana = make_user()
    async with online(ana) as (a,):
        for event in ["nope", "message", "room:destroy", "MESSAGE:SEND"]:
            ack = await a.call(event, {"room": "x"})
            assert error_code(ack) == "unknown_event", (event, ack)
        assert a.client.connected


async def test_a_client_cannot_fake_its_own_disconnect(make_user: MakeUser) -> None:
    """``connect`` and ``disconnect`` are the server's own events: a client that emits them
    must not drop its presence (or re-run the handshake) while it stays connected."""
    ana, bo, cy = make_user(), make_user(), make_user()
    code = room_with(ana, bo, cy)
    async with online(ana, bo, cy) as (a, b, c):
        await a.enter(code)
        await b.enter(code)
        for event, payload in [
            ("disconnect", "client namespace disconnect"),
            ("disconnect", {}),
            ("connect", {"HTTP_COOKIE": f"chinwag_session={bo.session_cookie}"}),
        ]:
            ack = await b.emit_or_drop(event, payload)
            assert ack != DROPPED and error_code(ack) == "unknown_event", (event, ack)
        await barrier(b, code, a)
        await presence_fence(c, cy, code, a)
        assert not a.received("presence", went())
        members = ana.get(f"/api/rooms/{code}/users", params={"online": "true"}).json()
        assert bo.username in [m["username"] for m in members["users"]]
        fresh = await b.send(code, "still me")
        assert fresh["message"]["sender"]["username"] == bo.username
    # a real disconnect still counts, whether his coming was announced before it or not:
    # the fence (someone never online here before) proves it was on one node; on two it
    # is the other node's, whose count has bo in it, and his coming and going may fall in
    # one batch of his node, which tells him offline
    dee = make_user()
    assert dee.join(code).status_code == 200
    async with online(ana, bo, dee) as (a, b, d):
        await a.enter(code)
        await b.enter(code)
        await presence_fence(d, dee, code, a)
        await b.close()
        offline = await a.wait_for("presence", went(bo.username))
        assert bo.username in offline["offline"]


async def test_a_message_to_a_foreign_room_is_not_stored(make_user: MakeUser) -> None:
    ana, eve = make_user(), make_user()
    code = ana.create_room()
    eve.create_room()
    async with online(ana, eve) as (a, e):
        await a.enter(code)
        assert error_code(await e.send(code, "intrusion")) == "not_member"
        assert error_code(await e.send(code, "intrusion", to=ana.username)) == "not_member"
        assert error_code(await e.call("typing", {"room": code, "active": True})) == "not_member"
        ack = await e.call("users:search", {"room": code, "q": ""})
        assert error_code(ack) == "not_member"
        await barrier(a, code, a)
        assert not a.mentions("intrusion") and a.count("typing") == 0
    assert last_seq(ana, code) == 1
    assert dm_history(ana, code, eve.username)["messages"] == []


@pytest.mark.parametrize("size", [300 * 1024, 10 * 1024 * 1024], ids=["300KB", "10MB"])
async def test_an_oversized_packet_is_refused_at_the_transport(
    make_user: MakeUser, server: ServerProcess, size: int
) -> None:
    ana, bo = make_user(), make_user()
    code = room_with(ana, bo)
    async with online(ana, bo) as (a, b):
        await a.enter(code)
        await b.enter(code)
        payload = {"room": code, "body": "y" * size, "client_id": client_id()}
        ack = await a.emit_or_drop("message:send", payload)
        if ack != DROPPED:  # answered rather than dropped: then it must be a refusal
            assert error_code(ack) == "invalid_input"
        else:
            assert not a.client.connected
        # the server is up and everyone else carries on
        assert bo.get("/healthz").status_code == 200
        assert (await b.send(code, "still here"))["ok"]
        await b.wait_for("message", lambda m: m["body"] == "still here")
        assert not b.mentions("yyyyyyyy")
    assert [m["body"] for m in history(bo, code)["messages"]] == ["still here"]
    assert last_seq(bo, code) == 1
    async with online(ana) as (again,):  # and the sender may come back
        await again.enter(code)
