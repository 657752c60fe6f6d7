"""The logged-in user's own profile, password, avatar, sessions and data export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Response, UploadFile, status

from chinwag.api.deps import SESSION_COOKIE, CurrentUser, LoginDep, ServicesDep
from chinwag.errors import TooLarge
from chinwag.schemas import (
    AccountDelete,
    AccountExport,
    MySessionOut,
    PasswordChange,
    ProfileUpdate,
    UserOut,
)
from chinwag.services.views import user_out

router = APIRouter(prefix="/me", tags=["me"])


@router.get("", response_model=UserOut)
async def get_me(user: CurrentUser) -> UserOut:
    return user_out(user)


@router.patch("", response_model=UserOut)
async def update_me(body: ProfileUpdate, user: CurrentUser, services: ServicesDep) -> UserOut:
    """Change the full name; members of your rooms see it live (``user:updated``)."""
    updated = await services.accounts.update_profile(user, full_name=body.full_name)
    return user_out(updated)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def delete_me(body: AccountDelete, login: LoginDep, services: ServicesDep) -> Response:
    """Delete my account, confirmed by my password: every session of mine ends; my messages
    stay, shown as by "Deleted user"; each room I own passes to its longest-standing member,
    or is destroyed if I am alone in it. Download ``/api/me/export`` first to keep a copy."""
    await services.accounts.confirm_password(login.user, body.password)
    await services.admin.delete_user(login.user.id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.put("/password", status_code=status.HTTP_204_NO_CONTENT)
async def change_password(body: PasswordChange, login: LoginDep, services: ServicesDep) -> Response:
    """Set a new password; every other session of yours is ended."""
    await services.accounts.change_password(
        login.user, login.session, body.current_password, body.new_password
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/avatar", response_model=UserOut)
async def upload_avatar(
    user: CurrentUser, services: ServicesDep, avatar: Annotated[UploadFile, File()]
) -> UserOut:
    """Upload a PNG, JPEG, GIF or WebP (multipart field ``avatar``, at most 5 MB by default)."""
    limit = services.settings.max_avatar_bytes
    data = await avatar.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"Avatars are limited to {limit:,} bytes.", code="upload_too_large")
    updated = await services.media.set_avatar(user, data)
    return user_out(updated)


@router.delete("/avatar", response_model=UserOut)
async def delete_avatar(user: CurrentUser, services: ServicesDep) -> UserOut:
    updated = await services.media.remove_avatar(user)
    return user_out(updated)


@router.get("/sessions", response_model=list[MySessionOut])
async def list_my_sessions(login: LoginDep, services: ServicesDep) -> list[MySessionOut]:
    """My live sessions, newest first; ``current`` marks the one making this request."""
    return await services.accounts.list_sessions(login.user, login.session)


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_my_session(session_id: str, login: LoginDep, services: ServicesDep) -> Response:
    """End one of my sessions: its cookie stops working and its sockets drop, on every node.
    Ending the current one is a log-out (the cookie is cleared too)."""
    ended = await services.accounts.revoke_session(login.user, session_id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    if ended == login.session.id:
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.get("/export", response_model=AccountExport)
async def export_me(user: CurrentUser, services: ServicesDep) -> AccountExport:
    """My profile and every message I sent (public and private), as JSON."""
    return await services.accounts.export(user)
