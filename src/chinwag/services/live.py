"""Live state: connections, entering and leaving rooms, presence, typing clean-up, search.

The one service that owns what is live: who is connected, who entered which room, and what
follows when a revocation ends someone's subscriptions. Presence and typing change here
and nowhere else.

Presence is shared by the nodes (``Backends.presence``); each node counts its own
connections in and out, beats to say it is alive, and reaps the nodes that stopped
beating. Presence is best-effort while Redis does not answer: entering still works, and
the node's connections are counted again once Redis answers.

Presence is announced in batches: each node notes the users it saw come online or go
offline in a room, and at most once per ``CHINWAG_PRESENCE_INTERVAL_SECONDS`` tells each
room the last change it saw of each (one ``presence`` event), checked against who is
online then. The online list is paged (``CHINWAG_PRESENCE_PAGE_SIZE``): entering answers
its first page and the count, never the whole list.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from chinwag.backends import Backends, BackendUnavailable, Presence, RoomUser
from chinwag.backends.ports import stop_if_cancelled
from chinwag.config import Settings
from chinwag.db import live_reads, queries
from chinwag.db.engine import Database
from chinwag.db.live_reads import OnlineUser
from chinwag.db.models import AuthSession, Room, User, utcnow
from chinwag.errors import Forbidden, NotAuthenticated
from chinwag.events import PresenceEvent, emit
from chinwag.logs import get_logger
from chinwag.schemas import MemberOut
from chinwag.services.access import access_room, normalize_code, not_member, room_not_found
from chinwag.services.accounts import AccountService, check_token
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
from chinwag.services.views import room_wire, user_out

MAX_RESULTS = 100
ROOM_IDS_KEPT = 10_000  # room codes whose ids this node remembers (forgotten all at once past it)

log = get_logger(__name__)


@dataclass(frozen=True)
class OnlinePage:
    """A page of a room's online users by username, how many are online, and the
    ``after`` of the next page (None: this is the last)."""

    users: list[OnlineUser]
    count: int
    next: str | None


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
        presence: Presence,
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
        # this node's connections in presence: their user and the rooms they entered, and
        # one lock each, so an enter and a revocation of one connection count in order
        self._entered: dict[str, tuple[int, set[int]]] = {}
        # room code -> id, as entering read them: a room's code never changes and its id
        # never names another room, so an id remembered holds while the room lives (the
        # read after subscribing finds out when it does not, and forgets it)
        self._room_ids: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        # a presence call failed (Redis did not answer): count this node's connections
        # again at the next heartbeat; ``_changes`` tells whether they changed meanwhile
        self._out_of_sync = False
        self._changes = 0
        self._keep_alive = backends.shared
        self._heartbeat = settings.node_heartbeat_seconds
        self._beating: asyncio.Task[None] | None = None
        # presence changes this node saw since its last announcement: room -> user -> whether
        # the last of them was coming online (told if the shared state still says so)
        self._pending: dict[int, dict[int, bool]] = {}
        self._interval = settings.presence_interval_seconds
        self._page_size = settings.presence_page_size
        self._flushing: asyncio.Task[None] | None = None
        self._closed = False  # stopping: what changes now is told at once, by ``close``
        self._flush_lock = asyncio.Lock()
        self._flushes: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak ones
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
        self._locks[conn_id] = asyncio.Lock()
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
        async with self._lock(conn_id):
            user_id, rooms = self._entered.get(conn_id, (0, set()))
            for room_id in sorted(rooms):
                if await self._remove(conn_id, room_id):
                    gone.append((room_id, user_id))
        self._locks.pop(conn_id, None)
        await self._went_offline(gone)

    # ---- rooms -------------------------------------------------------------------------------
    async def enter(
        self, user: User, conn_id: str, code: str
    ) -> tuple[dict[str, Any], OnlinePage, int]:
        """Subscribe a connection to a member's room; returns the room (a ``RoomOut``'s JSON
        dump), the first page of who is online, and its last seq.

        The subscription is registered before membership is checked, so a leave or destroy
        that commits in between ends it, and the enter is refused. Each step is one read of
        plain SQL (``chinwag.db.live_reads``): the room's id (once per room and node), then
        the room with its owner and the membership, then the online page."""
        await self.enters.hit(f"enter:{user.id}", "You are entering and leaving rooms too fast.")
        code = normalize_code(code)
        room_id = self._room_ids.get(code)
        if room_id is None:
            room_id = await self.db.run_read(lambda conn: live_reads.get_room_id(conn, code))
            if room_id is None:
                raise room_not_found()
            if len(self._room_ids) >= ROOM_IDS_KEPT:
                self._room_ids.clear()
            self._room_ids[code] = room_id
        await self.realtime.subscribe(conn_id, room_id)
        try:
            room = await self.db.run_read(
                lambda conn: live_reads.get_room_entry(conn, code, user.id)
            )
            if room is None or room.id != room_id:  # destroyed since its id was read
                self._room_ids.pop(code, None)
                raise room_not_found()
            if not room.is_member:
                raise not_member()
        except BaseException:  # refused, or the database failed: no pending entry is left
            await self.realtime.unsubscribe(conn_id, room_id)
            raise
        async with self._lock(conn_id):  # a revocation that ended it counts after this
            if not await self.realtime.confirm(conn_id, room.id):
                raise Forbidden("You are no longer a member of this room.", code="not_member")
            if await self._add(conn_id, room.id, user.id):
                self._changed(room.id, user.id, online=True)
        online = await self._page(room.id, await self._online(room.id, user.id), None, None)
        view = room_wire(room.code, room.name, room.owner, room.created_at)
        return view, online, room.last_seq

    async def exit(self, user: User, conn_id: str, code: str) -> None:
        await self.enters.hit(f"enter:{user.id}", "You are entering and leaving rooms too fast.")
        code = normalize_code(code)
        found = await self.db.run_read(
            lambda conn: live_reads.get_room_membership(conn, code, user.id)
        )
        if found is None:
            raise room_not_found()
        room_id, is_member = found
        if not is_member:
            raise not_member()
        await self.realtime.unsubscribe(conn_id, room_id)
        async with self._lock(conn_id):
            went_offline = await self._remove(conn_id, room_id)
        if went_offline:
            await self._went_offline([(room_id, user.id)])

    async def revoked(self, revocations: list[Revocation], removed: list[Removed]) -> None:
        """After a revocation was applied (on every node, for that node's connections):
        presence and typing of what it ended."""
        for revocation in revocations:
            if isinstance(revocation, RoomGone):  # nobody is left to tell
                await self._forget_room(revocation.room_id)
        gone = []
        for sub in removed:
            async with self._lock(sub.conn_id):
                if await self._remove(sub.conn_id, sub.room_id):
                    gone.append((sub.room_id, sub.user_id))
        await self._went_offline(gone)

    async def _forget_room(self, room_id: int) -> None:
        for conn_id in [c for c, (_, rooms) in self._entered.items() if room_id in rooms]:
            async with self._lock(conn_id):
                await self._remove(conn_id, room_id)
        with contextlib.suppress(BackendUnavailable):  # each node takes out its own anyway
            await self.presence.drop_room(room_id)
        self._pending.pop(room_id, None)
        await self.typing.drop_room(room_id)

    # ---- presence of this node's connections -------------------------------------------------
    def _lock(self, conn_id: str) -> asyncio.Lock:
        # a connection no longer (or never) here has nothing to order: any lock does
        return self._locks.get(conn_id) or asyncio.Lock()

    async def _add(self, conn_id: str, room_id: int, user_id: int) -> bool:
        """Count the connection in the room; True if its user just came online there.

        While the shared state does not answer, this node's connections are counted
        here, and in presence again at the first heartbeat that gets through."""
        self._entered.setdefault(conn_id, (user_id, set()))[1].add(room_id)
        self._changes += 1
        if self._out_of_sync:
            return False
        try:
            return await self.presence.add(room_id, user_id, conn_id)
        except BackendUnavailable:
            self._out_of_sync = True
            return False

    async def _remove(self, conn_id: str, room_id: int) -> bool:
        """Count the connection out of the room; True if its user just went offline there."""
        entry = self._entered.get(conn_id)
        if entry is None or room_id not in entry[1]:
            return False
        entry[1].discard(room_id)
        if not entry[1]:
            del self._entered[conn_id]
        self._changes += 1
        if self._out_of_sync:
            return False
        try:
            return await self.presence.remove(room_id, conn_id)
        except BackendUnavailable:
            self._out_of_sync = True
            return False

    async def _online(self, room_id: int, user_id: int | None) -> set[int]:
        """Who is online in the room, or, while the shared state does not answer, who is
        online there through this node (and ``user_id``, who just entered)."""
        try:
            return await self.presence.online(room_id)
        except BackendUnavailable:
            here = {user for user, rooms in self._entered.values() if room_id in rooms}
            return here if user_id is None else here | {user_id}

    # ---- announcing presence, in batches -----------------------------------------------------
    def _changed(self, room_id: int, user_id: int, *, online: bool) -> None:
        """Note that the user came online (or went offline) in the room, for the next batch."""
        self._pending.setdefault(room_id, {})[user_id] = online
        if not self._closed and (self._flushing is None or self._flushing.done()):
            self._flushing = asyncio.get_running_loop().create_task(self._flush_later())
            self._flushes.add(self._flushing)
            self._flushing.add_done_callback(self._flushes.discard)

    async def _went_offline(self, gone: list[RoomUser]) -> None:
        """Users went offline: their typing stops now, their going is in the next batch."""
        for room_id, user_id in gone:
            await self.typing.clear_user(room_id, user_id)
            self._changed(room_id, user_id, online=False)

    def _came_online(self, came: list[RoomUser]) -> None:
        for room_id, user_id in came:
            self._changed(room_id, user_id, online=True)

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._interval)
        self._flushing = None  # what is noted from now on goes in the next batch
        try:
            await self.flush()
        except Exception:  # the database, say: what it held is lost, the next batch goes on
            log.exception("presence.announce_failed")

    async def flush(self) -> None:
        """Tell each room with noted changes who came online and who went offline there
        since the last batch, by the last change this node saw of each, where the shared
        state still says so (a later change on another node is that node's to tell).

        Someone who came and went in between is told offline, and someone who went and came
        back (a reload) online: the state in between may have been seen (an enter's answer,
        a page of the online list, another node's ``count``), and left unsaid it would stay
        wrong there. One batch at a time, in order."""
        async with self._flush_lock:
            pending, self._pending = self._pending, {}
            if pending:
                await self._announce(pending)

    async def _announce(self, pending: dict[int, dict[int, bool]]) -> None:
        async with self.db.read() as s:
            rooms = {room_id: await s.get(Room, room_id) for room_id in pending}
            users = await queries.get_users(s, [u for changes in pending.values() for u in changes])
        for room_id, changes in pending.items():
            room = rooms[room_id]
            if room is None:  # destroyed meanwhile: nobody to tell
                continue
            online = await self._online(room_id, None)
            came = [users[u] for u, up in changes.items() if up and u in online and u in users]
            went = [
                users[u] for u, up in changes.items() if not up and u not in online and u in users
            ]
            if not came and not went:
                continue
            came.sort(key=lambda u: u.username_key)
            await emit(
                self.realtime,
                PresenceEvent(
                    room=room.code,
                    online=[user_out(u) for u in came[: self._page_size]],
                    offline=sorted(u.username for u in went),
                    count=len(online),
                ),
                Audience.room_subscribers(room_id),
            )

    async def _page(
        self, room_id: int, online: set[int], after: str | None, limit: int | None
    ) -> OnlinePage:
        """A page of the online users. Up to two pages of them are read by id; more, by
        walking the members in username order, two pages a statement, keeping those online
        until the page is full: no statement binds every online id. Every statement is in
        one read (one hop on SQLite)."""
        limit = min(limit or self._page_size, self._page_size)
        step_size = 2 * (limit + 1)
        by_id = len(online) <= 2 * self._page_size

        def read(conn: Connection) -> list[OnlineUser]:  # one read, every statement in it
            if by_id:
                return live_reads.get_users_page(conn, online, after=after, limit=limit + 1)
            users: list[OnlineUser] = []
            walked = after
            while len(users) <= limit:
                step = live_reads.list_members_page(conn, room_id, after=walked, limit=step_size)
                users += [u for u in step if u.id in online]
                if len(step) < step_size:
                    break
                walked = step[-1].username_key
            return users

        users = await self.db.run_read(read) if online else []
        more = len(users) > limit
        users = users[:limit]
        return OnlinePage(users, len(online), users[-1].username_key if more else None)

    # ---- keeping this node alive among the others --------------------------------------------
    def start(self) -> None:
        """With shared state: beat every ``CHINWAG_NODE_HEARTBEAT_SECONDS`` until ``close``."""
        if self._keep_alive and self._beating is None:
            self._beating = asyncio.get_running_loop().create_task(self._beat_forever())

    async def _beat_forever(self) -> None:
        while True:
            try:
                await self.beat()
            except Exception:  # the database, say: the next beat tries again
                log.exception("presence.beat_failed")
            stop_if_cancelled()
            await asyncio.sleep(self._heartbeat)

    async def beat(self) -> None:
        """This node is alive; its connections are counted again if presence lost them or
        missed calls; the connections of nodes found dead are taken out, and their users
        who thereby went offline are announced (by this node only)."""
        try:
            if await self.presence.heartbeat() or self._out_of_sync:
                await self._resync()
            gone = await self.presence.reap()
        except BackendUnavailable:
            return  # logged; the next beat tries again
        if gone:
            log.info("presence.reaped", offline=len(gone))
        await self._went_offline(gone)

    async def _resync(self) -> None:
        changes = self._changes
        entries = [
            (room_id, conn_id, user_id)
            for conn_id, (user_id, rooms) in self._entered.items()
            for room_id in rooms
        ]
        came, gone = await self.presence.resync(entries)
        # what changed while the resync ran may be missing: the next beat counts it again
        self._out_of_sync = self._changes != changes
        log.info("presence.resynced", connections=len(entries), came=len(came), went=len(gone))
        self._came_online(came)
        await self._went_offline(gone)

    async def close(self) -> None:
        """This node stops: it beats no more and takes its connections out of presence, so
        nobody is left online through it (if Redis does not answer, the others reap it)."""
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating
            self._beating = None
        self._closed = True
        if self._flushing is not None:
            self._flushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flushing
            self._flushing = None
        try:
            gone = await self.presence.leave()
        except BackendUnavailable:
            gone = []
        self._entered.clear()
        try:
            await self._went_offline(gone)
            await self.flush()  # now: nothing is left to announce them later
        except Exception:
            log.exception("presence.goodbye_failed")

    # ---- the online list and search ----------------------------------------------------------
    async def list_online(
        self, user: User, code: str, *, after: str | None, limit: int | None
    ) -> OnlinePage:
        """A page of the room's online users, by username, after the username ``after``."""
        await self.searches.hit(f"search:{user.id}", "You are searching too fast; slow down.")
        async with self.db.read() as s:
            room = await access_room(s, user, code)
        online = await self.presence.online(room.id)  # Redis not answering: 503, try again
        return await self._page(room.id, online, None if after is None else after.casefold(), limit)

    async def list_members(
        self, user: User, code: str, *, online_only: bool, query: str
    ) -> list[MemberOut]:
        await self.searches.hit(f"search:{user.id}", "You are searching too fast; slow down.")
        async with self.db.read() as s:
            room = await access_room(s, user, code)
            members = await queries.list_members(s, room.id)
        online = await self.presence.online(room.id)  # Redis not answering: 503, try again
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
