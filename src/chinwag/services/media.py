"""Avatars: decode with Pillow, refuse non-images and bombs, store a square thumbnail
in the database (any node serves what any node stored)."""

from __future__ import annotations

import hashlib
import io
import re
import warnings

from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chinwag.backends import Backends
from chinwag.config import Settings
from chinwag.db import queries
from chinwag.db.engine import Database
from chinwag.db.models import User
from chinwag.errors import Busy, NotAuthenticated, TooLarge, UnsupportedMedia
from chinwag.logs import get_logger
from chinwag.services.accounts import AccountService
from chinwag.services.pools import WorkPool
from chinwag.services.ratelimit import RateLimiter

log = get_logger(__name__)

AVATAR_SIZE = 256
ACCEPTED_FORMATS = {"PNG", "JPEG", "GIF", "WEBP"}
AVATAR_NAME = re.compile(r"[0-9a-f]{64}\.webp")
CLAIM_ATTEMPTS = 3
WORKING_SIZE = AVATAR_SIZE * 2  # decode and shrink to about this before the final resize


def check_decoded_size(image: Image.Image, max_pixels: int) -> None:
    """Refuse an image whose decode would hold more than ``max_pixels`` pixels, before decoding.

    A sequential JPEG is decoded at 1/2, 1/4 or 1/8 scale (``draft``) and streams row by row,
    so the cap applies to the reduced size it is really decoded at: a large phone photo stays
    cheap. Everything else is held whole at its declared size, so the cap applies to that:
    PNG, GIF, WebP, and also progressive JPEGs (their output is reduced too, but libjpeg keeps
    every coefficient of the full image while it decodes them) and JPEGs without quantization
    tables (lossless, which do not scale). Pillow's own limit (89 Mpx declared) refuses
    anything larger first.
    """
    width, height = image.size
    if isinstance(image, JpegImagePlugin.JpegImageFile):
        image.draft("RGB", (WORKING_SIZE, WORKING_SIZE))  # any JPEG: a smaller output
        if image.quantization and not image.info.get("progressive"):
            width, height = image.size
    if width * height > max_pixels:
        raise TooLarge(
            f"The image decodes to {width}x{height}; at most {max_pixels:,} pixels.",
            code="image_too_large",
        )


def shrink(image: Image.Image) -> Image.Image:
    """The loaded image reduced to about WORKING_SIZE, upright, as RGBA.

    Reduced before it is turned and converted to RGBA, so those copies are of the small image:
    a decode holds the decoded image and at most one full-size copy of it (palette images are
    expanded once; RGBA is premultiplied once by ``reduce``).
    """
    frame = image
    if image.mode == "1":
        frame = image.convert("L")
    elif image.mode not in ("RGB", "RGBA", "L", "LA"):
        frame = image.convert("RGBA" if image.has_transparency_data else "RGB")
    factor = min(frame.size) // WORKING_SIZE
    if factor > 1:
        frame = frame.reduce(factor)
    return ImageOps.exif_transpose(frame).convert("RGBA")


def make_thumbnail(data: bytes, max_pixels: int) -> bytes:
    """Decode an uploaded image and re-encode it as a square WebP thumbnail."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=sorted(ACCEPTED_FORMATS)) as image:
                image.seek(0)
                check_decoded_size(image, max_pixels)
                image.load()
                frame = shrink(image)
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
    """Avatars are rows named by the SHA-256 of their bytes, so users with the same picture
    share one; a row is deleted when the last user who shows it moves on.

    Any node may store, serve or delete one, so nothing about them is held in the process:
    the database keeps them consistent. A change stores the new picture and points the user
    at it in one transaction (``queries.claim_avatar`` keeps the row from being deleted
    until it commits), then deletes the old picture if nobody shows it in a second one
    (``queries.delete_avatar_if_unused``; the foreign key refuses the delete if someone
    started showing it meanwhile). Keeping the two apart means no transaction waits for a
    row lock while it holds another (two users swapping pictures would deadlock). A node
    that dies between them leaves an unused row behind, never a user without their picture.
    """

    def __init__(
        self, settings: Settings, db: Database, accounts: AccountService, backends: Backends
    ) -> None:
        self.settings = settings
        self.db = db
        self.accounts = accounts
        # A decode holds up to ~16 bytes per pixel (WebP; PNG ~8): the pool bounds how many
        # run at once, so memory stays near workers x 16 x max_avatar_pixels.
        self.decodes = WorkPool(
            "image decodes",
            workers=settings.image_decode_workers,
            queue=settings.image_decode_queue,
            retry_after=2,
        )
        self.uploads = RateLimiter(
            backends.counters,
            "avatar-uploads",
            settings.avatar_uploads_per_window,
            settings.avatar_upload_window_seconds,
        )

    async def get_avatar(self, name: str) -> bytes | None:
        """The thumbnail behind a public avatar name, or None if the name is not one of ours."""
        if not AVATAR_NAME.fullmatch(name):
            return None
        async with self.db.read() as s:
            return await queries.get_avatar_data(s, name)

    async def set_avatar(self, user: User, data: bytes) -> User:
        """Decode, shrink and store an upload. Every attempt counts against the user's
        upload limit; the decode waits for a place in the decode pool, or is refused."""
        await self.uploads.hit(f"user:{user.id}", "Too many avatar uploads; try again later.")
        if len(data) > self.settings.max_avatar_bytes:
            raise TooLarge(
                f"Avatars are limited to {self.settings.max_avatar_bytes:,} bytes.",
                code="upload_too_large",
            )
        thumbnail = await self.decodes.run(make_thumbnail, data, self.settings.max_avatar_pixels)
        return await self._replace(user, thumbnail)

    async def remove_avatar(self, user: User) -> User:
        return await self._replace(user, None)

    async def _replace(self, user: User, thumbnail: bytes | None) -> User:
        """Point the user at ``thumbnail`` (stored in the same transaction) or at none;
        members see it (``user:updated``) after the commit. Then the old one goes if nobody
        shows it."""
        name: str | None = None
        async with self.accounts.committer.transaction() as tx:
            if thumbnail is not None:
                name = hashlib.sha256(thumbnail).hexdigest() + ".webp"
                await self._claim(tx.s, name, thumbnail)
            # locked, so that of two changes at once the second sees the first's avatar as old
            row = await tx.s.get(User, user.id, with_for_update=True)
            if row is None:
                raise NotAuthenticated("Your account no longer exists.")
            old, row.avatar = row.avatar, name
            await self.accounts.publish_user_updated(tx, row)
        log.info("avatar.updated", user_id=row.id)
        if old and old != name:
            await self.delete_if_unused(old)
        return row

    async def _claim(self, s: AsyncSession, name: str, thumbnail: bytes) -> None:
        for _ in range(CLAIM_ATTEMPTS):  # another attempt only if a clean-up deleted it just now
            if await queries.claim_avatar(s, name, thumbnail):
                return
        raise Busy("That picture is being changed by others right now.", retry_after=1)

    async def delete_if_unused(self, name: str) -> None:
        try:
            async with self.db.transaction() as s:
                deleted = await queries.delete_avatar_if_unused(s, name)
        except IntegrityError:  # someone started showing it meanwhile: the foreign key kept it
            deleted = False
        if deleted:
            log.info("avatar.deleted")
