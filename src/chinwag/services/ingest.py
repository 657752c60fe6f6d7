"""Group commit: the sends that arrive together are stored in one transaction.

One writer task per process takes whatever sends are queued when it becomes free (at most
``CHINWAG_MESSAGE_BATCH_SIZE``; a send that arrives alone is written at once, there is no
timer) and, for the batch:

1. finds the retries in one read, outside any write transaction (a retry is answered from
   the store and counted against the retry limit, as before);
2. in one write transaction: checks every send (the room, the sender's and recipient's
   memberships) in one statement (two when a send names a recipient), takes the row lock
   of each of its rooms once, in room id order (two nodes' batches cannot deadlock), for
   all of the room's positions, in one statement for the batch (``batch.take_positions``),
   and inserts every message in one INSERT … RETURNING;
3. commits, publishes the batch's events in order (``Committer``), and only then acks.

A bad send gets its own error and the others are stored. When the batch's INSERT fails on a
constraint (a concurrent send with the same client_id, a room destroyed meanwhile) the batch
is written again one send at a time, so only the send at fault fails.

The batch's statements are SQL text on the driver's connection (``chinwag.db.batch``), and
each stored message is built once in its wire form (a ``MessageOut``'s JSON dump, without
pydantic), for its event and its ack alike.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from chinwag.db import batch as statements
from chinwag.db import queries
from chinwag.db.engine import Database
from chinwag.db.models import User, utcnow
from chinwag.errors import ChinwagError, Forbidden, InvalidInput, NotFound
from chinwag.events import MessageEvent
from chinwag.schemas import SendMessage
from chinwag.services.access import (
    access_room,
    normalize_code,
    require_member,
    room_not_found,
)
from chinwag.services.ratelimit import RateLimiter
from chinwag.services.realtime import Audience
from chinwag.services.tx import AfterCommit, Committer, Steps
from chinwag.services.typing import TypingService
from chinwag.services.views import datetime_wire, message_out, message_wire, user_wire

# the message in its wire form (``MessageOut``'s JSON dump), and whether this send stored it
Sent = tuple[dict[str, Any], bool]


@dataclass(eq=False)
class Pending:
    user: User
    data: SendMessage
    code: str  # the room's normalized code
    done: asyncio.Future[Sent] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    user_id: int = field(init=False)  # read often: a plain attribute, not the ORM's
    key: tuple[str, int, str] = field(init=False)

    def __post_init__(self) -> None:
        self.user_id = self.user.id
        self.key = (self.code, self.user_id, self.data.client_id)

    def answer(self, result: Sent) -> None:
        if not self.done.done():
            self.done.set_result(result)

    def fail(self, error: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(error)


def not_member() -> Forbidden:
    return Forbidden("You are not a member of this room; join it first.", code="not_member")


def recipient_not_member(username: str) -> NotFound:
    return NotFound(f"{username} is not a member of this room.", code="recipient_not_member")


class Ingest:
    """The process's message writer: ``send`` queues a send and waits for its commit."""

    def __init__(
        self,
        db: Database,
        committer: Committer,
        typing: TypingService,
        limiter: RateLimiter,
        retries: RateLimiter,
        batch_size: int,
    ) -> None:
        self.db = db
        self.committer = committer
        self.typing = typing
        self.limiter = limiter
        self.retries = retries
        self.batch_size = batch_size
        self._queue: deque[Pending] = deque()
        self._writer: asyncio.Task[None] | None = None

    async def send(self, user: User, data: SendMessage) -> Sent:
        pending = Pending(user, data, normalize_code(data.room))
        self._queue.append(pending)
        if self._writer is None:
            self._writer = asyncio.create_task(self._run())
        return await pending.done

    async def _run(self) -> None:
        try:
            while self._queue:
                batch = self._take()
                try:
                    await self._write(batch)
                except Exception as exc:  # the database failed: each send says so
                    for pending in batch:
                        pending.fail(exc)
                except BaseException:  # cancelled (shutting down): nothing more is stored
                    self._queue.extendleft(reversed(batch))
                    raise
        finally:
            self._writer = None
            while self._queue:
                self._queue.popleft().done.cancel()

    def _take(self) -> list[Pending]:
        """Up to a batch of queued sends; a second send of one client_id waits for the next
        batch, where it is found as a retry."""
        batch: list[Pending] = []
        later: list[Pending] = []
        seen: set[tuple[str, int, str]] = set()
        while self._queue and len(batch) < self.batch_size:
            pending = self._queue.popleft()
            (later if pending.key in seen else batch).append(pending)
            seen.add(pending.key)
        self._queue.extendleft(reversed(later))
        return batch

    async def _write(self, batch: list[Pending]) -> None:

        new = await self._answer_retries(batch)
        allowed = []
        for pending in new:
            try:
                await self.limiter.hit(
                    f"send:{pending.user_id}",
                    "You are sending messages too fast; slow down.",
                )
            except ChinwagError as exc:
                pending.fail(exc)
            else:
                allowed.append(pending)
        if allowed:
            await self._store(allowed)

    async def _answer_retries(self, batch: list[Pending], *, count: bool = True) -> list[Pending]:
        """Answer the sends already stored (one read for the batch); returns the others.
        Each answered retry counts against the retry limit unless ``count`` is False."""
        keys = [p.key for p in batch]
        stored = await self.db.run_read(lambda conn: statements.find_stored_client_ids(conn, keys))
        new = []
        for pending in batch:
            message_id = stored.get(pending.key)
            if message_id is None:
                new.append(pending)
                continue
            try:
                out = await self._retry_out(pending.user, message_id)
                if count:
                    await self.retries.hit(
                        f"retry:{pending.user_id}",
                        "You are retrying messages too fast; slow down.",
                    )
            except ChinwagError as exc:
                pending.fail(exc)
            else:
                pending.answer((out, False))
        return new

    async def _retry_out(self, user: User, message_id: int) -> dict[str, Any]:
        async with self.db.read() as s:
            found = await queries.get_message_and_room(s, message_id)
            if found is None:  # deleted since (its sender or room is gone)
                raise room_not_found()
            message, room = found
            await require_member(s, user, room)
            users = await queries.get_users(s, [message.sender_id, message.recipient_id or 0])
        out = message_out(
            message,
            room,
            users[message.sender_id],
            users.get(message.recipient_id or 0),
        )
        return out.model_dump(mode="json")

    async def _store(self, batch: list[Pending]) -> None:
        try:
            outcomes = await self.committer.run(
                lambda conn, steps: self._store_in(conn, steps, batch)
            )
        except IntegrityError:
            if len(batch) > 1:  # find the send at fault: store them one by one
                for pending in batch:
                    try:
                        await self._store([pending])
                    except Exception as exc:
                        pending.fail(exc)
                return
            await self._explain(batch[0])
            return
        for pending, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, ChinwagError):
                pending.fail(outcome)
            else:
                pending.answer((outcome, True))

    async def _explain(self, pending: Pending) -> None:
        """A lone send failed on a constraint: a concurrent send with its client_id won the
        race (answer that one), or the room is gone, or the sender is no longer a member."""
        if not await self._answer_retries([pending], count=False):
            return  # answered
        async with self.db.read() as s:
            await access_room(s, pending.user, pending.code)  # room_not_found, not_member
        raise RuntimeError("a message insert failed on a constraint")

    def _store_in(
        self, conn: Connection, steps: Steps, batch: list[Pending]
    ) -> list[dict[str, Any] | ChinwagError]:
        """Check, position and insert the batch's sends in the open write transaction: a
        stored message or the send's own error for each. Synchronous: on SQLite this runs
        on the loop's thread or on the writer thread, so it touches neither the event loop nor
        the futures."""
        outcomes: list[dict[str, Any] | ChinwagError | None] = [None] * len(batch)
        wanted = {p.data.to.casefold() for p in batch if p.data.to is not None}
        recipients = statements.get_user_rows(conn, wanted) if wanted else {}
        pairs: set[tuple[str, int]] = set()
        for pending in batch:
            pairs.add((pending.code, pending.user_id))
            to = pending.data.to
            recipient = recipients.get(to.casefold()) if to is not None else None
            if recipient is not None:
                pairs.add((pending.code, recipient.id))
        rooms, members = statements.get_rooms_and_members(conn, pairs)
        good: list[tuple[int, statements.RoomRow, User | None]] = []
        for i, pending in enumerate(batch):
            room = rooms.get(pending.code)
            to = pending.data.to
            recipient = recipients.get(to.casefold()) if to is not None else None
            if room is None:
                outcomes[i] = room_not_found()
            elif (room.id, pending.user_id) not in members:
                outcomes[i] = not_member()
            elif to is not None and (recipient is None or (room.id, recipient.id) not in members):
                outcomes[i] = recipient_not_member(to)
            elif recipient is not None and recipient.id == pending.user_id:
                outcomes[i] = InvalidInput(
                    "You cannot send a private message to yourself.",
                    code="invalid_recipient",
                )
            else:
                good.append((i, room, recipient))
        # every message takes the next version of its room; public ones also the next seq
        counts: dict[int, tuple[int, int]] = {}
        for _, room, recipient in good:
            public, total = counts.get(room.id, (0, 0))
            counts[room.id] = (public + (recipient is None), total + 1)
        firsts: dict[int, list[int]] = {}
        if counts:
            for room_id, (last_seq, version) in statements.take_positions(conn, counts).items():
                public, total = counts[room_id]
                firsts[room_id] = [last_seq - public + 1, version - total + 1]
        rows: list[statements.NewMessage] = []
        placed: list[tuple[int, statements.RoomRow, User | None, int, Audience]] = []
        now = utcnow()
        for i, room, recipient in good:
            pending = batch[i]
            first = firsts.get(room.id)
            if first is None:  # destroyed while we waited for its lock
                outcomes[i] = room_not_found()
                continue
            version = first[1]
            first[1] += 1
            conversation_id = None
            if recipient is None:
                seq = first[0]
                first[0] += 1
                audience = Audience.room_subscribers(room.id)
            else:
                conversation_id, seq = queries.take_private_position(
                    conn, room.id, pending.user_id, recipient.id
                )
                audience = Audience.members(room.id, [pending.user_id, recipient.id], version)
            rows.append(
                statements.NewMessage(
                    room.id,
                    conversation_id,
                    seq,
                    pending.user_id,
                    recipient.id if recipient else None,
                    pending.data.body,
                    pending.data.client_id,
                )
            )
            placed.append((i, room, recipient, seq, audience))
        ids = statements.insert_messages(conn, rows, now) if rows else []
        created_at = datetime_wire(now)
        senders: dict[int, dict[str, Any]] = {}
        for (i, room, recipient, seq, audience), message_id in zip(placed, ids, strict=True):
            pending = batch[i]
            user = pending.user
            sender = senders.get(pending.user_id)
            if sender is None:
                sender = senders[pending.user_id] = user_wire(user)
            message = message_wire(
                message_id,
                room.code,
                seq,
                sender,
                recipient.username if recipient else None,
                pending.data.body,
                created_at,
                pending.data.client_id,
            )
            # the sender's indicator goes down before their message arrives
            steps.after_commit(self._typing_stopped(room, user, recipient))
            steps.publish(MessageEvent.event, message, audience)
            outcomes[i] = message
        return [outcome if outcome is not None else room_not_found() for outcome in outcomes]

    def _typing_stopped(
        self, room: statements.RoomRow, user: User, recipient: User | None
    ) -> AfterCommit:
        return lambda: self.typing.stopped(room, user, recipient)
