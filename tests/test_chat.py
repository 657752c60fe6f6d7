"""Public and private chat over real sockets: delivery, history, idempotency, ordering."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.live_support import (
    barrier,
    client_id,
    dm_history,
    error_code,
    history,
    last_seq,
    online,
    room_with,
)
from tests.support import User

MakeUser = Callable[..., User]


async def test_entering_needs_membership(make_user: MakeUser) -> None:
    ana, eve = make_user(), make_user()
    code = ana.create_room()
    async with online(eve) as (e,):
        assert error_code(await e.call("room:enter", {"room": code})) == "not_member"
        for unknown in ["3f1c1b8e-0000-4000-8000-000000000000", "nope"]:
            assert error_code(await e.call("room:enter", {"room": unknown})) == "room_not_found"
        assert error_code(await e.send(code, "let me in")) == "not_member"
    assert last_seq(ana, code) == 0
    assert history(ana, code)["messages"] == []


async def test_a_public_message_reaches_everyone_who_entered(make_user: MakeUser) -> None:
    ana, bo, cy, dee = make_user("Ana Lima"), make_user(), make_user(), make_user()
    code = room_with(ana, bo, cy, dee)
    async with online(ana, bo, cy, dee) as (a, b, c, d):
        for client in (a, b, c):
            await client.enter(code)  # dee is a connected member who did not enter
        sent_at = datetime.now(UTC)
        ack = await a.send(code, "  hello\n\tall  ", client_id="c-1")
        acked_at = datetime.now(UTC)
        assert ack["ok"] is True and ack["duplicate"] is False, ack
        message = ack["message"]
        assert message["room"] == code
        assert message["body"] == "hello\n\tall"
        assert message["to"] is None and message["client_id"] == "c-1"
        assert message["sender"] == {
            "username": ana.username,
            "full_name": "Ana Lima",
            "avatar_url": None,
        }
        assert isinstance(message["id"], int) and message["seq"] == 1
        stamped = datetime.fromisoformat(message["created_at"])
        assert stamped.utcoffset() == timedelta(0)
        assert sent_at - timedelta(seconds=1) <= stamped <= acked_at + timedelta(seconds=1)

        for client in (a, b, c):
            assert await client.wait_for("message", lambda m: m["id"] == message["id"]) == message
        await barrier(b, code, a, b, c)
        assert not d.mentions("hello")
        for client in (a, b, c):
            assert client.count("message", lambda m: m["id"] == message["id"]) == 1
    assert history(cy, code)["messages"][-1] == message


async def test_the_client_cannot_stamp_sender_or_time(make_user: MakeUser) -> None:
    ana, bo = make_user(), make_user()
    code = room_with(ana, bo)
    async with online(ana) as (a,):
        await a.enter(code)
        base = {"room": code, "body": "forged", "client_id": client_id()}
        forged: list[dict[str, object]] = [
            {**base, "sender": {"username": bo.username}},
            {**base, "sender": bo.username},
            {**base, "created_at": "2000-01-01T00:00:00Z"},
            {**base, "seq": 1},
            {**base, "id": 7},
        ]
        for payload in forged:
            ack = await a.call("message:send", payload)
            assert error_code(ack) == "invalid_input", payload
    assert last_seq(ana, code) == 0


async def test_seq_grows_and_history_pages_both_ways(make_user: MakeUser) -> None:
    ana, bo = make_user(), make_user()
    code = room_with(ana, bo)
    async with online(ana, bo) as (a, b):
        await a.enter(code)
        await b.enter(code)
        acks = await asyncio.gather(*(a.send(code, f"m{i}") for i in range(55)))
        assert (await a.send(code, "psst", to=bo.username))["ok"]  # not in public history
        assert (await b.send(code, "m55"))["ok"]
    seqs = [ack["message"]["seq"] for ack in acks]
    assert seqs == sorted(seqs) and len(set(seqs)) == 55
    bodies = [f"m{i}" for i in range(56)]

    page = history(bo, code)
    assert len(page["messages"]) == 50 and page["has_more"] is True
    assert [m["body"] for m in page["messages"]] == bodies[::-1][:50]
    newest_first = [m["seq"] for m in page["messages"]]
    assert newest_first == sorted(newest_first, reverse=True)

    older = history(bo, code, before=newest_first[-1])
    assert [m["body"] for m in older["messages"]] == bodies[5::-1]
    assert older["has_more"] is False
    some = history(bo, code, before=newest_first[-1], limit=3)
    assert [m["body"] for m in some["messages"]] == ["m5", "m4", "m3"] and some["has_more"]

    after = history(bo, code, after=seqs[49], limit=4)
    assert [m["body"] for m in after["messages"]] == ["m50", "m51", "m52", "m53"]
    assert after["has_more"] is True
    rest = history(bo, code, after=seqs[53])
    assert [m["body"] for m in rest["messages"]] == ["m54", "m55"] and not rest["has_more"]
    assert history(bo, code, after=seqs[0] - 1, limit=200)["has_more"] is False
    everything = history(bo, code, limit=200)
    assert [m["body"] for m in everything["messages"]] == bodies[::-1]
    assert everything["has_more"] is False
    assert history(bo, code, limit=56)["has_more"] is False
    assert history(bo, code, limit=55)["has_more"] is True
    assert history(bo, code, after=last_seq(bo, code))["messages"] == []


def test_history_paging_parameters_are_checked(make_user: MakeUser) -> None:
    ana = make_user()
    code = ana.create_room()
    assert ana.get(f"/api/rooms/{code}/messages", params={"limit": 200}).status_code == 200
    for params in [
        {"limit": 201},
        {"limit": 0},
        {"limit": -1},
        {"limit": "ten"},
        {"limit": 1.5},
        {"before": "x"},
        {"before": 0},
        {"after": -1},
        {"before": 5, "after": 1},
    ]:
        response = ana.get(f"/api/rooms/{code}/messages", params=params)
        assert response.status_code == 422, (params, response.text)
        assert error_code(response) == "invalid_input"
        response = ana.get(f"/api/rooms/{code}/dms/{ana.username}/messages", params=params)
        assert response.status_code == 422, (params, response.text)


async def test_the_same_client_id_twice_is_one_message(make_user: MakeUser) -> None:
    ana, bo = make_user(), make_user()
    code = room_with(ana, bo)
    async with online(ana, bo) as (a, b):
        await a.enter(code)
        await b.enter(code)
        first = await a.send(code, "only once", client_id="retry-1")
        again = await a.send(code, "only once", client_id="retry-1")
        assert first["ok"] and again["ok"]
        assert first["duplicate"] is False and again["duplicate"] is True
        assert again["message"] == first["message"]
        await barrier(a, code, b)
        assert b.count("message", lambda m: m["client_id"] == "retry-1") == 1
        assert a.count("message", lambda m: m["client_id"] == "retry-1") == 1
        # another sender may use the same client_id: it is theirs
        mine = await b.send(code, "mine", client_id="retry-1")
        assert mine["duplicate"] is False and mine["message"]["id"] != first["message"]["id"]
    bodies = [m["body"] for m in history(bo, code)["messages"]]
    assert bodies.count("only once") == 1


async def test_concurrent_sends_with_one_client_id_store_one_message(make_user: MakeUser) -> None:
    ana, bo = make_user(), make_user()
    code = room_with(ana, bo)
    async with online(ana, ana, bo) as (tab1, tab2, b):
        for client in (tab1, tab2, b):
            await client.enter(code)
        for round_ in range(5):
            cid = f"race-{round_}"
            acks = await asyncio.gather(
                tab1.send(code, f"race {round_}", client_id=cid),
                tab2.send(code, f"race {round_}", client_id=cid),
            )
            assert all(ack["ok"] for ack in acks), acks
            assert acks[0]["message"] == acks[1]["message"]
            assert sorted(ack["duplicate"] for ack in acks) == [False, True]
        await barrier(tab1, code, b)
        for round_ in range(5):
            assert b.count("message", lambda m, r=round_: m["client_id"] == f"race-{r}") == 1
    page = history(bo, code)["messages"]
    assert [m["seq"] for m in page] == list(range(6, 0, -1))  # no gap from a lost race


async def test_one_client_s_burst_is_stored_in_send_order(make_user: MakeUser) -> None:
    ana, bo = make_user(), make_user()
    code = room_with(ana, bo)
    async with online(ana, bo) as (a, b):
        await a.enter(code)
        await b.enter(code)
        # fire 30 sends without awaiting any ack in between
        acks = await asyncio.gather(*(a.send(code, f"n{i}") for i in range(30)))
        assert all(ack["ok"] for ack in acks), acks
        assert [ack["message"]["body"] for ack in acks] == [f"n{i}" for i in range(30)]
        seqs = [ack["message"]["seq"] for ack in acks]
        assert seqs == list(range(1, 31))
        await b.wait_for("message", lambda m: m["body"] == "n29")
        assert [m["body"] for m in b.received("message")] == [f"n{i}" for i in range(30)]
    stored = history(bo, code, after=0)["messages"]
    assert [m["body"] for m in stored] == [f"n{i}" for i in range(30)]


async def test_concurrent_senders_get_distinct_contiguous_seqs(make_user: MakeUser) -> None:
    users = [make_user() for _ in range(4)]
    code = room_with(*users)
    async with online(*users) as clients:
        for client in clients:
            await client.enter(code)

        async def burst(index: int) -> list[dict[str, Any]]:
            client = clients[index]
            acks = await asyncio.gather(*(client.send(code, f"{index}:{i}") for i in range(10)))
            return [ack["message"] for ack in acks]

        sent = await asyncio.gather(*(burst(i) for i in range(4)))
        seqs = sorted(m["seq"] for messages in sent for m in messages)
        assert seqs == list(range(1, 41))
        for index, messages in enumerate(sent):  # each sender's own order holds
            assert [m["body"] for m in messages] == [f"{index}:{i}" for i in range(10)]
            own = [m["seq"] for m in messages]
            assert own == sorted(own)
        watcher = clients[0]
        await watcher.wait_count("message", 40)
        assert sorted(m["seq"] for m in watcher.received("message")) == seqs
    assert last_seq(users[0], code) == 40


async def test_a_private_message_reaches_only_the_two(make_user: MakeUser) -> None:
    ana, bo, cy = make_user(), make_user(), make_user()
    code = room_with(ana, bo, cy)
    async with online(ana, bo, cy, ana) as (a, b, c, a_other_tab):
        for client in (a, b, c):
            await client.enter(code)
        ack = await a.send(code, "just between us", to=bo.username)
        assert ack["ok"], ack
        message = ack["message"]
        assert message["to"] == bo.username and message["sender"]["username"] == ana.username
        assert await b.wait_for("message", lambda m: m["id"] == message["id"]) == message
        await a_other_tab.wait_for("message", lambda m: m["id"] == message["id"])
        reply = await b.send(code, "sure", to=ana.username.upper())  # names ignore case
        assert reply["ok"] and reply["message"]["to"] == ana.username
        await a.wait_for("message", lambda m: m["id"] == reply["message"]["id"])
        await barrier(a, code, a, b, c)
        assert not c.mentions("just between us") and not c.mentions("sure")

    for me, other in ((ana, bo), (bo, ana)):
        page = dm_history(me, code, other.username)
        assert [m["body"] for m in page["messages"]] == ["sure", "just between us"]
        assert page["messages"][1] == message
    for other in (ana, bo):
        assert dm_history(cy, code, other.username) == {"messages": [], "has_more": False}
    public = [m["body"] for m in history(cy, code)["messages"]]
    assert "just between us" not in public and "sure" not in public
    response = ana.get(f"/api/rooms/{code}/dms/nobody-here/messages")
    assert response.status_code == 404 and error_code(response) == "user_not_found"


async def test_a_private_message_needs_a_member_recipient(make_user: MakeUser) -> None:
    ana, bo, outsider = make_user(), make_user(), make_user()
    code = room_with(ana, bo)
    outsider.create_room()
    async with online(ana, bo) as (a, b):
        await a.enter(code)
        await b.enter(code)
        for to in (outsider.username, "no-such-user"):
            ack = await a.send(code, "hello?", to=to)
            assert error_code(ack) == "recipient_not_member", ack
        assert error_code(await a.send(code, "me, myself", to=ana.username)) == "invalid_recipient"
        ack = await a.send(code, "spaces", to="not a name")
        assert error_code(ack) == "invalid_input"
        await barrier(a, code, b)
        assert not b.mentions("hello?") and not b.mentions("me, myself")
    assert last_seq(ana, code) == 1  # only the barrier
    assert dm_history(ana, code, outsider.username)["messages"] == []
    assert dm_history(ana, code, ana.username)["messages"] == []


async def test_each_conversation_counts_its_own_positions(make_user: MakeUser) -> None:
    """Private messages leave no trace in the room's positions: the public chat counts
    1, 2, 3 with no gaps, and each private conversation counts on its own."""
    ana, bo, cy = make_user(), make_user(), make_user()
    code = room_with(ana, bo, cy)
    async with online(ana, bo, cy) as (a, b, c):
        for client in (a, b, c):
            await client.enter(code)
        sent = [
            await a.send(code, "public one"),
            await a.send(code, "to bo 1", to=bo.username),
            await b.send(code, "to ana 2", to=ana.username),
            await a.send(code, "to cy 1", to=cy.username),
            await c.send(code, "public two"),
            await b.send(code, "to ana 3", to=ana.username),
            await b.send(code, "public three"),
        ]
        assert all(ack["ok"] for ack in sent), sent
        seqs = {ack["message"]["body"]: ack["message"]["seq"] for ack in sent}
    assert [seqs["public one"], seqs["public two"], seqs["public three"]] == [1, 2, 3]
    assert [seqs["to bo 1"], seqs["to ana 2"], seqs["to ana 3"]] == [1, 2, 3]
    assert seqs["to cy 1"] == 1
    assert last_seq(cy, code) == 3  # nothing about the private traffic shows
    assert [m["seq"] for m in history(cy, code)["messages"]] == [3, 2, 1]
    assert [m["seq"] for m in dm_history(bo, code, ana.username, after=1)["messages"]] == [2, 3]

    def conversations(user: User) -> dict[str, int]:
        response = user.get(f"/api/rooms/{code}/dms")
        assert response.status_code == 200, response.text
        listed = response.json()["conversations"]
        return {c["user"]["username"]: c["last_seq"] for c in listed}

    assert conversations(ana) == {bo.username: 3, cy.username: 1}
    assert conversations(bo) == {ana.username: 3}
    assert conversations(cy) == {ana.username: 1}
    outsider = make_user()
    response = outsider.get(f"/api/rooms/{code}/dms")
    assert response.status_code == 403 and error_code(response) == "not_member"


async def test_concurrent_private_senders_get_contiguous_positions(make_user: MakeUser) -> None:
    ana, bo = make_user(), make_user()
    code = room_with(ana, bo)
    async with online(ana, bo) as (a, b):
        for client in (a, b):
            await client.enter(code)
        # the conversation does not exist yet: both first sends race to create it
        acks = await asyncio.gather(
            *(a.send(code, f"a{i}", to=bo.username) for i in range(10)),
            *(b.send(code, f"b{i}", to=ana.username) for i in range(10)),
        )
    assert all(ack["ok"] for ack in acks), acks
    assert sorted(ack["message"]["seq"] for ack in acks) == list(range(1, 21))
    assert last_seq(ana, code) == 0
