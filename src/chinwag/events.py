"""The socket contract: every Socket.IO event by name, with its models.

Server -> client: one model per event (``SERVER_EVENTS``). It knows its wire name and who
it is sent to, and turns into ``(name, data)`` once (``wire``): services announce one with
``publish(tx, event, *audiences)`` (after the commit) or ``await emit(realtime, event,
*audiences)`` (live state), and the push layer sends that one ``data`` to every recipient.

Client -> server: a request model and the model of its ``{"ok": true, ...}`` ack
(``CLIENT_EVENTS``); any event may be answered with an ``ErrorAck`` instead.

``catalog_schema`` is all of it as JSON Schema, from which the web app's types are
generated (``python -m chinwag.openapi``). Nothing here imports socketio or the push
layer: services import this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple, Protocol, Self, cast

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr
from pydantic.json_schema import JsonSchemaMode, SkipJsonSchema, models_json_schema

from chinwag.schemas import (
    ErrorDetail,
    Input,
    MemberOut,
    MessageOut,
    PresenceList,
    RoomOut,
    RoomRef,
    SendMessage,
    TypingUpdate,
    UserOut,
    UserSearch,
)

if TYPE_CHECKING:
    from chinwag.services.realtime import Audience


# ---- server -> client -------------------------------------------------------------------------
class ServerEvent(BaseModel):
    """An event the server sends: ``event`` is its wire name, ``audience`` who gets it."""

    event: ClassVar[str]
    audience: ClassVar[str]

    def wire(self) -> tuple[str, dict[str, Any]]:
        """The event's name and its JSON-ready payload, serialized once for all recipients."""
        return self.event, self.model_dump(mode="json")


class MessageEvent(ServerEvent, MessageOut):
    event = "message"
    audience = "the room's entered connections, or the two people of a private message"


class TypingEvent(ServerEvent):
    event = "typing"
    audience = "the room (`to` null) or the recipient only"

    room: str
    user: UserOut
    to: str | None
    active: bool
    expires_in: float = Field(description="Seconds after which the client may drop the state.")


class PresenceEvent(ServerEvent):
    event = "presence"
    audience = (
        "the room's entered connections, at most once per CHINWAG_PRESENCE_INTERVAL_SECONDS "
        "from each node, when users came online or went offline there"
    )

    room: str
    online: list[UserOut] = Field(
        description="Users who came online since the last event and still are, by username; "
        "at most CHINWAG_PRESENCE_PAGE_SIZE of them (`count` is exact, page for the rest)."
    )
    offline: list[str] = Field(
        description="Usernames of everyone who went offline since the last event and still is."
    )
    count: int = Field(description="How many users are online in the room now.")


class UserUpdatedEvent(ServerEvent):
    event = "user:updated"
    audience = "rooms the user belongs to, and the user's own connections"

    user: UserOut


class RoomLeftEvent(ServerEvent):
    event = "room:left"
    audience = "the leaver's own connections, after the last event of the room they hear"

    room: str


class RoomDestroyedEvent(ServerEvent):
    event = "room:destroyed"
    audience = "every member's connections; they are removed from the room at once"

    room: str
    name: str


class RoomUpdatedEvent(ServerEvent):
    event = "room:updated"
    audience = "the room's entered connections and its new owner, when its owner changed"

    room: RoomOut


class ResyncEvent(ServerEvent):
    event = "resync"
    audience = "every connection of a node whose fan-out was away: fetch what you missed"


SERVER_EVENTS: dict[str, type[ServerEvent]] = {
    model.event: model
    for model in (
        MessageEvent,
        TypingEvent,
        PresenceEvent,
        UserUpdatedEvent,
        RoomLeftEvent,
        RoomDestroyedEvent,
        RoomUpdatedEvent,
        ResyncEvent,
    )
}


class Publishes(Protocol):  # chinwag.services.tx.Tx
    def publish(self, event: str, data: dict[str, Any], *audiences: Audience) -> None: ...


class Emits(Protocol):  # chinwag.services.realtime.Realtime
    async def emit(self, event: str, data: dict[str, Any], *audiences: Audience) -> None: ...


def publish(tx: Publishes, event: ServerEvent, *audiences: Audience) -> None:
    """Queue ``event`` on the transaction: sent to ``audiences`` once it commits."""
    name, data = event.wire()
    tx.publish(name, data, *audiences)


async def emit(realtime: Emits, event: ServerEvent, *audiences: Audience) -> None:
    """Send ``event`` to ``audiences`` now (live state that no transaction writes)."""
    name, data = event.wire()
    await realtime.emit(name, data, *audiences)


# ---- client -> server: acks -------------------------------------------------------------------
class OkAck(BaseModel):
    """The ack of an event that succeeded; events that answer more extend it."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)
    ok: Literal[True] = True
    _wire: dict[str, Any] | None = PrivateAttr(default=None)

    def wire(self) -> dict[str, Any]:
        """The ack's JSON-ready payload."""
        return self._wire if self._wire is not None else self.model_dump(mode="json")

    @classmethod
    def _prebuilt(cls, wire: dict[str, Any]) -> Self:
        """An ack whose payload is already in its wire form (hot paths: nothing validated or
        dumped again); only ``wire()`` may be asked of it."""
        ack = cast(Self, cls.model_construct())  # pydantic types it as the base class
        ack._wire = wire
        return ack


class EnterAck(OkAck):
    room: RoomOut
    online: list[UserOut] = Field(
        description="Who is online in the room now, by username: the first page (at most "
        "CHINWAG_PRESENCE_PAGE_SIZE); `presence:list` answers the next ones."
    )
    online_count: int = Field(description="How many users are online in the room now.")
    online_next: str | None = Field(
        description="`after` for the next page of `presence:list`; null: `online` is everyone."
    )
    last_seq: int = Field(description="Position of the room's newest public message.")

    @classmethod
    def of_wire(
        cls,
        room: dict[str, Any],
        online: list[dict[str, Any]],
        online_count: int,
        online_next: str | None,
        last_seq: int,
    ) -> EnterAck:
        """The ack of an enter whose room and users are already in their wire form (the JSON
        dumps of a ``RoomOut`` and of ``UserOut`` models), built without validating and
        dumping them again (each joiner's path): its ``wire()`` is that of
        ``EnterAck(room=RoomOut(**room), online=[UserOut(**u) for u in online], ...)``;
        only ``wire()`` may be asked of it."""
        return cls._prebuilt(
            {
                "ok": True,
                "room": room,
                "online": online,
                "online_count": online_count,
                "online_next": online_next,
                "last_seq": last_seq,
            }
        )


class PresenceListAck(OkAck):
    users: list[UserOut] = Field(description="Online users after `after`, by username.")
    count: int = Field(description="How many users are online in the room now.")
    next: str | None = Field(description="`after` for the next page; null: this was the last.")


class SendAck(OkAck):
    message: MessageOut
    duplicate: bool = Field(description="A retry of a stored message: nothing was sent.")

    @classmethod
    def of_wire(cls, message: dict[str, Any], duplicate: bool) -> SendAck:
        """The ack of a message already in its wire form (a ``MessageOut``'s JSON dump), built
        without validating and dumping it again (the send's hot path): its ``wire()`` is
        that of ``SendAck(message=MessageOut(**message), duplicate=duplicate)``; only
        ``wire()`` may be asked of it."""
        return cls._prebuilt({"ok": True, "message": message, "duplicate": duplicate})


class SearchAck(OkAck):
    users: list[MemberOut]


class AckError(ErrorDetail):
    # absent, not null, when there is nothing to wait for: ``ErrorAck.wire`` drops it
    retry_after: float | SkipJsonSchema[None] = Field(
        default=None, description="Seconds to wait before trying again (an error worth retrying)."
    )


class ErrorAck(BaseModel):
    """The ack of any event that was refused or failed."""

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)
    ok: Literal[False] = False
    error: AckError

    def wire(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class ClientEvent(NamedTuple):
    request: type[Input]
    ack: type[OkAck]


CLIENT_EVENTS: dict[str, ClientEvent] = {
    "room:enter": ClientEvent(RoomRef, EnterAck),
    "room:exit": ClientEvent(RoomRef, OkAck),
    "message:send": ClientEvent(SendMessage, SendAck),
    "typing": ClientEvent(TypingUpdate, OkAck),
    "users:search": ClientEvent(UserSearch, SearchAck),
    "presence:list": ClientEvent(PresenceList, PresenceListAck),
}


# ---- JSON Schema ------------------------------------------------------------------------------
def catalog_schema(ref_template: str = "#/$defs/{model}") -> dict[str, dict[str, Any]]:
    """Every model of the catalog by name, plus two maps by event name: ``ServerEvents``
    (name -> payload) and ``ClientEvents`` (name -> ``{request, ack}``, the ack being the
    event's own or ``ErrorAck``). Requests are described as the server accepts them,
    everything else as the server writes it."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (ErrorAck, "serialization"),
        *((model, "serialization") for model in SERVER_EVENTS.values()),
    ]
    for request, ack in CLIENT_EVENTS.values():
        models += [(request, "validation"), (ack, "serialization")]
    keys, top = models_json_schema(models, ref_template=ref_template)
    defs: dict[str, dict[str, Any]] = dict(top.get("$defs", {}))

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(keys[(model, mode)])

    defs["ServerEvents"] = _record(
        {
            name: {**ref(model, "serialization"), "description": f"Sent to {model.audience}."}
            for name, model in SERVER_EVENTS.items()
        },
        "Every server -> client event: its name and its payload.",
    )
    error = ref(ErrorAck, "serialization")
    defs["ClientEvents"] = _record(
        {
            name: _record(
                {
                    "request": ref(request, "validation"),
                    "ack": {"oneOf": [ref(ack, "serialization"), error]},
                }
            )
            for name, (request, ack) in CLIENT_EVENTS.items()
        },
        "Every client -> server event: its name, its payload and its ack.",
    )
    return defs


def _record(properties: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    if description:
        schema["description"] = description
    return schema
