"""``Realtime`` over python-socketio: channel names live here and nowhere else."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import socketio

NAMESPACE = "/"


def room_channel(room_id: int) -> str:
    return f"room:{room_id}"


def user_channel(user_id: int) -> str:
    return f"user:{user_id}"


def session_channel(session_id: str) -> str:
    return f"session:{session_id}"


class SocketIORealtime:
    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio

    def _participants(self, channel: str) -> list[str]:
        return [sid for sid, _ in self.sio.manager.get_participants(NAMESPACE, channel)]

    async def enter(self, conn_id: str, room_id: int) -> None:
        await self.sio.enter_room(conn_id, room_channel(room_id), namespace=NAMESPACE)

    async def leave(self, conn_id: str, room_id: int) -> None:
        await self.sio.leave_room(conn_id, room_channel(room_id), namespace=NAMESPACE)

    async def emit(
        self,
        event: str,
        data: dict[str, Any],
        *,
        rooms: Iterable[int] = (),
        users: Iterable[int] = (),
    ) -> None:
        targets = [room_channel(r) for r in rooms] + [user_channel(u) for u in users]
        if targets:
            await self.sio.emit(event, data, to=targets, namespace=NAMESPACE)

    async def close_room(self, room_id: int) -> None:
        await self.sio.close_room(room_channel(room_id), namespace=NAMESPACE)

    async def remove_user_from_room(self, user_id: int, room_id: int) -> list[str]:
        channel = room_channel(room_id)
        in_room = set(self._participants(channel))
        conns = [sid for sid in self._participants(user_channel(user_id)) if sid in in_room]
        for sid in conns:
            await self.sio.leave_room(sid, channel, namespace=NAMESPACE)
        return conns

    async def disconnect_sessions(self, session_ids: Iterable[str]) -> None:
        for session_id in session_ids:
            for sid in self._participants(session_channel(session_id)):
                await self.sio.disconnect(sid, namespace=NAMESPACE)
