"""The Socket.IO namespace: authenticate the handshake, then parse, call a service, ack.

Every client event is answered through its ack with ``{"ok": true, ...}`` or
``{"ok": false, "error": {"code", "message"}}``: its request and ack models are in the
catalog (``chinwag.events.CLIENT_EVENTS``), and each handler takes the one and answers the
other. Handlers run one at a time per connection (``async_handlers=False``), so a client's
messages are stored in send order.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable
from http.cookies import CookieError, SimpleCookie
from typing import Any, TypeVar

import socketio
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
from chinwag.realtime.publisher import NAMESPACE
from chinwag.schemas import PresenceList, RoomRef, SendMessage, TypingUpdate, UserSearch
from chinwag.security import OriginPolicy
from chinwag.services import Services
from chinwag.services.views import user_out

log = get_logger(__name__)
SESSION_COOKIE = "chinwag_session"

M = TypeVar("M", bound=BaseModel)
# (namespace, conn id, user, the event's request model) -> the event's ack model
Handler = Callable[["ChatNamespace", str, User, Any], Awaitable[OkAck]]


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


def cookie_token(environ: dict[str, Any]) -> str | None:
    raw = environ.get("HTTP_COOKIE")
    if not raw:
        return None
    try:
        cookie = SimpleCookie(raw)
    except CookieError:
        return None
    morsel = cookie.get(SESSION_COOKIE)
    return morsel.value if morsel else None


def environ_headers(environ: dict[str, Any]) -> dict[str, str]:
    return {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_") and isinstance(value, str)
    }


class ChatNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(
        self, services: Services, origins: OriginPolicy, metrics: Metrics | None = None
    ) -> None:
        super().__init__(NAMESPACE)
        self.services = services
        self.origins = origins
        self.metrics = metrics or Metrics(HANDLERS)
        # the log's id of each event: unique in this process and cheap (a uuid4 per event
        # reads the OS's randomness every time)
        self._event_prefix = uuid.uuid4().hex[:6]
        self._event_ids = itertools.count(1)

    # ---- connection lifecycle ----------------------------------------------------------------
    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        structlog.contextvars.bind_contextvars(conn_id=sid)
        scheme = environ.get("wsgi.url_scheme", "http")
        if not self.origins.allows(scheme, environ_headers(environ)):
            log.info("socket.refused", reason="origin")
            raise socketio.exceptions.ConnectionRefusedError(
                "origin_not_allowed",
                {"code": "origin_not_allowed", "message": "This Origin may not connect."},
            )
        try:
            session, user = await self.services.live.connect(sid, cookie_token(environ))
        except NotAuthenticated as exc:
            log.info("socket.refused", reason="session")
            raise socketio.exceptions.ConnectionRefusedError(
                exc.code, {"code": exc.code, "message": exc.message}
            ) from None
        await self.save_session(sid, {"session_id": session.id, "user_id": user.id})
        log.info("socket.connected", user_id=user.id)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        structlog.contextvars.bind_contextvars(conn_id=sid)
        session = await self.get_session(sid)
        await self.services.live.disconnected(sid)
        log.info("socket.disconnected", user_id=session.get("user_id"))

    async def trigger_event(self, event: str, *args: Any) -> Any:
        sid = args[0]
        # python-socketio runs the real connect and disconnect while the socket is not (or
        # no longer) marked connected; a connected client emitting those names is refused.
        is_lifecycle = event in ("connect", "disconnect")
        if is_lifecycle and not self.server.manager.is_connected(sid, self.namespace):
            return await super().trigger_event(event, *args)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(conn_id=sid, event_id=self._event_id())
        self.metrics.event_in(event)
        try:
            handler = None if is_lifecycle else HANDLERS.get(event)
            if handler is None:
                raise InvalidInput(f"Unknown event {event!r}.", code="unknown_event")
            if len(args) != 2:
                raise InvalidInput("Send exactly one payload object.")
            user = await self._current_user(sid)
            payload = parse(CLIENT_EVENTS[event].request, args[1])
            ack = await handler(self, sid, user, payload)
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

    def _event_id(self) -> str:
        return f"{self._event_prefix}{next(self._event_ids):06x}"

    async def _current_user(self, sid: str) -> User:
        """Re-check the login on every event: a logged-out or expired session acts no more."""
        try:
            return await self.services.live.current_user(sid)
        except NotAuthenticated:
            await self.disconnect(sid)
            raise

    # ---- events ------------------------------------------------------------------------------
    async def room_enter(self, sid: str, user: User, ref: RoomRef) -> EnterAck:
        room, online, last_seq = await self.services.live.enter(user, sid, ref.room)
        return EnterAck(
            room=room,
            online=[user_out(u) for u in online.users],
            online_count=online.count,
            online_next=online.next,
            last_seq=last_seq,
        )

    async def room_exit(self, sid: str, user: User, ref: RoomRef) -> OkAck:
        await self.services.live.exit(user, sid, ref.room)
        return OkAck()

    async def message_send(self, sid: str, user: User, payload: SendMessage) -> SendAck:
        message, created = await self.services.messages.send(user, payload)
        return SendAck.of_wire(message, duplicate=not created)

    async def typing(self, sid: str, user: User, payload: TypingUpdate) -> OkAck:
        await self.services.typing.set_typing(user, payload.room, payload.to, payload.active)
        return OkAck()

    async def users_search(self, sid: str, user: User, payload: UserSearch) -> SearchAck:
        users = await self.services.live.list_members(
            user, payload.room, online_only=payload.online, query=payload.q
        )
        return SearchAck(users=users)

    async def presence_list(self, sid: str, user: User, payload: PresenceList) -> PresenceListAck:
        page = await self.services.live.list_online(
            user, payload.room, after=payload.after, limit=payload.limit
        )
        return PresenceListAck(
            users=[user_out(u) for u in page.users], count=page.count, next=page.next
        )


HANDLERS: dict[str, Handler] = {
    "room:enter": ChatNamespace.room_enter,
    "room:exit": ChatNamespace.room_exit,
    "message:send": ChatNamespace.message_send,
    "typing": ChatNamespace.typing,
    "users:search": ChatNamespace.users_search,
    "presence:list": ChatNamespace.presence_list,
}
