"""The Socket.IO event catalog (``chinwag.events``): what real clients receive is what the
catalog says, the namespace answers with its models, and docs/api.md lists it."""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from chinwag.db.live_reads import OnlineUser
from chinwag.db.models import Room
from chinwag.db.models import User as UserRow
from chinwag.events import (
    CLIENT_EVENTS,
    SERVER_EVENTS,
    AckError,
    EnterAck,
    ErrorAck,
    MessageEvent,
    ResyncEvent,
    RoomLeftEvent,
    SendAck,
    TypingEvent,
)
from chinwag.realtime.chat import HANDLERS
from chinwag.schemas import MessageOut, UserOut
from chinwag.services.views import (
    datetime_wire,
    message_wire,
    room_out,
    room_wire,
    user_out,
    user_wire,
)
from tests.live_support import client_id, online, room_with
from tests.support import PASSWORD, User

MakeUser = Callable[..., User]
API_MD = Path(__file__).resolve().parents[1] / "docs" / "api.md"


# ---- the catalog itself -----------------------------------------------------------------------
def test_each_server_event_is_filed_under_its_own_wire_name() -> None:
    for name, model in SERVER_EVENTS.items():
        assert model.event == name
        assert model.audience, f"{name} says nobody it is sent to"
    event = RoomLeftEvent(room="r1")
    assert event.wire() == ("room:left", {"room": "r1"})


def test_an_event_is_serialized_to_json_ready_data() -> None:
    user = UserOut(username="ana", full_name="Ana", avatar_url=None)
    name, data = TypingEvent(room="r", user=user, to=None, active=True, expires_in=1.5).wire()
    assert name == "typing"
    assert data == {
        "room": "r",
        "user": {"username": "ana", "full_name": "Ana", "avatar_url": None},
        "to": None,
        "active": True,
        "expires_in": 1.5,
    }


def test_an_error_ack_names_retry_after_only_when_there_is_one() -> None:
    plain = ErrorAck(error=AckError(code="not_member", message="No."))
    assert plain.wire() == {"ok": False, "error": {"code": "not_member", "message": "No."}}
    wait = ErrorAck(error=AckError(code="rate_limited", message="Slow.", retry_after=2.5))
    assert wait.wire()["error"]["retry_after"] == 2.5


@given(
    message_id=st.integers(min_value=1, max_value=2**62),
    seq=st.integers(min_value=1, max_value=2**62),
    avatar=st.none() | st.text(min_size=1, max_size=20),
    to=st.none() | st.text(min_size=1, max_size=32),
    body=st.text(min_size=1, max_size=200),
    created_at=st.datetimes(timezones=st.just(UTC)),
)
def test_a_message_built_on_the_hot_path_is_the_one_pydantic_writes(
    message_id: int, seq: int, avatar: str | None, to: str | None, body: str, created_at: datetime
) -> None:
    """The message writer builds its message, event and ack as plain dicts: the same bytes
    as the models would write."""
    sender = UserRow(username="ana", full_name="Ana Ñ 🙂", avatar=avatar)
    assert user_wire(sender) == user_out(sender).model_dump(mode="json")
    wire = message_wire(
        message_id, "r1", seq, user_wire(sender), to, body, datetime_wire(created_at), "c-1"
    )
    model = MessageOut(
        id=message_id,
        room="r1",
        seq=seq,
        sender=user_out(sender),
        to=to,
        body=body,
        created_at=created_at,
        client_id="c-1",
    )
    assert json.dumps(wire) == json.dumps(model.model_dump(mode="json"))
    assert json.dumps(wire) == json.dumps(MessageEvent(**dict(model)).wire()[1])
    for duplicate in (False, True):
        ack = SendAck(message=model, duplicate=duplicate).model_dump(mode="json")
        assert json.dumps(SendAck.of_wire(wire, duplicate).wire()) == json.dumps(ack)


@given(
    name=st.text(min_size=1, max_size=80),
    owner=st.text(min_size=1, max_size=32),
    created_at=st.datetimes(timezones=st.just(UTC)),
    online=st.lists(
        st.tuples(st.text(min_size=1, max_size=32), st.text(max_size=64), st.none() | st.text()),
        max_size=5,
    ),
    count=st.integers(min_value=0, max_value=10**6),
    after=st.none() | st.text(min_size=1, max_size=32),
    last_seq=st.integers(min_value=0, max_value=2**62),
)
def test_an_enter_ack_built_on_the_hot_path_is_the_one_pydantic_writes(
    name: str,
    owner: str,
    created_at: datetime,
    online: list[tuple[str, str, str | None]],
    count: int,
    after: str | None,
    last_seq: int,
) -> None:
    """Entering builds the room and the online page as plain dicts from plain rows: the
    same bytes as the models would write from the ORM's rows."""
    room = Room(code="7f8e4c1e-3b2a-4d5c-9e8f-0a1b2c3d4e5f", name=name, created_at=created_at)
    model = room_out(room, UserRow(username=owner))
    wire = room_wire(room.code, name, owner, created_at)
    assert json.dumps(wire) == json.dumps(model.model_dump(mode="json"))
    rows = [OnlineUser(i, u, u.casefold(), f, a) for i, (u, f, a) in enumerate(online)]
    users = [UserRow(username=u, full_name=f, avatar=a) for u, f, a in online]
    ack = EnterAck(
        room=model,
        online=[user_out(u) for u in users],
        online_count=count,
        online_next=after,
        last_seq=last_seq,
    )
    built = EnterAck.of_wire(wire, [user_wire(u) for u in rows], count, after, last_seq)
    assert json.dumps(built.wire()) == json.dumps(ack.wire())


def test_every_client_event_has_a_handler_typed_by_the_catalog() -> None:
    assert set(HANDLERS) == set(CLIENT_EVENTS)
    for name, (request, ack) in CLIENT_EVENTS.items():
        hints = typing.get_type_hints(HANDLERS[name])
        params = [hint for key, hint in hints.items() if key != "return"]
        assert params[-1] is request, f"{name} takes {params[-1]}, the catalog says {request}"
        assert hints["return"] is ack, f"{name} answers {hints['return']}, not {ack}"


# ---- the docs ---------------------------------------------------------------------------------
def doc_table(header: str) -> dict[str, list[str]]:
    """The rows of the docs/api.md table whose first column is ``header``, by first cell."""
    lines = API_MD.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {header} |"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_the_docs_list_every_server_event_with_its_model_and_audience() -> None:
    rows = doc_table("server → client")
    assert set(rows) == set(SERVER_EVENTS)
    for name, (payload, sent_to) in rows.items():
        model = SERVER_EVENTS[name]
        assert payload.startswith(f"`{model.__name__}`"), f"{name}: {payload}"
        assert sent_to == model.audience, f"{name}: the docs say {sent_to!r}"


def test_the_docs_list_every_client_event_with_its_request_and_ack() -> None:
    rows = doc_table("client → server")
    assert set(rows) == set(CLIENT_EVENTS)
    for name, (payload, ack, _errors) in rows.items():
        request, ok = CLIENT_EVENTS[name]
        assert payload.startswith(f"`{request.__name__}`"), f"{name}: {payload}"
        assert ack.startswith(f"`{ok.__name__}`"), f"{name}: {ack}"


# ---- on the wire ------------------------------------------------------------------------------
async def test_what_clients_receive_is_exactly_what_the_catalog_describes(
    make_user: MakeUser,
) -> None:
    """Every server event and every ack of a conversation, parsed by its catalog model and
    written again, is the same JSON: no field the catalog lacks, none it has missing."""
    ana, bo = make_user("Ana"), make_user("Bo")
    code = room_with(ana, bo)
    acks: list[tuple[str, Any]] = []
    async with online(ana, bo) as (a, b):

        async def call(client: Any, event: str, payload: dict[str, Any]) -> Any:
            ack = await client.call(event, payload)
            acks.append((event, ack))
            return ack

        await call(a, "room:enter", {"room": code})
        await call(b, "room:enter", {"room": code})
        await a.wait_for("presence")  # batched: before the room is gone
        await call(a, "typing", {"room": code, "active": True})
        await call(a, "message:send", {"room": code, "body": "hi", "client_id": client_id()})
        private = {"room": code, "body": "psst", "client_id": client_id(), "to": bo.username}
        await call(a, "message:send", private)
        await call(b, "users:search", {"room": code, "q": ""})
        await call(b, "presence:list", {"room": code})
        await call(a, "message:send", {"room": code})  # refused: no body
        assert ana.patch("/api/me", json={"full_name": "Ana Maria"}).status_code == 200
        await b.wait_for("user:updated")
        await call(b, "room:exit", {"room": code})
        assert bo.post(f"/api/rooms/{code}/leave").status_code == 204
        await b.wait_for("room:left")
        assert ana.delete(f"/api/rooms/{code}").status_code == 204
        await a.wait_for("room:destroyed")
        cy = make_user("Cy")  # owns a room Ana joined, then deletes the account: she owns it
        assert ana.join(cy.create_room()).status_code == 200
        assert cy.delete("/api/me", json={"password": PASSWORD}).status_code == 204
        await a.wait_for("room:updated")
        events = a.events + b.events

    # resync needs a fan-out that went away: tests/test_fanout_nodes.py receives that one
    assert {name for name, _ in events} == set(SERVER_EVENTS) - {ResyncEvent.event}
    for name, data in events:
        assert SERVER_EVENTS[name].model_validate(data).wire() == (name, data)

    assert {name for name, _ in acks} == set(CLIENT_EVENTS)
    refused = [ack for _, ack in acks if not ack["ok"]]
    assert len(refused) == 1 and refused[0]["error"]["code"] == "invalid_input"
    for name, ack in acks:
        if ack["ok"]:
            assert CLIENT_EVENTS[name].ack.model_validate(ack).model_dump(mode="json") == ack
        else:
            assert ErrorAck.model_validate(ack).wire() == ack
