"""The real-time seam: everything services may ask of the push layer, and nothing more.

Channels are named by the implementation; services speak of rooms, users, sessions and
connections by id. Implementations: ``chinwag.realtime.publisher.SocketIORealtime``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class Realtime(Protocol):
    async def enter(self, conn_id: str, room_id: int) -> None:
        """Subscribe one connection to a room's public channel."""

    async def leave(self, conn_id: str, room_id: int) -> None:
        """Unsubscribe one connection from a room's public channel."""

    async def emit(
        self,
        event: str,
        data: dict[str, Any],
        *,
        rooms: Iterable[int] = (),
        users: Iterable[int] = (),
    ) -> None:
        """Deliver once to every connection that entered any of ``rooms`` or belongs to
        any of ``users`` (whatever room it entered)."""

    async def close_room(self, room_id: int) -> None:
        """Remove every connection from the room's channel."""

    async def remove_user_from_room(self, user_id: int, room_id: int) -> list[str]:
        """Unsubscribe all of a user's connections from a room; returns their ids."""

    async def disconnect_sessions(self, session_ids: Iterable[str]) -> None:
        """Drop every connection opened with one of these login sessions."""
