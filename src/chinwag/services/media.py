"""Avatars: decode with Pillow, refuse non-images and bombs, store a square thumbnail."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import warnings
from pathlib import Path

import anyio.to_thread
from PIL import Image, ImageOps, UnidentifiedImageError

from chinwag.config import Settings
from chinwag.db import queries
from chinwag.db.engine import Database
from chinwag.db.models import User
from chinwag.errors import NotAuthenticated, TooLarge, UnsupportedMedia
from chinwag.logs import get_logger
from chinwag.services.accounts import AccountService

log = get_logger(__name__)

AVATAR_SIZE = 256
MAX_PIXELS = 40_000_000  # decoded size cap: a 6,000 x 6,000 image is far more than enough
ACCEPTED_FORMATS = {"PNG", "JPEG", "GIF", "WEBP"}
AVATAR_NAME_LENGTH = 64 + len(".webp")


def make_thumbnail(data: bytes) -> bytes:
    """Decode an uploaded image and re-encode it as a square WebP thumbnail."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=sorted(ACCEPTED_FORMATS)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise TooLarge(
                        f"The image is {width}x{height}; at most {MAX_PIXELS:,} pixels.",
                        code="image_too_large",
                    )
                image.draft("RGB", (AVATAR_SIZE * 2, AVATAR_SIZE * 2))
                image.seek(0)
                image.load()
                frame = ImageOps.exif_transpose(image).convert("RGBA")
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise TooLarge("The image decodes to too many pixels.", code="image_too_large") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnsupportedMedia(
            "That file is not a PNG, JPEG, GIF or WebP image we can read.", code="not_an_image"
        ) from exc
    thumb = ImageOps.fit(frame, (AVATAR_SIZE, AVATAR_SIZE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, format="WEBP", quality=85, method=4)
    return out.getvalue()


class MediaService:
    """Avatar files are named by the SHA-256 of their bytes, so users with the same picture
    share one file; a file is deleted when the last user who shows it moves on.

    Writing a file, pointing a user at it and deleting a file nobody uses any more happen
    under one lock: otherwise a user could be pointed at a file that another user's
    replacement is deleting at that moment (the lock is per process, i.e. per node).
    """

    def __init__(self, settings: Settings, db: Database, accounts: AccountService) -> None:
        self.settings = settings
        self.db = db
        self.accounts = accounts
        self.avatar_dir = settings.media_dir / "avatars"
        self._files = asyncio.Lock()

    def avatar_path(self, name: str) -> Path | None:
        """The file behind a public avatar name, or None if the name is not one of ours."""
        if len(name) != AVATAR_NAME_LENGTH or not name.endswith(".webp"):
            return None
        if any(c not in "0123456789abcdef" for c in name[:64]):
            return None
        path = self.avatar_dir / name
        return path if path.is_file() else None

    async def set_avatar(self, user: User, data: bytes) -> User:
        if len(data) > self.settings.max_avatar_bytes:
            raise TooLarge(
                f"Avatars are limited to {self.settings.max_avatar_bytes:,} bytes.",
                code="upload_too_large",
            )
        thumbnail = await anyio.to_thread.run_sync(make_thumbnail, data)
        name = hashlib.sha256(thumbnail).hexdigest() + ".webp"
        async with self._files:
            await anyio.to_thread.run_sync(self._write, name, thumbnail)
            try:
                row = await self._replace(user, name)
            except Exception:
                await self._delete_if_unused(name)  # no file without a user behind it
                raise
        return row

    async def remove_avatar(self, user: User) -> User:
        async with self._files:
            return await self._replace(user, None)

    async def _replace(self, user: User, name: str | None) -> User:
        """Point the user at avatar ``name``; members see it (``user:updated``) after the commit."""
        async with self.accounts.committer.transaction() as tx:
            row = await tx.s.get(User, user.id)
            if row is None:
                raise NotAuthenticated("Your account no longer exists.")
            old, row.avatar = row.avatar, name
            await self.accounts.publish_user_updated(tx, row)
        log.info("avatar.updated", user_id=row.id)
        if old and old != name:
            await self._delete_if_unused(old)
        return row

    def _write(self, name: str, data: bytes) -> None:
        self.avatar_dir.mkdir(parents=True, exist_ok=True)
        path = self.avatar_dir / name
        if path.exists():
            return
        tmp = path.with_name(f"{name}.{os.getpid()}.{id(data)}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)

    async def _delete_if_unused(self, name: str) -> None:
        async with self.db.read() as s:
            in_use = await queries.count_avatar_users(s, name)
        if not in_use:
            (self.avatar_dir / name).unlink(missing_ok=True)
