"""The chat's socket events, whatever Socket.IO server carries them: authenticate the
handshake, then parse, call a service, ack.

Every client event is answered through its ack with ``{"ok": true, ...}`` or
``{"ok": false, "error": {"code", "message"}}``: its request and ack models are in the
catalog (``chinwag.events.CLIENT_EVENTS``), and each handler takes the one and answers the
other. The server underneath runs one event at a time per connection, so a client's
messages are stored in send order.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http.cookies import CookieError, SimpleCookie
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel, ValidationError

from chinwag.db.models import User
from chinwag.errors import ChinwagError, InvalidInput, NotAuthenticated, RateLimited
from chinwag.events import (
    CLIENT_EVENTS,
    AckError,
    EnterAck,
    ErrorAck,
    OkAck,
    PresenceListAck,
    SearchAck,
    SendAck,
)
from chinwag.logs import get_logger
from chinwag.metrics import Metrics
from chinwag.schemas import PresenceList, RoomRef, SendMessage, TypingUpdate, UserSearch
from chinwag.security import OriginPolicy
from chinwag.services import Services
from chinwag.services.views import user_out, user_wire

log = get_logger(__name__)
SESSION_COOKIE = "chinwag_session"

M = TypeVar("M", bound=BaseModel)
# (chat, conn id, user, the event's request model) -> the event's ack model
Handler = Callable[["ChatEvents", str, User, Any], Awaitable[OkAck]]
Disconnect = Callable[[str], Awaitable[None]]


class ConnectRefused(Exception):
    """The handshake is refused: the client's connect error says ``code`` and why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message

    def data(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def error_ack(error: ChinwagError) -> ErrorAck:
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        retry_after = round(retry_after, 3)
    return ErrorAck(error=AckError(code=error.code, message=error.message, retry_after=retry_after))


INTERNAL_ERROR = ErrorAck(error=AckError(code="internal_error", message="Server error."))


def validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(validation_message(exc)) from None


def cookie_token(raw: str | None) -> str | None:
    """The session token in a ``Cookie`` header, if it holds one."""
    if not raw:
        return None
    try:
        cookie = SimpleCookie(raw)
    except CookieError:
        return None
    morsel = cookie.get(SESSION_COOKIE)
    return morsel.value if morsel else None


class ChatEvents:
    """The chat's handshake and events; ``disconnect`` ends a connection on the server
    that carries it (set by that server's adapter)."""

    def __init__(
        self, services: Services, origins: OriginPolicy, metrics: Metrics | None = None
    ) -> None:
        self.services = services
        self.origins = origins
        self.metrics = metrics or Metrics(HANDLERS)
        self.disconnect: Disconnect | None = None
        self._event_ids = itertools.count(1)  # names one event's log lines: cheap, per process

    # ---- connection lifecycle ----------------------------------------------------------------
    async def connect(self, conn_id: str, scheme: str, headers: Mapping[str, str]) -> int:
        """Authenticate a handshake (its request's scheme and lower-cased headers): the
        user's id, or ``ConnectRefused``."""
        structlog.contextvars.bind_contextvars(conn_id=conn_id)
        if not self.origins.allows(scheme, headers):
            log.info("socket.refused", reason="origin")
            raise ConnectRefused("origin_not_allowed", "This Origin may not connect.")
        try:
            _, user = await self.services.live.connect(conn_id, cookie_token(headers.get("cookie")))
        except NotAuthenticated as exc:
            log.info("socket.refused", reason="session")
            raise ConnectRefused(exc.code, exc.message) from None
        log.info("socket.connected", user_id=user.id)
        return user.id

    async def disconnected(self, conn_id: str, user_id: int | None) -> None:
        structlog.contextvars.bind_contextvars(conn_id=conn_id)
        await self.services.live.disconnected(conn_id)
        log.info("socket.disconnected", user_id=user_id)

    async def handle(self, conn_id: str, event: str, args: Sequence[Any]) -> dict[str, Any]:
        """One client event with its arguments: the ack to answer it with."""
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(conn_id=conn_id, event_id=next(self._event_ids))
        self.metrics.event_in(event)
        try:
            handler = HANDLERS.get(event)
            if handler is None:
                raise InvalidInput(f"Unknown event {event!r}.", code="unknown_event")
            if len(args) != 1:
                raise InvalidInput("Send exactly one payload object.")
            user = await self._current_user(conn_id)
            payload = parse(CLIENT_EVENTS[event].request, args[0])
            ack = await handler(self, conn_id, user, payload)
            self.metrics.ack(event, "ok")
            return ack.wire()
        except ChinwagError as exc:
            log.info("socket.event_refused", socket_event=event, code=exc.code)
            self.metrics.ack(event, exc.code)
            if isinstance(exc, RateLimited):
                self.metrics.refused(exc.limiter)
            return error_ack(exc).wire()
        except Exception:
            log.exception("socket.event_failed", socket_event=event)
            self.metrics.ack(event, INTERNAL_ERROR.error.code)
            return INTERNAL_ERROR.wire()

    async def _current_user(self, conn_id: str) -> User:
        """Re-check the login on every event: a logged-out or expired session acts no more."""
        try:
            return await self.services.live.current_user(conn_id)
        except NotAuthenticated:
            if self.disconnect is not None:
                await self.disconnect(conn_id)
            raise

    # ---- events ------------------------------------------------------------------------------
    async def room_enter(self, conn_id: str, user: User, ref: RoomRef) -> EnterAck:
        room, online, last_seq = await self.services.live.enter(user, conn_id, ref.room)
        users = [user_wire(u) for u in online.users]
        return EnterAck.of_wire(room, users, online.count, online.next, last_seq)

    async def room_exit(self, conn_id: str, user: User, ref: RoomRef) -> OkAck:
        await self.services.live.exit(user, conn_id, ref.room)
        return OkAck()

    async def message_send(self, conn_id: str, user: User, payload: SendMessage) -> SendAck:
        message, created = await self.services.messages.send(user, payload)
        return SendAck.of_wire(message, duplicate=not created)

    async def typing(self, conn_id: str, user: User, payload: TypingUpdate) -> OkAck:
        await self.services.typing.set_typing(user, payload.room, payload.to, payload.active)
        return OkAck()

    async def users_search(self, conn_id: str, user: User, payload: UserSearch) -> SearchAck:
        users = await self.services.live.list_members(
            user, payload.room, online_only=payload.online, query=payload.q
        )
        return SearchAck(users=users)

    async def presence_list(
        self, conn_id: str, user: User, payload: PresenceList
    ) -> PresenceListAck:
        page = await self.services.live.list_online(
            user, payload.room, after=payload.after, limit=payload.limit
        )
        return PresenceListAck(
            users=[user_out(u) for u in page.users], count=page.count, next=page.next
        )


HANDLERS: dict[str, Handler] = {
    "room:enter": ChatEvents.room_enter,
    "room:exit": ChatEvents.room_exit,
    "message:send": ChatEvents.message_send,
    "typing": ChatEvents.typing,
    "users:search": ChatEvents.users_search,
    "presence:list": ChatEvents.presence_list,
}
