"""Liveness and readiness probes, and avatars."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from chinwag.api.deps import ServicesDep
from chinwag.errors import NotFound
from chinwag.logs import get_logger

router = APIRouter()
log = get_logger(__name__)


@router.get("/healthz", tags=["health"])
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", tags=["health"], responses={503: {"description": "Database unreachable"}})
async def readyz(services: ServicesDep) -> JSONResponse:
    """The database answers."""
    try:
        await services.db.ping()
    except Exception:
        log.warning("readyz.database_unreachable")
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/media/avatars/{name}", tags=["media"], response_class=Response)
async def avatar(name: str, request: Request, services: ServicesDep) -> Response:
    """A content-addressed avatar: its name never changes meaning, so it caches forever."""
    data = await services.media.get_avatar(name)
    if data is None:
        raise NotFound("No such avatar.")
    etag = f'"{name.removesuffix(".webp")}"'
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
    }
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type="image/webp", headers=headers)


def matches(if_none_match: str, etag: str) -> bool:
    """Whether an If-None-Match header names this entity tag (weak comparison, RFC 9110)."""
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags
