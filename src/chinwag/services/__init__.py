"""Services own the rules: permission checks, writes, then events after the commit."""

from __future__ import annotations

from dataclasses import dataclass

from chinwag.backends import Backends
from chinwag.config import Settings
from chinwag.db.engine import Database
from chinwag.services.accounts import AccountService
from chinwag.services.admin import AdminService
from chinwag.services.live import LiveService
from chinwag.services.media import MediaService
from chinwag.services.messages import MessageService
from chinwag.services.realtime import Realtime
from chinwag.services.rooms import RoomService
from chinwag.services.tx import Committer
from chinwag.services.typing import TypingService


@dataclass
class Services:
    settings: Settings
    db: Database
    backends: Backends
    accounts: AccountService
    rooms: RoomService
    messages: MessageService
    typing: TypingService
    live: LiveService
    media: MediaService
    admin: AdminService

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        realtime: Realtime,
        backends: Backends | None = None,
    ) -> Services:
        """Every service, sharing one set of backends (built from ``settings`` if not given)."""
        backends = backends or Backends.from_settings(settings)
        committer = Committer(db, realtime)
        accounts = AccountService(settings, db, committer, backends)
        typing = TypingService(settings, db, realtime, backends)
        live = LiveService(settings, db, realtime, accounts, backends.presence, typing, backends)
        media = MediaService(settings, db, accounts, backends)
        return cls(
            settings=settings,
            db=db,
            backends=backends,
            accounts=accounts,
            rooms=RoomService(settings, db, committer, backends),
            messages=MessageService(settings, db, committer, typing, backends),
            typing=typing,
            live=live,
            media=media,
            admin=AdminService(settings, db, accounts, media),
        )

    async def start(self) -> None:
        """Start the live side: hear the other nodes, and the node's heartbeat."""
        await self.live.realtime.start(self.live)
        self.live.start()

    async def close(self) -> None:
        await self.live.realtime.stop()
        await self.live.close()
        await self.typing.close()
        await self.backends.close()
        await self.db.dispose()
