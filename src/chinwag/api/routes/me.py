"""The logged-in user's own profile, password and avatar."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Response, UploadFile, status

from chinwag.api.deps import CurrentUser, LoginDep, ServicesDep
from chinwag.errors import TooLarge
from chinwag.schemas import PasswordChange, ProfileUpdate, UserOut
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
