"""Messages: stored before they are broadcast, positioned by the database, sent once."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from chinwag.backends import Backends
from chinwag.config import Settings
from chinwag.db import queries
from chinwag.db.engine import Database
from chinwag.db.models import Message, User, utcnow
from chinwag.errors import InvalidInput, NotFound
from chinwag.events import MessageEvent, publish
from chinwag.schemas import ConversationOut, MessageOut, MessagePage, SendMessage
from chinwag.services.access import (
    access_room,
    normalize_code,
    require_member,
    require_member_by_username,
    room_not_found,
)
from chinwag.services.ratelimit import RateLimiter
from chinwag.services.realtime import Audience
from chinwag.services.tx import Committer, Tx
from chinwag.services.typing import TypingService
from chinwag.services.views import message_out, user_out

DEFAULT_PAGE = 50
MAX_PAGE = 200


class MessageService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        committer: Committer,
        typing: TypingService,
        backends: Backends,
    ) -> None:
        self.db = db
        self.committer = committer
        self.typing = typing
        counters = backends.counters
        self.limiter = RateLimiter(
            counters, "sends", settings.messages_per_window, settings.message_window_seconds
        )
        self.retries = RateLimiter(
            counters, "retries", settings.retries_per_window, settings.retry_window_seconds
        )

    async def send(self, user: User, data: SendMessage) -> tuple[MessageOut, bool]:
        """Store and broadcast a message; returns it and whether it is new.

        A send with a (sender, room, client_id) that is already stored is a retry after a
        lost ack: it is answered from a read, without a write transaction, broadcasts
        nothing, and counts against the retry limit rather than the sending one.
        """
        existing = await self._find_retry(user, data)
        if existing is not None:
            await self.retries.hit(
                f"retry:{user.id}", "You are retrying messages too fast; slow down."
            )
            return existing, False
        await self.limiter.hit(f"send:{user.id}", "You are sending messages too fast; slow down.")
        try:
            async with self.committer.transaction() as tx:
                out = await self._store(tx, user, data)
        except IntegrityError:
            # a concurrent send with the same client_id won the race, or the room is gone
            existing = await self._find_retry(user, data)
            if existing is not None:
                return existing, False
            async with self.db.read() as s:
                await access_room(s, user, data.room)  # room_not_found, not_member
            raise
        return out, True

    async def _store(self, tx: Tx, user: User, data: SendMessage) -> MessageOut:
        """Check, position and insert a message; it is published when ``tx`` commits."""
        s = tx.s
        room = await access_room(s, user, data.room)
        recipient = None
        if data.to is not None:
            recipient = await require_member_by_username(s, room, data.to)
            if recipient.id == user.id:
                raise InvalidInput(
                    "You cannot send a private message to yourself.", code="invalid_recipient"
                )
        conversation_id = None
        if recipient is None:
            positions = await queries.next_seq(s, room.id)
            if positions is None:  # destroyed while we waited for the room's lock
                raise room_not_found()
            seq, version = positions
            audience = Audience.room_subscribers(room.id)
        else:
            # the room's lock orders this send with the recipient's leave
            bumped = await queries.bump_version(s, room.id)
            if bumped is None:
                raise room_not_found()
            version = bumped
            conversation_id, seq = await queries.next_private_seq(s, room.id, user.id, recipient.id)
            audience = Audience.members(room.id, [user.id, recipient.id], version)
        message = Message(
            room_id=room.id,
            conversation_id=conversation_id,
            seq=seq,
            sender_id=user.id,
            recipient_id=recipient.id if recipient else None,
            body=data.body,
            client_id=data.client_id,
            created_at=utcnow(),
        )
        s.add(message)
        await s.flush()
        out = message_out(message, room, user, recipient)
        # the sender's indicator goes down before their message arrives
        tx.after_commit(lambda: self.typing.stopped(room, user, recipient))
        publish(tx, MessageEvent(**dict(out)), audience)
        return out

    async def _find_retry(self, user: User, data: SendMessage) -> MessageOut | None:
        """The message ``user`` already stored in the room under ``client_id``, if any: one
        query for a new send; membership is checked only when there is one to answer."""
        async with self.db.read() as s:
            found = await queries.get_message_by_client_id(
                s, normalize_code(data.room), user.id, data.client_id
            )
            if found is None:
                return None
            message, room = found
            await require_member(s, user, room)
            users = await queries.get_users(s, [message.sender_id, message.recipient_id or 0])
        return message_out(
            message, room, users[message.sender_id], users.get(message.recipient_id or 0)
        )

    async def conversations(self, user: User, code: str) -> list[ConversationOut]:
        """My private conversations in a room, most recently started first."""
        async with self.db.read() as s:
            room = await access_room(s, user, code)
            rows = await queries.list_conversations(s, room.id, user.id)
        return [ConversationOut(user=user_out(other), last_seq=c.last_seq) for c, other in rows]

    async def history(
        self,
        user: User,
        code: str,
        *,
        with_username: str | None = None,
        before: int | None = None,
        after: int | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> MessagePage:
        """A page of public history, or of the private conversation with ``with_username``."""
        if before is not None and after is not None:
            raise InvalidInput("Give either before or after, not both.")
        async with self.db.read() as s:
            room = await access_room(s, user, code)
            conversation_id = None
            if with_username is not None:
                other = await queries.get_user_by_username(s, with_username)
                if other is None:
                    raise NotFound(f"No user is called {with_username}.", code="user_not_found")
                conversation = await queries.get_conversation(s, room.id, user.id, other.id)
                if conversation is None:  # nothing said yet
                    return MessagePage(messages=[], has_more=False)
                conversation_id = conversation.id
            rows = await queries.page_messages(
                s, room.id, conversation_id=conversation_id, before=before, after=after, limit=limit
            )
            has_more = len(rows) > limit
            rows = rows[:limit]
            users = await queries.get_users(
                s, [m.sender_id for m in rows] + [m.recipient_id for m in rows if m.recipient_id]
            )
        messages = [
            message_out(m, room, users[m.sender_id], users.get(m.recipient_id or 0)) for m in rows
        ]
        return MessagePage(messages=messages, has_more=has_more)
