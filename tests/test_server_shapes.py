"""The ``server`` fixture's shapes (tests/conftest.py): on two nodes, the people, sockets and
requests of one test really are spread over both, so the suite does not silently test one."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.conftest import Server
from tests.live_support import online
from tests.support import ServerCluster, User

MakeUser = Callable[..., User]


def node_of(response: httpx.Response) -> str | None:
    assert response.status_code == 200, response.text
    return response.headers.get("x-chinwag-node")


async def test_people_requests_and_sockets_take_the_nodes_in_turn(
    server: Server, make_user: MakeUser
) -> None:
    ana, bo, cy = make_user("Ana"), make_user("Bo"), make_user("Cy")
    people = [node_of(person.get("/api/me")) for person in (ana, bo, cy)]
    async with httpx.AsyncClient(timeout=15) as anonymous:
        requests = [node_of(await anonymous.get(f"{server.url}/healthz")) for _ in range(3)]
    async with online(ana, ana, bo, bo) as sockets:
        assert all(sock.client.connected for sock in sockets)
        places = [sock.url for sock in sockets]
    if not isinstance(server, ServerCluster):
        assert people == requests == [None] * 3  # one process, unnamed
        assert places == [server.url] * 4
        return
    # the shape itself: two named nodes, and every test starts at the first
    a, b = server.urls
    assert [server.node_name(url) for url in (a, b)] == ["node-a", "node-b"]
    assert people == ["node-a", "node-b", "node-a"]
    assert requests == ["node-b", "node-a", "node-b"]
    # each person's first socket on their own node, the next on the other node
    assert places == [a, b, b, a]
