"""Liveness and readiness probes, and avatar files."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse

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


@router.get("/media/avatars/{name}", tags=["media"], response_class=FileResponse)
async def avatar(name: str, services: ServicesDep) -> FileResponse:
    """A content-addressed avatar: its name never changes meaning, so it caches forever."""
    path = services.media.avatar_path(name)
    if path is None:
        raise NotFound("No such avatar.")
    return FileResponse(
        path,
        media_type="image/webp",
        headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "X-Content-Type-Options": "nosniff",
        },
    )
