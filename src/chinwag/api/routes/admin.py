"""The site administrators' API: the web app's admin page (``chinwag admin`` does the same
from a terminal)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from chinwag.api.deps import CurrentUser, ServicesDep
from chinwag.db.models import User
from chinwag.errors import Forbidden
from chinwag.schemas import AdminUserList, AdminUserOut

MAX_ID = 2**63 - 1
UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="The user's id.")]


async def require_admin(user: CurrentUser) -> User:
    if not user.is_admin:
        raise Forbidden("Only site administrators may do this.", code="not_admin")
    return user


Admin = Annotated[User, Depends(require_admin)]

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get("/users", response_model=AdminUserList)
async def list_users(
    admin: Admin,
    services: ServicesDep,
    q: Annotated[str, Query(max_length=64, description="Part of a username or full name.")] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> AdminUserList:
    """Accounts by username (deleted ones are not listed)."""
    return await services.admin.list_users(q, limit=limit, offset=offset)


@router.post("/users/{user_id}/disable", response_model=AdminUserOut)
async def disable_user(user_id: UserId, admin: Admin, services: ServicesDep) -> AdminUserOut:
    """Refuse the user's log-ins; their sessions and sockets end now, on every node."""
    return await services.admin.set_disabled(user_id, True, by=admin)


@router.post("/users/{user_id}/enable", response_model=AdminUserOut)
async def enable_user(user_id: UserId, admin: Admin, services: ServicesDep) -> AdminUserOut:
    """Let a disabled user log in again."""
    return await services.admin.set_disabled(user_id, False, by=admin)


@router.delete("/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(user_id: UserId, admin: Admin, services: ServicesDep) -> Response:
    """Delete the account (see docs/deploy.md "Administration" for what remains)."""
    await services.admin.delete_user(user_id, by=admin)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
