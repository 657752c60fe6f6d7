"""Accounts and login sessions: sign-up, log-in throttling, CSRF tokens, profile."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError

from chinwag.backends import Backends
from chinwag.config import Settings
from chinwag.db import queries
from chinwag.db.engine import Database
from chinwag.db.models import AuthSession, SiteInvite, User, utcnow
from chinwag.errors import BadRequest, Conflict, Forbidden, NotAuthenticated, NotFound
from chinwag.events import UserUpdatedEvent, publish
from chinwag.logs import get_logger
from chinwag.schemas import (
    USERNAME_RE,
    AccountExport,
    ExportedMessage,
    MySessionOut,
    SignUp,
)
from chinwag.services.pools import WorkPool
from chinwag.services.ratelimit import RateLimiter
from chinwag.services.realtime import Audience, SessionEnded
from chinwag.services.sessions import SessionLookup
from chinwag.services.tx import Committer, Tx
from chinwag.services.views import user_out

log = get_logger(__name__)


def session_id_of(token: str) -> str:
    """The stored id of a session: the SHA-256 of the cookie's token."""
    return hashlib.sha256(token.encode()).hexdigest()


PUBLIC_ID_LENGTH = 16
USER_AGENT_LENGTH = 200


def public_id_of(session_id: str) -> str:
    """A session's id in the API: the first 16 hex digits of its stored id. Not a cookie
    (the cookie is the token, which the hash does not give back), and unique enough among
    one user's sessions; a request names only the caller's own sessions."""
    return session_id[:PUBLIC_ID_LENGTH]


def check_token(token: str | None) -> str:
    """The session id a cookie token names, or NotAuthenticated if it cannot name one."""
    if not token or len(token) > 256:
        raise NotAuthenticated("Log in first.")
    return session_id_of(token)


async def create_invite(
    db: Database, *, uses: int, expires_in: timedelta
) -> tuple[str, SiteInvite]:
    """A new site invite; returns its code, shown once: only its SHA-256 is kept."""
    code = secrets.token_urlsafe(12)
    now = utcnow()
    invite = SiteInvite(
        id=session_id_of(code), uses_left=uses, created_at=now, expires_at=now + expires_in
    )
    async with db.transaction() as s:
        s.add(invite)
    log.info("invite.created", uses=uses, expires_at=invite.expires_at.isoformat())
    return code, invite


class AccountService:
    def __init__(
        self, settings: Settings, db: Database, committer: Committer, backends: Backends
    ) -> None:
        self.settings = settings
        self.db = db
        self.committer = committer
        # told (after the commit) when a user's profile changed: the live service's cache
        self.on_user_updated: list[Callable[[User], None]] = []
        self.locks = backends.locks
        self.hasher = PasswordHasher()
        # argon2id takes ~64 MiB and tens of milliseconds of CPU per check: a few threads
        # bound the memory, and a short line keeps a flood from delaying everyone for long.
        self.hashes = WorkPool(
            "password checks",
            workers=settings.password_hash_workers,
            queue=settings.password_hash_queue,
            retry_after=1,
        )
        self._dummy_hash = self.hasher.hash(secrets.token_hex(16))
        self.sessions = SessionLookup(db)
        counters, window = backends.counters, settings.login_window_seconds
        self.user_failures = RateLimiter(
            counters, "failures-per-user", settings.login_failures_per_user, window
        )
        self.address_failures = RateLimiter(
            counters, "failures-per-address", settings.login_failures_per_address, window
        )
        self.signups = RateLimiter(
            counters, "signups", settings.signups_per_window, settings.signup_window_seconds
        )
        self.resets = RateLimiter(
            counters,
            "password-resets",
            settings.password_resets_per_window,
            settings.password_reset_window_seconds,
        )

    # ---- passwords ----------------------------------------------------------------------------
    async def _hash(self, password: str) -> str:
        return await self.hashes.run(self.hasher.hash, password)

    async def _verify(self, password_hash: str, password: str) -> bool:
        def verify() -> bool:
            try:
                return self.hasher.verify(password_hash, password)
            except (VerificationError, InvalidHashError):
                return False

        return await self.hashes.run(verify)

    # ---- accounts -----------------------------------------------------------------------------
    def check_registration(self, data: SignUp) -> str | None:
        """Refuse a sign-up the registration mode does not let in; the stored id of the
        invite it must use, if any."""
        mode = self.settings.registration
        if mode == "closed":
            raise Forbidden("Sign-up is closed on this server.", code="registration_closed")
        if mode == "open":
            return None
        if not data.invite:
            raise Forbidden(
                "Sign-up on this server needs an invite code; ask its administrator.",
                code="invite_required",
            )
        return session_id_of(data.invite)

    async def create_user(self, data: SignUp, address: str) -> User:
        """Create an account. Every attempt the registration mode lets through counts
        against its client address's sign-up limit before the (slow) password hash, whether
        or not it then succeeds. An invite's use is taken in the account's transaction: a
        refused sign-up leaves it unused."""
        invite_id = self.check_registration(data)
        await self.signups.hit(f"addr:{address}", "Too many sign-ups from your address; try later.")
        return await self.add_user(data, invite_id=invite_id)

    async def add_user(
        self, data: SignUp, *, invite_id: str | None = None, is_admin: bool = False
    ) -> User:
        """Store a new account (its rules checked by ``SignUp``), taking one use of the
        invite ``invite_id`` if given."""
        password_hash = await self._hash(data.password)
        user = User(
            username=data.username,
            username_key=data.username.casefold(),
            full_name=data.full_name,
            password_hash=password_hash,
            is_admin=is_admin,
        )
        try:
            async with self.db.transaction() as s:
                if await queries.get_user_by_username(s, data.username):
                    raise Conflict("That username is taken.", code="username_taken")
                if invite_id is not None and not await queries.use_invite(s, invite_id, utcnow()):
                    raise Forbidden(
                        "That invite code is wrong, expired or used up; ask for a new one.",
                        code="invite_invalid",
                    )
                s.add(user)
        except IntegrityError as exc:
            raise Conflict("That username is taken.", code="username_taken") from exc
        log.info("user.created", user_id=user.id)
        return user

    # ---- sessions -----------------------------------------------------------------------------
    async def log_in(
        self, username: str, password: str, address: str, user_agent: str = ""
    ) -> tuple[User, str]:
        """Check a password and open a session; returns the user and the cookie token.

        Attempts for one username, and from one address, are checked one at a time (on every
        node: the locks are shared as the counters are): the
        throttle counts a failure only after the (slow) hash check, so concurrent guesses
        must not all pass the check before the first failure is recorded.
        """
        user_key = f"user:{username.casefold()}"
        address_key = f"addr:{address}"
        message = "Too many failed log-ins; try again later."
        async with self.locks.hold(f"login:{user_key}"), self.locks.hold(f"login:{address_key}"):
            await self.user_failures.check(user_key, message)
            await self.address_failures.check(address_key, message)
            user = None
            if USERNAME_RE.fullmatch(username):  # no other name can exist (nor reach the SQL)
                async with self.db.read() as s:
                    user = await queries.get_user_by_username(s, username)
            if user is not None and user.deleted_at is not None:
                user = None
            ok = await self._verify(user.password_hash if user else self._dummy_hash, password)
            if user is None or not ok:
                await self.user_failures.record(user_key)
                await self.address_failures.record(address_key)
                log.info("login.failed")
                raise NotAuthenticated("Wrong username or password.", code="invalid_credentials")
            await self.user_failures.reset(user_key)
        if user.disabled_at is not None:
            log.info("login.refused_disabled", user_id=user.id)
            raise Forbidden(
                "This account is disabled; ask the server's administrator.",
                code="account_disabled",
            )
        token = await self.open_session(user, user_agent=user_agent, address=address)
        log.info("login.succeeded", user_id=user.id)
        return user, token

    async def open_session(self, user: User, *, user_agent: str = "", address: str = "") -> str:
        token = secrets.token_urlsafe(32)
        now = utcnow()
        async with self.db.transaction() as s:
            await queries.delete_expired_sessions(s, now)
            s.add(
                AuthSession(
                    id=session_id_of(token),
                    user_id=user.id,
                    created_at=now,
                    expires_at=now + timedelta(seconds=self.settings.session_ttl_seconds),
                    user_agent=user_agent[:USER_AGENT_LENGTH],
                    address=address[:64],
                    last_seen_at=now,
                )
            )
        return token

    async def require_session(self, token: str | None) -> tuple[AuthSession, User]:
        """The live session behind a cookie token, or NotAuthenticated."""
        return await self.require_session_id(check_token(token))

    async def require_session_id(self, session_id: str) -> tuple[AuthSession, User]:
        """The live session with this stored id, or NotAuthenticated (ended or expired)."""
        found = await self.sessions.get(session_id)
        if found is None:
            raise NotAuthenticated("Your session has expired or was ended; log in again.")
        return found

    async def log_out(self, session: AuthSession) -> None:
        """End the session: from its commit on its connections receive nothing, then close."""
        async with self.committer.transaction() as tx:
            await queries.delete_session(tx.s, session.id)
            tx.revoke(SessionEnded(session.id))

    async def seen(self, session: AuthSession) -> None:
        """Record a request on the session, at most once per seen-interval (not a write per
        request); the conditional update keeps concurrent requests from each writing."""
        now = utcnow()
        before = now - timedelta(seconds=self.settings.session_seen_interval_seconds)
        if session.last_seen_at is not None and session.last_seen_at >= before:
            return
        async with self.db.transaction() as s:
            await queries.touch_session(s, session.id, now, before)
        session.last_seen_at = now

    async def list_sessions(self, user: User, current: AuthSession) -> list[MySessionOut]:
        async with self.db.read() as s:
            rows = await queries.list_sessions(s, user.id, utcnow())
        return [
            MySessionOut(
                id=public_id_of(row.id),
                device=row.user_agent,
                address=row.address,
                created_at=row.created_at,
                last_seen_at=row.last_seen_at,
                current=row.id == current.id,
            )
            for row in rows
        ]

    async def revoke_session(self, user: User, public_id: str) -> str:
        """End one of the user's own sessions, named by its public id, as log-out does (its
        sockets drop on every node); returns its stored id. NotFound for any id that is not
        one of the user's live sessions, so nothing is revealed about anyone else's."""
        async with self.committer.transaction() as tx:
            rows = await queries.list_sessions(tx.s, user.id, utcnow())
            found = [row.id for row in rows if public_id_of(row.id) == public_id]
            if len(public_id) != PUBLIC_ID_LENGTH or len(found) != 1:
                raise NotFound("No such session.", code="session_not_found")
            await queries.delete_session(tx.s, found[0])
            tx.revoke(SessionEnded(found[0]))
        log.info("session.revoked", user_id=user.id)
        return found[0]

    async def export(self, user: User) -> AccountExport:
        """The user's profile and every message they sent (public and private)."""
        async with self.db.read() as s:
            rows = await queries.list_sent_messages(s, user.id)
        messages = [
            ExportedMessage(
                id=message.id,
                room=room,
                seq=message.seq,
                to=to,
                body=message.body,
                created_at=message.created_at,
                client_id=message.client_id,
            )
            for message, room, to in rows
        ]
        return AccountExport(profile=user_out(user), created_at=user.created_at, messages=messages)

    def csrf_token(self, session_id: str) -> str:
        digest = hmac.new(self.settings.signing_key, b"csrf:" + session_id.encode(), "sha256")
        return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")

    def check_csrf(self, session_id: str, presented: str | None) -> None:
        expected = self.csrf_token(session_id).encode()
        # As bytes: compare_digest raises TypeError for a str with non-ASCII characters.
        if not presented or not hmac.compare_digest(presented.encode(), expected):
            raise Forbidden(
                "Missing or wrong X-CSRF-Token header; use the csrf_token from log-in.",
                code="csrf_failed",
            )

    async def change_password(
        self, user: User, session: AuthSession, current: str, new: str
    ) -> None:
        """Set a new password and end every other session of the user.

        Wrong current passwords count against the same per-username throttle as log-ins,
        so a stolen session cannot be used to guess the password here either.
        """
        await self.confirm_password(user, current)
        new_hash = await self._hash(new)
        async with self.committer.transaction() as tx:
            row = await tx.s.get(User, user.id)
            if row is None:
                raise NotAuthenticated("Your account no longer exists.")
            row.password_hash = new_hash
            ended = await queries.delete_sessions(tx.s, user.id, keep=session.id)
            for session_id in ended:
                tx.revoke(SessionEnded(session_id))
        log.info("password.changed", user_id=user.id, sessions_ended=len(ended))

    async def confirm_password(self, user: User, password: str) -> None:
        """Forbidden unless ``password`` is the user's. Wrong ones count against the same
        per-username throttle as log-ins, so a stolen session cannot guess it here either."""
        user_key = f"user:{user.username_key}"
        async with self.locks.hold(f"login:{user_key}"):
            await self.user_failures.check(user_key, "Too many wrong passwords; try again later.")
            if not await self._verify(user.password_hash, password):
                await self.user_failures.record(user_key)
                raise Forbidden("The password is wrong.", code="invalid_credentials")

    async def redeem_reset(self, code: str, password: str, address: str) -> None:
        """Set a new password with a one-time code from ``chinwag admin reset-password``.
        Attempts count per client address; the code is used up by the first that works."""
        await self.resets.hit(f"addr:{address}", "Too many password resets; try later.")
        new_hash = await self._hash(password)
        async with self.committer.transaction() as tx:
            user_id = await queries.take_password_reset(tx.s, session_id_of(code), utcnow())
            row = await queries.get_account(tx.s, user_id) if user_id is not None else None
            if row is None:
                raise BadRequest(
                    "That reset code is wrong, expired or used; ask for a new one.",
                    code="reset_code_invalid",
                )
            row.password_hash = new_hash
            await queries.delete_password_resets(tx.s, row.id)
            for session_id in await queries.delete_sessions(tx.s, row.id):
                tx.revoke(SessionEnded(session_id))
        log.info("password.reset", user_id=row.id)

    # ---- profile ------------------------------------------------------------------------------
    async def update_profile(self, user: User, *, full_name: str | None) -> User:
        async with self.committer.transaction() as tx:
            row = await tx.s.get(User, user.id)
            if row is None:
                raise NotAuthenticated("Your account no longer exists.")
            if full_name is not None:
                row.full_name = full_name
            await self.publish_user_updated(tx, row)
        return row

    async def publish_user_updated(self, tx: Tx, user: User) -> None:
        """Tell the user's own connections and everyone in their rooms, after ``tx``."""
        room_ids = await queries.list_room_ids_of_user(tx.s, user.id)
        audiences = [Audience.own(user.id), *map(Audience.room_subscribers, room_ids)]
        tx.after_commit(lambda: self._user_updated(user))
        publish(tx, UserUpdatedEvent(user=user_out(user)), *audiences)

    async def _user_updated(self, user: User) -> None:
        for listener in self.on_user_updated:
            listener(user)
        await self.committer.realtime.announce_user_changed(user.id)
