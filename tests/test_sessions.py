"""Handshakes that arrive together have their sessions looked up together
(``chinwag.services.sessions``): each connection still gets its own session's user, an
ended session is still refused, and one session on several connections at once works."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from tests.conftest import Server
from tests.live_support import Client, room_with
from tests.support import User, refused_handshake


async def test_handshakes_arriving_together_each_get_their_own_session(
    server: Server, make_user: Callable[..., User]
) -> None:
    people = [make_user(f"Person {i}") for i in range(8)]
    rooms = [person.create_room(f"Own {i}") for i, person in enumerate(people)]
    shared = room_with(people[0], *people[1:])
    gone = make_user("Gone")
    gone_cookie = gone.session_cookie
    assert gone.delete("/api/session").status_code == 204
    # every person twice (two tabs of one session at once), and an ended session among them
    clients = [Client(p.socket_url(), p.session_cookie) for p in people + people]
    async with contextlib.AsyncExitStack() as stack:
        for client in clients:
            stack.push_async_callback(client.close)
        refusal, *_ = await asyncio.gather(
            refused_handshake(gone.socket_url(), gone_cookie),
            *(client.connect() for client in clients),
        )
        assert refusal["data"]["code"] == "not_authenticated"
        for i, client in enumerate(clients):
            person = people[i % len(people)]
            # only its own person may enter this room, and the message says who sent it
            await client.enter(rooms[i % len(people)])
            ack = await client.send(shared, f"from {i}")
            assert ack["ok"], ack
            assert ack["message"]["sender"]["username"] == person.username
