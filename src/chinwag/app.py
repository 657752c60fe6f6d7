"""``create_app(settings)``: FastAPI for HTTP, Socket.IO for real time, one ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from chinwag import __version__
from chinwag.api.deps import check_origin
from chinwag.api.docs import mount_docs
from chinwag.api.errors import install_error_handlers
from chinwag.api.middleware import (
    BodyCap,
    BodyLimit,
    HostAllowList,
    RequestContext,
    SocketBodyLimit,
)
from chinwag.api.routes import admin, health, me, metrics, rooms, session
from chinwag.api.web import mount_web
from chinwag.backends import Backends
from chinwag.config import Settings
from chinwag.db.engine import Database
from chinwag.garbage import GcPauses, freeze_startup, tune
from chinwag.logs import get_logger
from chinwag.metrics import Metrics
from chinwag.realtime.chat import HANDLERS, ChatEvents
from chinwag.realtime.control import ControlServer
from chinwag.realtime.layers import SOCKET_PATH, socket_layer
from chinwag.realtime.publisher import SocketIORealtime
from chinwag.schemas import ErrorOut
from chinwag.security import OriginPolicy
from chinwag.services import Services

log = get_logger(__name__)

# Every API route may refuse with the error envelope; documented so clients can type it.
API_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in (
        (400, "Malformed request"),
        (401, "Not logged in, or the session ended"),
        (403, "Forbidden: CSRF, Origin, membership or ownership"),
        (404, "Not found"),
        (409, "Conflict"),
        (413, "Body too large"),
        (415, "Unsupported media type"),
        (422, "Invalid input"),
        (429, "Rate limited"),
    )
}
# Room for the multipart framing around an avatar file.
MULTIPART_OVERHEAD = 64 * 1024


class ChinwagApp:
    """The whole server as one ASGI app; ``api`` is its FastAPI part (routes, OpenAPI).

    Socket.IO and the host allow-list wrap ``api``; callers that need the HTTP side (the
    OpenAPI document) reach it here rather than through those wrappers' attributes.
    """

    def __init__(self, api: FastAPI, asgi: ASGIApp) -> None:
        self.api = api
        self.asgi = asgi

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.asgi(scope, receive, send)


def create_app(settings: Settings) -> ChinwagApp:
    """Build the whole ASGI application. Nothing happens at import time."""
    _ = settings.signing_key  # generate and persist the development secret on first start
    db = Database(settings.resolved_database_url)
    backends = Backends.from_settings(settings)
    node_metrics = Metrics(HANDLERS)
    layer = socket_layer(settings, node_metrics)
    realtime = SocketIORealtime(
        layer.carrier,
        backends.fanout,
        hold_lease=settings.hold_lease_seconds,
        metrics=node_metrics,
    )
    services = Services.build(settings, db, realtime, backends)
    origins = OriginPolicy(settings)
    chat = ChatEvents(services, origins, node_metrics)
    node_metrics.watch(realtime.registry, db, backends.fanout, shared=backends.redis is not None)
    gc_pauses = GcPauses(node_metrics.registry)

    # one node on its own: `chinwag admin` reaches it here (a cluster's nodes hear it on Redis)
    control = None
    if backends.redis is None:
        control = ControlServer(settings.control_socket, backends.fanout, settings.signing_key)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.start()
        if control is not None:
            await control.start()
        tune(settings.gc_threshold_values)
        if settings.gc_freeze:
            freeze_startup()
        gc_pauses.install()
        log.info("chinwag.started", version=__version__, database=db.engine.dialect.name)
        yield
        gc_pauses.remove()
        await layer.close()
        if control is not None:
            await control.stop()
        await services.close()

    api = FastAPI(
        title="Chinwag",
        version=__version__,
        summary="Real-time chat rooms: accounts, rooms, public and private chat.",
        docs_url=None,  # mount_docs serves Swagger UI from this server, not a CDN
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
        redirect_slashes=False,  # one URL per resource: a trailing slash is not found
    )
    api.state.services = services
    api.state.origins = origins
    api.state.metrics = node_metrics
    install_error_handlers(api)
    guarded = [Depends(check_origin)]
    for router in (session.router, me.router, rooms.router, admin.router):
        api.include_router(router, prefix="/api", dependencies=guarded, responses=API_ERRORS)
    api.include_router(health.router, responses=API_ERRORS)
    api.include_router(metrics.router)
    mount_docs(api)
    mount_web(api)  # GETs no route matched serve the web app's pages
    avatar_cap = BodyCap(
        settings.max_avatar_bytes + MULTIPART_OVERHEAD,
        code="upload_too_large",
        message=f"Avatars are limited to {settings.max_avatar_bytes:,} bytes.",
    )
    api.add_middleware(
        BodyLimit,
        default=BodyCap(settings.max_request_body_bytes),
        overrides={"/api/me/avatar": avatar_cap},
    )
    api.add_middleware(RequestContext, node_name=settings.node_name)
    asgi: ASGIApp = layer.serve(chat, api)
    socket_cap = BodyCap(
        settings.max_socket_packet_bytes,
        message=f"Socket.IO requests are limited to {settings.max_socket_packet_bytes:,} bytes.",
    )
    asgi = SocketBodyLimit(asgi, SOCKET_PATH, socket_cap)
    if settings.allowed_hosts:
        asgi = HostAllowList(asgi, settings.allowed_hosts)
    return ChinwagApp(api, asgi)
