"""Messages: stored before they are broadcast, positioned by the database, sent once."""

from __future__ import annotations

from typing import Any

from chinwag.backends import Backends
from chinwag.config import Settings
from chinwag.db import queries
from chinwag.db.engine import Database
from chinwag.db.models import User
from chinwag.errors import InvalidInput, NotFound
from chinwag.schemas import ConversationOut, MessagePage, SendMessage
from chinwag.services.access import (
    access_room,
)
from chinwag.services.ingest import Ingest
from chinwag.services.ratelimit import RateLimiter
from chinwag.services.tx import Committer
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
        self.ingest = Ingest(
            db,
            committer,
            typing,
            RateLimiter(
                counters, "sends", settings.messages_per_window, settings.message_window_seconds
            ),
            RateLimiter(
                counters, "retries", settings.retries_per_window, settings.retry_window_seconds
            ),
            settings.message_batch_size,
        )

    async def send(self, user: User, data: SendMessage) -> tuple[dict[str, Any], bool]:
        """Store and broadcast a message; returns it (in its wire form: a ``MessageOut``'s
        JSON dump) and whether it is new.

        Sends that arrive together are stored in one transaction (``services.ingest``),
        each answered after its commit. A send with a (sender, room, client_id) that is
        already stored is a retry after a lost ack: it is answered from a read, without a
        write transaction, broadcasts nothing, and counts against the retry limit rather
        than the sending one.
        """
        return await self.ingest.send(user, data)

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
