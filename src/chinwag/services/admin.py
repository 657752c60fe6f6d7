"""Site administration: administrators, disabling, password resets, deleting accounts.

The same rules serve the command line (``chinwag admin ...``, on a committer whose
revocations reach the running nodes) and the web app's admin page (on the node's own).

Deleting an account keeps its row, anonymised, as the author of what it wrote: its
messages stay where they are, shown as by "Deleted user" (the username stays reserved, so
nobody else can take it and be mistaken for them in old messages). Its sessions end on
every node, its memberships go, its picture goes, and each room it owned passes to the
member who joined it first, or is destroyed if nobody else is in it.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from pydantic import ValidationError

from chinwag.config import Settings
from chinwag.db import queries
from chinwag.db.engine import Database
from chinwag.db.models import PasswordReset, Room, User, utcnow
from chinwag.errors import Conflict, InvalidInput, NotFound
from chinwag.events import RoomUpdatedEvent, publish
from chinwag.logs import get_logger
from chinwag.schemas import AdminUserList, AdminUserOut, SignUp
from chinwag.services.accounts import AccountService, session_id_of
from chinwag.services.media import MediaService
from chinwag.services.realtime import Audience, MemberRevoked, SessionEnded
from chinwag.services.rooms import remove_room
from chinwag.services.tx import Tx
from chinwag.services.views import admin_user_out, room_out

log = get_logger(__name__)

DELETED_NAME = "Deleted user"
# argon2 never verifies these: no password opens the account until it is set again
NO_PASSWORD = "!"  # noqa: S105 (not a password: a hash that matches none)


def user_not_found() -> NotFound:
    return NotFound("No such user.", code="user_not_found")


class AdminService:
    def __init__(
        self, settings: Settings, db: Database, accounts: AccountService, media: MediaService
    ) -> None:
        self.settings = settings
        self.db = db
        self.accounts = accounts
        self.media = media
        self.committer = accounts.committer

    # ---- looking ------------------------------------------------------------------------------
    async def list_users(self, q: str = "", *, limit: int = 50, offset: int = 0) -> AdminUserList:
        async with self.db.read() as s:
            rows, total = await queries.list_accounts(s, q.strip(), limit, offset)
        return AdminUserList(users=[admin_user_out(u, seen) for u, seen in rows], total=total)

    async def find(self, username: str) -> User:
        """The account with this username (any case), or NotFound; deleted ones are gone."""
        async with self.db.read() as s:
            user = await queries.get_user_by_username(s, username)
        if user is None or user.deleted_at is not None:
            raise user_not_found()
        return user

    # ---- administrators -----------------------------------------------------------------------
    async def create_admin(
        self, username: str, *, full_name: str | None, password: str | None
    ) -> tuple[User, bool]:
        """Make ``username`` a site administrator: an existing account is promoted (no
        password needed), otherwise one is created with the sign-up rules. Returns the user
        and whether it was created."""
        async with self.committer.transaction() as tx:
            found = await queries.get_user_by_username(tx.s, username)
            if found is not None and found.deleted_at is None:
                found.is_admin = True
                log.info("admin.promoted", user_id=found.id)
                return found, False
        if found is not None:
            raise Conflict("That username belonged to a deleted account.", code="username_taken")
        if password is None:
            raise InvalidInput("A new administrator needs a password.", code="password_required")
        try:
            data = SignUp(username=username, full_name=full_name or username, password=password)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InvalidInput(
                f"{'.'.join(map(str, first['loc']))}: {first['msg']}", code="invalid_input"
            ) from None
        user = await self.accounts.add_user(data, is_admin=True)
        log.info("admin.created", user_id=user.id)
        return user, True

    # ---- disabling ----------------------------------------------------------------------------
    async def set_disabled(
        self, user_id: int, disabled: bool, *, by: User | None = None
    ) -> AdminUserOut:
        """Disable (every session ends now, on every node, and log-in is refused) or enable
        an account."""
        self._not_self(user_id, by)
        async with self.committer.transaction() as tx:
            row = await self._lock(tx, user_id)
            ended = 0
            if disabled:
                row.disabled_at = row.disabled_at or utcnow()
                ended = await self._end_sessions(tx, row)
            else:
                row.disabled_at = None
            last_seen = await queries.last_seen(tx.s, row.id)
        log.info("user.disabled" if disabled else "user.enabled", user_id=row.id, sessions=ended)
        return admin_user_out(row, last_seen)

    # ---- passwords ----------------------------------------------------------------------------
    async def reset_password(self, user_id: int) -> tuple[str, PasswordReset]:
        """A one-time code that sets a new password; the old password and every session stop
        working now. The code is shown once (only its hash is kept); a new one replaces it."""
        code = secrets.token_urlsafe(16)
        now = utcnow()
        reset = PasswordReset(
            id=session_id_of(code),
            user_id=user_id,
            created_at=now,
            expires_at=now + timedelta(seconds=self.settings.password_reset_ttl_seconds),
        )
        async with self.committer.transaction() as tx:
            row = await self._lock(tx, user_id)
            row.password_hash = NO_PASSWORD
            ended = await self._end_sessions(tx, row)
            await queries.delete_password_resets(tx.s, row.id)
            tx.s.add(reset)
        log.info("password.reset_issued", user_id=user_id, sessions_ended=ended)
        return code, reset

    def reset_link(self, code: str) -> str | None:
        """Where the code is used, when the server's address is known (CHINWAG_PUBLIC_URL);
        in the fragment, so that it is never sent in a request or a Referer."""
        base = self.settings.public_url
        return f"{base.rstrip('/')}/reset-password#code={code}" if base else None

    # ---- deleting -----------------------------------------------------------------------------
    async def delete_user(self, user_id: int, *, by: User | None = None) -> None:
        """Delete an account as described at the top of this module."""
        self._not_self(user_id, by)
        async with self.committer.transaction() as tx:
            row = await self._lock(tx, user_id)
            handed, destroyed = await self._hand_over_rooms(tx, row)
            old_avatar = row.avatar
            row.full_name, row.avatar, row.password_hash = DELETED_NAME, None, NO_PASSWORD
            row.is_admin, row.disabled_at, row.deleted_at = False, None, utcnow()
            await self.accounts.publish_user_updated(tx, row)  # members see "Deleted user"
            for room_id in await queries.list_room_ids_of_user(tx.s, row.id):
                version = await queries.bump_version(tx.s, room_id)
                await queries.delete_membership(tx.s, room_id, row.id)
                if version is not None:
                    tx.revoke(MemberRevoked(row.id, room_id, version))
            ended = await self._end_sessions(tx, row)
            await queries.delete_password_resets(tx.s, row.id)
        log.info(
            "user.deleted",
            user_id=row.id,
            sessions_ended=ended,
            rooms_handed_over=handed,
            rooms_destroyed=destroyed,
        )
        if old_avatar:
            await self.media.delete_if_unused(old_avatar)

    async def _hand_over_rooms(self, tx: Tx, row: User) -> tuple[int, int]:
        handed = destroyed = 0
        for room in await queries.list_owned_rooms(tx.s, row.id):
            heir = await queries.longest_member(tx.s, room.id, but=row.id)
            version = await queries.bump_version(tx.s, room.id)
            if version is None:
                continue  # destroyed meanwhile
            if heir is None:
                await remove_room(tx, room)
                destroyed += 1
            else:
                self._hand_over(tx, room, heir, version)
                handed += 1
        return handed, destroyed

    @staticmethod
    def _hand_over(tx: Tx, room: Room, heir: User, version: int) -> None:
        room.owner_id = heir.id
        event = RoomUpdatedEvent(room=room_out(room, heir))
        publish(
            tx,
            event,
            Audience.room_subscribers(room.id),
            Audience.members(room.id, [heir.id], version),
        )

    # ---- shared -------------------------------------------------------------------------------
    @staticmethod
    def _not_self(user_id: int, by: User | None) -> None:
        if by is not None and by.id == user_id:
            raise Conflict(
                "Administrators cannot do this to their own account.", code="cannot_act_on_self"
            )

    @staticmethod
    async def _lock(tx: Tx, user_id: int) -> User:
        row = await queries.get_account(tx.s, user_id)
        if row is None:
            raise user_not_found()
        return row

    @staticmethod
    async def _end_sessions(tx: Tx, row: User) -> int:
        ended = await queries.delete_sessions(tx.s, row.id)
        for session_id in ended:
            tx.revoke(SessionEnded(session_id))
        return len(ended)
