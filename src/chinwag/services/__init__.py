"""Services own the rules: permission checks, writes, then events after the commit."""

from __future__ import annotations

from dataclasses import dataclass

from chinwag.config import Settings
from chinwag.db.engine import Database
from chinwag.services.accounts import AccountService
from chinwag.services.live import LiveService
from chinwag.services.media import MediaService
from chinwag.services.messages import MessageService
from chinwag.services.presence import PresenceRegistry
from chinwag.services.realtime import Realtime
from chinwag.services.rooms import RoomService
from chinwag.services.tx import Committer
from chinwag.services.typing import TypingService


@dataclass
class Services:
    settings: Settings
    db: Database
    accounts: AccountService
    rooms: RoomService
    messages: MessageService
    typing: TypingService
    live: LiveService
    media: MediaService

    @classmethod
    def build(cls, settings: Settings, db: Database, realtime: Realtime) -> Services:
        committer = Committer(db, realtime)
        accounts = AccountService(settings, db, committer)
        typing = TypingService(settings, db, realtime)
        live = LiveService(settings, db, realtime, accounts, PresenceRegistry(), typing)
        committer.after_revoke = live.revoked
        return cls(
            settings=settings,
            db=db,
            accounts=accounts,
            rooms=RoomService(settings, db, committer),
            messages=MessageService(settings, db, committer, typing),
            typing=typing,
            live=live,
            media=MediaService(settings, db, accounts),
        )

    async def close(self) -> None:
        self.typing.close()
        await self.db.dispose()
