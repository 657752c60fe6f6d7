"""Helpers for the room, chat and live tests: sockets that record every event, barriers
that prove earlier events were delivered, and a look at the database's own rows."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from tests.support import ServerProcess, Socket, User

DROPPED = "<connection closed by the server>"


class Client(Socket):
    """A Socket that also records events the base class does not name (catch-all)."""

    def __init__(
        self, url: str, cookie: str | None, *, origin: str | None = None, http_session: Any = None
    ) -> None:
        super().__init__(url, cookie, origin=origin, http_session=http_session)
        self.client.on("*", self._any)

    async def _any(self, event: str, *args: Any) -> None:
        self.events.append((event, args[0] if len(args) == 1 else list(args)))
        self._changed.set()

    def count(self, event: str, predicate: Callable[[Any], bool] = lambda _: True) -> int:
        return len(self.received(event, predicate))

    async def wait_count(
        self, event: str, n: int, predicate: Callable[[Any], bool] = lambda _: True
    ) -> list[Any]:
        """Wait until at least ``n`` matching events arrived; returns them all."""
        await self.wait_for(event, lambda _: self.count(event, predicate) >= n)
        return self.received(event, predicate)

    def mentions(self, text: str) -> bool:
        """Whether any event received so far carries ``text`` anywhere in its payload."""
        return any(text in json.dumps(data) for _, data in self.events)

    async def wait_closed(self, timeout: float = 15) -> None:
        await asyncio.wait_for(self.disconnected.wait(), timeout)

    async def emit_or_drop(self, event: str, data: Any, timeout: float = 15) -> Any:
        """Emit with an ack; return the ack's data (None for an empty ack), or DROPPED if
        the server closed the connection instead of answering."""
        answered: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def on_ack(*args: Any) -> None:
            if not answered.done():
                answered.set_result(args[0] if args else None)

        await self.client.emit(event, data, callback=on_ack)
        closed = asyncio.ensure_future(self.disconnected.wait())
        done, _ = await asyncio.wait(
            {answered, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        closed.cancel()
        assert done, f"neither an ack nor a disconnect for {event!r}"
        return answered.result() if answered in done else DROPPED


def online(*users: User) -> contextlib.AbstractAsyncContextManager[list[Client]]:
    """One connected socket per user (a user given twice gets two tabs), each on the user's
    next node (``User.socket_url``): on several nodes, two tabs of one user are on two."""
    return online_at([(user, user.socket_url()) for user in users])


@contextlib.asynccontextmanager
async def online_at(places: list[tuple[User, str]]) -> AsyncIterator[list[Client]]:
    """One connected socket per (user, server URL): a user's session on several nodes."""
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for user, url in places:
            client = Client(url, user.session_cookie)
            await client.connect()
            stack.push_async_callback(client.close)
            clients.append(client)
        yield clients


def async_http(user: User) -> httpx.AsyncClient:
    """An async HTTP client with ``user``'s session and CSRF token, for concurrent requests."""
    return httpx.AsyncClient(
        base_url=user.base_url, cookies=user.http.cookies, headers=user.headers(), timeout=30
    )


def room_with(owner: User, *members: User, name: str = "Room") -> str:
    """A room owned by ``owner`` that every one of ``members`` has joined."""
    code = owner.create_room(name)
    for member in members:
        response = member.join(code)
        assert response.status_code == 200, response.text
    return code


def client_id() -> str:
    return uuid.uuid4().hex


async def barrier(sender: Client, code: str, *receivers: Client) -> dict[str, Any]:
    """A public message every receiver waits for. Events reach a connection in the order
    the server emitted them, so whatever was emitted to a receiver before this message
    has been delivered once it arrives."""
    ack = await sender.send(code, f"barrier {uuid.uuid4().hex}")
    assert ack["ok"], ack
    for receiver in receivers:
        await receiver.wait_for("message", lambda m: m["id"] == ack["message"]["id"])
    return dict(ack["message"])


def error_code(response_or_ack: Any) -> str:
    """The error code of an HTTP response or of a socket ack."""
    if isinstance(response_or_ack, dict):
        assert response_or_ack["ok"] is False, response_or_ack
        return str(response_or_ack["error"]["code"])
    return str(response_or_ack.json()["error"]["code"])


def history(user: User, code: str, **params: Any) -> dict[str, Any]:
    response = user.get(f"/api/rooms/{code}/messages", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def dm_history(user: User, code: str, other: str, **params: Any) -> dict[str, Any]:
    response = user.get(f"/api/rooms/{code}/dms/{other}/messages", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def last_seq(user: User, code: str) -> int:
    response = user.get("/api/rooms")
    assert response.status_code == 200, response.text
    (room,) = [r for r in response.json()["rooms"] if r["code"] == code]
    return int(room["last_seq"])


def query_db(server: ServerProcess, sql: str, **params: str | int) -> list[tuple[Any, ...]]:
    """Run a read-only query on the server's own database (named ``:params``)."""
    url = server.env.get("CHINWAG_DATABASE_URL")
    if url is None:
        db = sqlite3.connect(server.data_dir / "chinwag.db")
        try:
            return list(db.execute(sql, params).fetchall())
        finally:
            db.close()
    # psql interpolates :'name' (quoted) in a script read from stdin, never in -c
    script = sql
    for name in params:
        script = script.replace(f":{name}", f":'{name}'")
    args = ["psql", url.replace("+asyncpg", ""), "-qAt", "-F", "\t", "-v", "ON_ERROR_STOP=1"]
    for name, value in params.items():
        args += ["-v", f"{name}={value}"]
    done = subprocess.run(args, input=script, capture_output=True, text=True, check=True)
    return [tuple(line.split("\t")) for line in done.stdout.splitlines() if line]


# ---- presence: batches of who came online and who went offline --------------------------------
def came(username: str, room: str | None = None) -> Callable[[Any], bool]:
    """Matches a ``presence`` batch in which ``username`` came online (in ``room``)."""
    return lambda p: (
        (room is None or p["room"] == room) and username in [u["username"] for u in p["online"]]
    )


def went(username: str | None = None, room: str | None = None) -> Callable[[Any], bool]:
    """Matches a ``presence`` batch in which ``username`` (anyone: None) went offline."""
    return lambda p: (
        (room is None or p["room"] == room)
        and (username in p["offline"] if username is not None else bool(p["offline"]))
    )


async def presence_fence(fence: Client, user: User, code: str, *receivers: Client) -> None:
    """``user`` (offline in the room until now) enters it through ``fence``, and every
    receiver waits for the batch that says so. A node announces in order, so whatever
    presence the fence's node noted before has reached the receivers once it arrives."""
    assert (await fence.enter(code))["ok"]
    for receiver in receivers:
        await receiver.wait_for("presence", came(user.username, code))


async def online_list(client: Client, code: str, limit: int | None = None) -> list[str]:
    """Everyone online in the room, page by page through ``presence:list``."""
    names: list[str] = []
    after = None
    while True:
        request: dict[str, Any] = {"room": code}
        if after is not None:
            request["after"] = after
        if limit is not None:
            request["limit"] = limit
        ack = await client.call("presence:list", request)
        assert ack["ok"], ack
        names += [u["username"] for u in ack["users"]]
        after = ack["next"]
        if after is None:
            return names
