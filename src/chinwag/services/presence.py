"""Who is online where: which connections of which users entered which rooms.

In memory for one node. A user counts once per room however many connections it has,
and goes offline only when the last one leaves.
"""

from __future__ import annotations

from collections import defaultdict


class PresenceRegistry:
    def __init__(self) -> None:
        self._rooms: dict[int, dict[int, set[str]]] = defaultdict(dict)
        self._conns: dict[str, tuple[int, set[int]]] = {}

    def add(self, room_id: int, user_id: int, conn_id: str) -> bool:
        """Record that a connection entered a room; True if the user just came online there."""
        users = self._rooms[room_id]
        conns = users.setdefault(user_id, set())
        came_online = not conns
        conns.add(conn_id)
        self._conns.setdefault(conn_id, (user_id, set()))[1].add(room_id)
        return came_online

    def remove(self, room_id: int, conn_id: str) -> int | None:
        """Forget a connection in a room; returns the user id if that user just went offline."""
        entry = self._conns.get(conn_id)
        if entry is None or room_id not in entry[1]:
            return None
        user_id, rooms = entry
        rooms.discard(room_id)
        if not rooms:
            del self._conns[conn_id]
        users = self._rooms.get(room_id, {})
        conns = users.get(user_id, set())
        conns.discard(conn_id)
        if conns:
            return None
        users.pop(user_id, None)
        if not users:
            self._rooms.pop(room_id, None)
        return user_id

    def rooms_of(self, conn_id: str) -> list[int]:
        entry = self._conns.get(conn_id)
        return sorted(entry[1]) if entry else []

    def online(self, room_id: int) -> set[int]:
        return set(self._rooms.get(room_id, {}))

    def is_online(self, room_id: int, user_id: int) -> bool:
        return user_id in self._rooms.get(room_id, {})

    def drop_room(self, room_id: int) -> None:
        for conns in self._rooms.pop(room_id, {}).values():
            for conn_id in conns:
                entry = self._conns.get(conn_id)
                if entry is not None:
                    entry[1].discard(room_id)
                    if not entry[1]:
                        del self._conns[conn_id]
