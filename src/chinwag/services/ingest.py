"""Group commit: the sends that arrive together are stored in one transaction.

One writer task per process takes whatever sends are queued when it becomes free (at most
``CHINWAG_MESSAGE_BATCH_SIZE``; a send that arrives alone is written at once, there is no
timer) and, for the batch:

1. finds the retries in one read, outside any write transaction (a retry is answered from
   the store and counted against the retry limit, as before);
2. in one write transaction: checks every send (the room, the sender's and recipient's
   memberships) in a few statements, takes each room's row lock once, in room id order (two
   nodes' batches cannot deadlock), for all of its positions (``queries.take_positions``),
   and inserts every message in one multi-row INSERT … RETURNING;
3. commits, publishes the batch's events in order (``Committer``), and only then acks.

A bad send gets its own error and the others are stored. When the batch's INSERT fails on a
constraint (a concurrent send with the same client_id, a room destroyed meanwhile) the batch
is written again one send at a time, so only the send at fault fails.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chinwag.db import queries
from chinwag.db.engine import Database
from chinwag.db.models import Room, User, utcnow
from chinwag.errors import ChinwagError, Forbidden, InvalidInput, NotFound
from chinwag.events import MessageEvent, publish
from chinwag.schemas import MessageOut, SendMessage, UserOut
from chinwag.services.access import access_room, normalize_code, require_member, room_not_found
from chinwag.services.ratelimit import RateLimiter
from chinwag.services.realtime import Audience
from chinwag.services.tx import AfterCommit, Committer, Tx
from chinwag.services.typing import TypingService
from chinwag.services.views import message_out, user_out

Sent = tuple[MessageOut, bool]  # the message, and whether this send stored it


@dataclass(eq=False)
class Pending:
    user: User
    data: SendMessage
    code: str  # the room's normalized code
    done: asyncio.Future[Sent] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.code, self.user.id, self.data.client_id)

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
                except BaseException as exc:
                    for pending in batch:
                        pending.fail(exc)
                    if not isinstance(exc, Exception):
                        raise
        finally:
            self._writer = None
            if self._queue:  # cancelled with sends still queued: they are not stored
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
                    f"send:{pending.user.id}", "You are sending messages too fast; slow down."
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
        async with self.db.read() as s:
            stored = await queries.find_stored_client_ids(
                s,
                {p.code for p in batch},
                {p.user.id for p in batch},
                {p.data.client_id for p in batch},
            )
            new = []
            for pending in batch:
                message_id = stored.get(pending.key)
                if message_id is None:
                    new.append(pending)
                    continue
                try:
                    out = await self._retry_out(s, pending.user, message_id)
                    if count:
                        await self.retries.hit(
                            f"retry:{pending.user.id}",
                            "You are retrying messages too fast; slow down.",
                        )
                except ChinwagError as exc:
                    pending.fail(exc)
                else:
                    pending.answer((out, False))
        return new

    @staticmethod
    async def _retry_out(s: AsyncSession, user: User, message_id: int) -> MessageOut:
        found = await queries.get_message_and_room(s, message_id)
        if found is None:  # deleted since (its sender or room is gone)
            raise room_not_found()
        message, room = found
        await require_member(s, user, room)
        users = await queries.get_users(s, [message.sender_id, message.recipient_id or 0])
        return message_out(
            message, room, users[message.sender_id], users.get(message.recipient_id or 0)
        )

    async def _store(self, batch: list[Pending]) -> None:
        try:
            async with self.committer.transaction() as tx:
                stored = await self._store_in(tx, batch)
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
        for pending, out in stored:
            pending.answer((out, True))

    async def _explain(self, pending: Pending) -> None:
        """A lone send failed on a constraint: a concurrent send with its client_id won the
        race (answer that one), or the room is gone, or the sender is no longer a member."""
        if not await self._answer_retries([pending], count=False):
            return  # answered
        async with self.db.read() as s:
            await access_room(s, pending.user, pending.code)  # room_not_found, not_member
        raise RuntimeError("a message insert failed on a constraint")

    async def _store_in(self, tx: Tx, batch: list[Pending]) -> list[tuple[Pending, MessageOut]]:
        """Check, position and insert the batch's good sends; the others are failed now."""
        s = tx.s
        rooms = await queries.get_rooms_by_codes(s, {p.code for p in batch})
        wanted = {p.data.to.casefold() for p in batch if p.data.to is not None}
        recipients = await queries.get_users_by_username_keys(s, wanted) if wanted else {}
        users = {p.user.id for p in batch} | {u.id for u in recipients.values()}
        members = await queries.get_member_pairs(s, {r.id for r in rooms.values()}, users)
        good: list[tuple[Pending, Room, User | None]] = []
        for pending in batch:
            room = rooms.get(pending.code)
            to = pending.data.to
            recipient = recipients.get(to.casefold()) if to is not None else None
            if room is None:
                pending.fail(room_not_found())
            elif (room.id, pending.user.id) not in members:
                pending.fail(not_member())
            elif to is not None and (recipient is None or (room.id, recipient.id) not in members):
                pending.fail(recipient_not_member(to))
            elif recipient is not None and recipient.id == pending.user.id:
                pending.fail(
                    InvalidInput(
                        "You cannot send a private message to yourself.",
                        code="invalid_recipient",
                    )
                )
            else:
                good.append((pending, room, recipient))
        if not good:
            return []
        # every message takes the next version of its room; public ones also the next seq
        counts: dict[int, list[int]] = {}
        for _, room, recipient in good:
            count = counts.setdefault(room.id, [0, 0])
            count[0] += recipient is None
            count[1] += 1
        firsts: dict[int, list[int]] = {}
        for room_id in sorted(counts):  # one lock order on every node
            public, total = counts[room_id]
            taken = await queries.take_positions(s, room_id, public, total)
            if taken is not None:
                last_seq, version = taken
                firsts[room_id] = [last_seq - public + 1, version - total + 1]
        rows = []
        placed: list[tuple[Pending, Room, User | None, int, Audience]] = []
        now = utcnow()
        for pending, room, recipient in good:
            first = firsts.get(room.id)
            if first is None:  # destroyed while we waited for its lock
                pending.fail(room_not_found())
                continue
            version = first[1]
            first[1] += 1
            conversation_id = None
            if recipient is None:
                seq = first[0]
                first[0] += 1
                audience = Audience.room_subscribers(room.id)
            else:
                conversation_id, seq = await queries.next_private_seq(
                    s, room.id, pending.user.id, recipient.id
                )
                audience = Audience.members(room.id, [pending.user.id, recipient.id], version)
            rows.append(
                {
                    "room_id": room.id,
                    "conversation_id": conversation_id,
                    "seq": seq,
                    "sender_id": pending.user.id,
                    "recipient_id": recipient.id if recipient else None,
                    "body": pending.data.body,
                    "client_id": pending.data.client_id,
                    "created_at": now,
                }
            )
            placed.append((pending, room, recipient, seq, audience))
        if not rows:
            return []
        ids = await queries.insert_messages(s, rows)
        senders: dict[int, UserOut] = {}
        stored = []
        for (pending, room, recipient, seq, audience), message_id in zip(placed, ids, strict=True):
            user = pending.user
            sender = senders.get(user.id)
            if sender is None:
                sender = senders[user.id] = user_out(user)
            out = MessageOut(
                id=message_id,
                room=room.code,
                seq=seq,
                sender=sender,
                to=recipient.username if recipient else None,
                body=pending.data.body,
                created_at=now,
                client_id=pending.data.client_id,
            )
            # the sender's indicator goes down before their message arrives
            tx.after_commit(self._typing_stopped(room, user, recipient))
            publish(tx, MessageEvent(**dict(out)), audience)
            stored.append((pending, out))
        return stored

    def _typing_stopped(self, room: Room, user: User, recipient: User | None) -> AfterCommit:
        return lambda: self.typing.stopped(room, user, recipient)
