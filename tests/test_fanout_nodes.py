"""Two real nodes on one PostgreSQL database and one Redis behave, to their clients, like one:
events cross nodes once, and every revocation reaches every node.

Ana and Cy connect to node 1, Bo to node 2 (and to node 1 where a test needs a user on both).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator

import pytest
import redis

from chinwag.events import ResyncEvent
from chinwag.realtime import envelopes
from chinwag.services.accounts import session_id_of
from chinwag.services.realtime import Audience, MemberRevoked, Revocation, RoomGone, SessionEnded
from tests.conftest import SERVER_ENV
from tests.live_support import barrier, came, error_code, history, online_at, room_with, went
from tests.node_support import SHARED_REDIS, CuttableLink, nodes_on, own_redis
from tests.support import PASSWORD, ServerProcess, User, unique_name

HOLD_LEASE = 2.0
NODE_ENV = {**SERVER_ENV, "CHINWAG_HOLD_LEASE_SECONDS": str(HOLD_LEASE)}
Nodes = list[ServerProcess]
People = tuple[User, User, User]


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    with nodes_on(tmp_path_factory.mktemp("fanout"), NODE_ENV, 2) as servers:
        yield servers


def person(node: ServerProcess, full_name: str) -> User:
    user = User(node.url, unique_name(), full_name, PASSWORD)
    assert user.sign_up().status_code == 201
    return user


@pytest.fixture
def people(nodes: Nodes) -> Iterator[People]:
    """Ana and Cy signed up on node 1, Bo on node 2."""
    one, two = nodes
    made = (person(one, "Ana"), person(two, "Bo"), person(one, "Cy"))
    yield made
    for user in made:
        user.close()


async def test_public_and_private_messages_cross_nodes_once(nodes: Nodes, people: People) -> None:
    one, two = nodes
    ana, bo, cy = people
    code = room_with(ana, bo, cy)
    async with online_at([(ana, one.url), (bo, two.url), (cy, one.url)]) as (a, b, c):
        for sock in (a, b, c):
            await sock.enter(code)
        sent = await a.send(code, "hello from node 1")
        assert sent["ok"], sent
        await b.wait_for("message", lambda m: m["id"] == sent["message"]["id"])
        private = await b.send(code, "just for Ana", to=ana.username)
        assert private["ok"], private
        await a.wait_for("message", lambda m: m["id"] == private["message"]["id"])
        await barrier(a, code, b, c)
        # once each, and the private one never to Cy (on Ana's node)
        assert a.count("message", lambda m: m["id"] == private["message"]["id"]) == 1
        assert b.count("message", lambda m: m["id"] == sent["message"]["id"]) == 1
        assert not c.mentions("just for Ana")


async def test_typing_and_presence_cross_nodes(nodes: Nodes, people: People) -> None:
    one, two = nodes
    ana, bo, _ = people
    code = room_with(ana, bo)
    async with online_at([(ana, one.url)]) as (a,):
        await a.enter(code)
        async with online_at([(bo, two.url)]) as (b,):
            await b.enter(code)
            await a.wait_for("presence", came(bo.username))
            assert (await b.call("typing", {"room": code, "active": True}))["ok"]
            typing = await a.wait_for("typing", lambda t: t["user"]["username"] == bo.username)
            assert typing["active"] is True and typing["to"] is None
        await a.wait_for("presence", went(bo.username))


async def test_a_profile_change_on_one_node_shows_on_the_other(
    nodes: Nodes, people: People
) -> None:
    one, two = nodes
    ana, bo, _ = people
    code = room_with(ana, bo)
    async with online_at([(ana, one.url), (bo, one.url)]) as (a, b_on_one):
        for sock in (a, b_on_one):
            await sock.enter(code)
        renamed = User(two.url, bo.username, bo.full_name, PASSWORD)
        try:
            assert renamed.log_in().status_code == 200
            assert renamed.patch("/api/me", json={"full_name": "Bo Renamed"}).status_code == 200
        finally:
            renamed.close()
        await a.wait_for("user:updated", lambda e: e["user"]["full_name"] == "Bo Renamed")
        # node 1's copy of Bo is fresh: what Bo sends there carries the new name
        sent = await b_on_one.send(code, "my new name")
        assert sent["ok"] and sent["message"]["sender"]["full_name"] == "Bo Renamed", sent


async def test_a_leave_on_one_node_ends_delivery_on_the_other(nodes: Nodes, people: People) -> None:
    one, two = nodes
    ana, bo, cy = people
    code = room_with(ana, bo, cy)
    bo_on_one = User(one.url, bo.username, bo.full_name, PASSWORD)
    try:
        assert bo_on_one.log_in().status_code == 200
        async with online_at([(ana, one.url), (bo, two.url), (cy, two.url)]) as (a, b, c):
            for sock in (a, b, c):
                await sock.enter(code)
            assert bo_on_one.post(f"/api/rooms/{code}/leave").status_code == 204
            await b.wait_for("room:left", lambda e: e["room"] == code)
            await a.send(code, "after Bo left")
            await a.send(code, f"private {ana.username}", to=cy.username)
            await barrier(a, code, c)
            assert not b.mentions("after Bo left")
            refused = await b.call("room:enter", {"room": code})
            assert error_code(refused) == "not_member"
    finally:
        bo_on_one.close()


async def test_a_destroyed_room_goes_quiet_on_every_node(nodes: Nodes, people: People) -> None:
    one, two = nodes
    ana, bo, cy = people
    code = room_with(ana, bo)
    other = room_with(ana, bo, cy, name="Other")
    async with online_at([(ana, one.url), (bo, two.url), (cy, two.url)]) as (a, b, c):
        for sock in (a, b):
            await sock.enter(code)
            await sock.enter(other)
        await c.enter(other)
        assert ana.delete(f"/api/rooms/{code}").status_code == 204
        await b.wait_for("room:destroyed", lambda e: e["room"] == code)
        refused = await b.send(code, "into the void")
        assert error_code(refused) in {"room_not_found", "not_found"}, refused
        await barrier(a, other, b, c)
        assert b.count("message", lambda m: m["room"] == code) == 0


async def test_log_out_and_password_change_close_sockets_on_every_node(
    nodes: Nodes, people: People
) -> None:
    one, two = nodes
    ana, bo, _ = people
    code = room_with(ana, bo)
    async with online_at([(ana, one.url), (bo, one.url), (bo, two.url)]) as (a, b1, b2):
        for sock in (a, b1, b2):
            await sock.enter(code)
        assert bo.delete("/api/session").status_code == 204  # through node 2
        await asyncio.gather(b1.wait_closed(), b2.wait_closed())
        await a.send(code, "after the log-out")
        assert not b1.mentions("after the log-out") and not b2.mentions("after the log-out")

    assert bo.log_in().status_code == 200
    other_tab = User(one.url, bo.username, bo.full_name, PASSWORD)
    try:
        assert other_tab.log_in().status_code == 200
        async with online_at([(bo, two.url), (other_tab, one.url)]) as (kept, ended):
            change = {"current_password": PASSWORD, "new_password": f"{PASSWORD} changed"}
            assert bo.put("/api/me/password", json=change).status_code == 204
            await ended.wait_closed()
            # the session that changed it goes on, on its own node
            assert (await kept.call("room:enter", {"room": code}))["ok"]
    finally:
        other_tab.close()


def inject_hold(server: ServerProcess, session_id: str) -> None:
    """What a node that dies between hold and commit leaves behind: a published hold."""
    prefix = server.env["CHINWAG_REDIS_PREFIX"]
    hold_id = secrets.token_hex(12)
    message = envelopes.encode(
        envelopes.Envelope(
            envelopes.HOLD,
            "a-node-that-died",
            hold_id=hold_id,
            revocations=(SessionEnded(session_id),),
        )
    )
    client = redis.Redis.from_url(SHARED_REDIS)
    try:
        client.publish(f"{prefix}:fanout", message)
    finally:
        client.close()


def session_id(user: User) -> str:
    return session_id_of(user.session_cookie)


async def test_a_hold_whose_node_died_is_settled_by_the_database(
    nodes: Nodes, people: People
) -> None:
    """Held, nothing reaches the session; after the lease, the database says it was not
    ended (delivery resumes) or was (its sockets close)."""
    one, two = nodes
    ana, bo, _ = people
    code = room_with(ana, bo)
    async with online_at([(ana, one.url), (bo, two.url)]) as (a, b):
        for sock in (a, b):
            await sock.enter(code)
        inject_hold(one, session_id(bo))
        # while held: Bo's socket hears nothing (Ana's own copy proves the message went out)
        await barrier(a, code, a)
        held = await a.send(code, "while held")
        await a.wait_for("message", lambda m: m["id"] == held["message"]["id"])
        # the session is still in the database: after the lease Bo hears the room again
        deadline = asyncio.get_running_loop().time() + HOLD_LEASE * 10
        while True:
            sent = await a.send(code, "back")
            assert sent["ok"], sent
            try:
                await b.wait_for(
                    "message", lambda m, id_=sent["message"]["id"]: m["id"] == id_, 0.5
                )
                break
            except AssertionError:
                assert asyncio.get_running_loop().time() < deadline, "the hold never lapsed"
        assert not b.mentions("while held")

        # now a hold whose revocation did commit: the session row is gone
        inject_hold(one, session_id(bo))
        assert bo.delete("/api/session").status_code == 204
        await b.wait_closed(timeout=HOLD_LEASE * 10)


async def test_a_redis_restart_loses_no_stored_message_and_clients_resync(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with own_redis() as store:
        tmp = tmp_path_factory.mktemp("redis-restart")
        with nodes_on(tmp, NODE_ENV, 2, redis_url=store.url) as (one, two):
            ana, bo = person(one, "Ana"), person(two, "Bo")
            try:
                code = room_with(ana, bo)
                async with online_at([(ana, one.url), (bo, two.url)]) as (a, b):
                    for sock in (a, b):
                        await sock.enter(code)
                    await barrier(a, code, b)
                    store.stop()
                    during = await a.send(code, "while Redis is away")
                    assert during["ok"], during  # stored and acked
                    # a revocation the other node cannot hear of is refused, nothing changed
                    refused = bo.delete("/api/session")
                    assert refused.status_code == 503, refused.text
                    assert error_code(refused) == "backend_unavailable"
                    store.start()
                    resyncs = await asyncio.gather(a.wait_for("resync"), b.wait_for("resync"))
                    for data in resyncs:
                        assert ResyncEvent.model_validate(data).wire() == ("resync", data)
                    # what was missed is in the history, and live delivery is back
                    bodies = [m["body"] for m in history(bo, code)["messages"]]
                    assert "while Redis is away" in bodies
                    await barrier(b, code, a)  # Bo's session and socket live on
                    await barrier(a, code, b)
            finally:
                ana.close()
                bo.close()


async def test_a_node_that_lost_the_fan_out_checks_its_connections_when_it_rejoins(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Node 2 alone loses Redis; Bo logs out through node 1 meanwhile (node 2 cannot hear
    it). When node 2 is back, it finds the ended session in the database and closes Bo's
    socket there, having delivered nothing to it, and tells its other clients to resync."""
    with own_redis() as store, CuttableLink(store.port) as link:
        tmp = tmp_path_factory.mktemp("node-gap")
        with nodes_on(tmp, NODE_ENV, 2, store.url, reach_redis_at={2: link.url}) as (one, two):
            ana, bo, cy = person(one, "Ana"), person(one, "Bo"), person(one, "Cy")
            try:
                code = room_with(ana, bo, cy)
                places = [(ana, one.url), (bo, two.url), (cy, two.url)]
                async with online_at(places) as (a, b, c):
                    for sock in (a, b, c):
                        await sock.enter(code)
                    await barrier(a, code, b, c)
                    link.cut()
                    assert bo.delete("/api/session").status_code == 204  # through node 1
                    sent = await a.send(code, "after Bo left, while node 2 was away")
                    assert sent["ok"], sent
                    link.mend()
                    await b.wait_closed()
                    await c.wait_for("resync")
                    await barrier(a, code, c)
                    assert not b.mentions("while node 2 was away")
            finally:
                for user in (ana, bo, cy):
                    user.close()


def test_events_carry_one_encoding_for_every_node() -> None:
    """An event's envelope keeps its Socket.IO packet as it was encoded, byte for byte."""
    packet = b'2["message",{"body":"caf\\u00e9 \\n line"}]'
    envelope = envelopes.Envelope(envelopes.EVENT, "n1", body=packet)
    decoded = envelopes.decode(envelopes.encode(envelope))
    assert decoded.body == packet and json.loads(packet[1:])[1]["body"] == "café \n line"


@pytest.mark.parametrize(
    "revocations",
    [
        (MemberRevoked(7, 3, 41),),
        (RoomGone(3),),
        (SessionEnded("s" * 43), SessionEnded("t" * 43)),
    ],
)
def test_revocation_intents_read_back_as_they_were_sent(
    revocations: tuple[Revocation, ...],
) -> None:
    for kind, applied in ((envelopes.HOLD, False), (envelopes.END, True), (envelopes.END, False)):
        sent = envelopes.Envelope(
            kind, "n1", hold_id="h1", revocations=revocations, applied=applied
        )
        assert envelopes.decode(envelopes.encode(sent)) == sent


def test_an_events_audiences_read_back_as_they_were_sent() -> None:
    audiences = (Audience.room_subscribers(3), Audience.members(3, [7, 9], 12), Audience.own(4))
    sent = envelopes.Envelope(envelopes.EVENT, "n1", audiences, body=b'2["typing",{}]')
    assert envelopes.decode(envelopes.encode(sent)) == sent
