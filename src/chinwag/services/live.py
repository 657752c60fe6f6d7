"""Live state: connections, entering and leaving rooms, presence, typing clean-up, search.

The one service that owns what is live: who is connected, who entered which room, and what
follows when a revocation ends someone's subscriptions. Presence and typing change here
and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence

from chinwag.backends import Backends
from chinwag.config import Settings
from chinwag.db import queries
from chinwag.db.engine import Database
from chinwag.db.models import AuthSession, Room, User, utcnow
from chinwag.errors import Forbidden, NotAuthenticated
from chinwag.schemas import MemberOut, RoomOut
from chinwag.services.access import access_room, load_room_out, require_room
from chinwag.services.accounts import AccountService, check_token
from chinwag.services.presence import PresenceRegistry
from chinwag.services.ratelimit import RateLimiter
from chinwag.services.realtime import (
    Audience,
    LiveConnection,
    MemberRevoked,
    Realtime,
    Removed,
    Revocation,
    RoomGone,
    SessionEnded,
)
from chinwag.services.typing import TypingService
from chinwag.services.views import presence_event, user_out

MAX_RESULTS = 100


def matches(user: User, query: str) -> bool:
    """Case-insensitive prefix of the username, the full name, or a word of the full name."""
    if not query:
        return True
    query = query.casefold()
    full_name = user.full_name.casefold()
    return (
        user.username_key.startswith(query)
        or full_name.startswith(query)
        or any(word.startswith(query) for word in full_name.split())
    )


class LiveService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        realtime: Realtime,
        accounts: AccountService,
        presence: PresenceRegistry,
        typing: TypingService,
        backends: Backends,
    ) -> None:
        self.db = db
        self.realtime = realtime
        self.accounts = accounts
        self.presence = presence
        self.typing = typing
        # the user behind each live connection, kept fresh by profile changes: events need
        # no database round trip to know who sends them
        self._users: dict[str, User] = {}
        accounts.on_user_updated.append(self._user_updated)
        counters = backends.counters
        self.enters = RateLimiter(
            counters, "enters", settings.enters_per_window, settings.enter_window_seconds
        )
        self.searches = RateLimiter(
            counters, "searches", settings.searches_per_window, settings.search_window_seconds
        )

    # ---- connections -------------------------------------------------------------------------
    async def connect(self, conn_id: str, token: str | None) -> tuple[AuthSession, User]:
        """Register the connection, then check its session: a log-out or password change
        that commits in between ends the registration, and the handshake is refused."""
        session_id = check_token(token)
        await self.realtime.open(conn_id, session_id)
        try:
            session, user = await self.accounts.require_session_id(session_id)
            if not await self.realtime.activate(conn_id, user.id, session.expires_at):
                raise NotAuthenticated("Your session was ended; log in again.")
        except BaseException:
            await self.realtime.close(conn_id)
            raise
        self._users[conn_id] = user
        return session, user

    async def current_user(self, conn_id: str) -> User:
        """The user of a live connection, checked on every event without a database read:
        the registry ends a connection whose session ended, is being ended or expired."""
        user = self._users.get(conn_id)
        if user is None or not await self.realtime.is_live(conn_id):
            raise NotAuthenticated("Your session has expired or was ended; log in again.")
        return user

    def _user_updated(self, user: User) -> None:
        for conn_id, known in self._users.items():
            if known.id == user.id:
                self._users[conn_id] = user

    async def disconnected(self, conn_id: str) -> None:
        """A connection ended: the user goes offline where this was their last one."""
        self._users.pop(conn_id, None)
        await self.realtime.close(conn_id)
        gone = []
        for room_id in self.presence.rooms_of(conn_id):
            user_id = self.presence.remove(room_id, conn_id)
            if user_id is not None:
                gone.append((room_id, user_id))
        await self._went_offline(gone)

    # ---- rooms -------------------------------------------------------------------------------
    async def enter(self, user: User, conn_id: str, code: str) -> tuple[RoomOut, list[User], int]:
        """Subscribe a connection to a member's room; returns the room, who is online, last seq.

        The subscription is registered before membership is checked, so a leave or destroy
        that commits in between ends it, and the enter is refused."""
        await self.enters.hit(f"enter:{user.id}", "You are entering and leaving rooms too fast.")
        async with self.db.read() as s:
            room_id = (await require_room(s, code)).id
        await self.realtime.subscribe(conn_id, room_id)
        try:
            async with self.db.read() as s:
                room = await access_room(s, user, code)
                room_view = await load_room_out(s, room)
        except BaseException:  # refused, or the database failed: no pending entry is left
            await self.realtime.unsubscribe(conn_id, room_id)
            raise
        if not await self.realtime.confirm(conn_id, room.id):
            raise Forbidden("You are no longer a member of this room.", code="not_member")
        came_online = self.presence.add(room.id, user.id, conn_id)
        async with self.db.read() as s:
            online = await queries.get_users(s, sorted(self.presence.online(room.id)))
        if came_online:
            await self.realtime.emit(
                "presence",
                presence_event(room, user, online=True),
                Audience.room_subscribers(room.id),
            )
        users = sorted(online.values(), key=lambda u: u.username_key)
        return room_view, users, room.last_seq

    async def exit(self, user: User, conn_id: str, code: str) -> None:
        await self.enters.hit(f"enter:{user.id}", "You are entering and leaving rooms too fast.")
        async with self.db.read() as s:
            room = await access_room(s, user, code)
        await self.realtime.unsubscribe(conn_id, room.id)
        if self.presence.remove(room.id, conn_id) is not None:
            await self._went_offline([(room.id, user.id)])

    async def revoked(self, revocations: list[Revocation], removed: list[Removed]) -> None:
        """After a revocation was applied: presence and typing of what it ended."""
        for revocation in revocations:
            if isinstance(revocation, RoomGone):  # nobody is left to tell
                self.presence.drop_room(revocation.room_id)
                self.typing.drop_room(revocation.room_id)
        gone = []
        for sub in removed:
            if self.presence.remove(sub.room_id, sub.conn_id) is not None:
                gone.append((sub.room_id, sub.user_id))
        await self._went_offline(gone)

    async def _went_offline(self, gone: list[tuple[int, int]]) -> None:
        if not gone:
            return
        async with self.db.read() as s:
            rooms = {room_id: await s.get(Room, room_id) for room_id, _ in gone}
            users = await queries.get_users(s, [user_id for _, user_id in gone])
        for room_id, user_id in gone:
            room, user = rooms[room_id], users.get(user_id)
            await self.typing.clear_user(room_id, user_id)
            if room is None or user is None:  # destroyed meanwhile: nobody to tell
                continue
            await self.realtime.emit(
                "presence",
                presence_event(room, user, online=False),
                Audience.room_subscribers(room.id),
            )

    # ---- search ------------------------------------------------------------------------------
    async def list_members(
        self, user: User, code: str, *, online_only: bool, query: str
    ) -> list[MemberOut]:
        await self.searches.hit(f"search:{user.id}", "You are searching too fast; slow down.")
        async with self.db.read() as s:
            room = await access_room(s, user, code)
            members = await queries.list_members(s, room.id)
        online = self.presence.online(room.id)
        found = []
        for member in members:
            is_online = member.id in online
            if (online_only and not is_online) or not matches(member, query):
                continue
            found.append(MemberOut(**user_out(member).model_dump(), online=is_online))
            if len(found) >= MAX_RESULTS:
                break
        return found

    # ---- what other nodes ask ----------------------------------------------------------------
    async def committed(self, revocations: Sequence[Revocation]) -> bool:
        """Whether a revocation whose node died before saying is in the database."""
        async with self.db.read() as s:
            for revocation in revocations:
                if isinstance(revocation, SessionEnded):
                    if await s.get(AuthSession, revocation.session_id) is None:
                        return True
                elif isinstance(revocation, MemberRevoked):
                    found = await queries.get_membership(s, revocation.room_id, revocation.user_id)
                    if found is None:
                        return True
                elif await s.get(Room, revocation.room_id) is None:
                    return True
        return False

    async def revalidate(self, conns: Sequence[LiveConnection]) -> list[Revocation]:
        """The revocations the database shows for these connections: their sessions ended
        or expired, rooms they hear that they left or that were destroyed."""
        missed: list[Revocation] = []
        now = utcnow()
        async with self.db.read() as s:
            for session_id in sorted({c.session_id for c in conns}):
                if await queries.get_session_user(s, session_id, now) is None:
                    missed.append(SessionEnded(session_id))
            for room_id in sorted({room for c in conns for room in c.rooms}):
                room = await s.get(Room, room_id)
                if room is None:
                    missed.append(RoomGone(room_id))
                    continue
                members = set(await queries.list_member_ids(s, room_id))
                for user_id in sorted({c.user_id for c in conns if room_id in c.rooms}):
                    if user_id not in members:
                        missed.append(MemberRevoked(user_id, room_id, room.version))
        return missed

    async def user_changed(self, user_id: int) -> None:
        """Another node changed this user's profile: refresh the cached copy."""
        if not any(known.id == user_id for known in self._users.values()):
            return
        async with self.db.read() as s:
            user = await s.get(User, user_id)
        if user is not None:
            self._user_updated(user)
