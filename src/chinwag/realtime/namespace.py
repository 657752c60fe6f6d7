"""The chat's events carried by python-socketio: its namespace hands each to ``ChatEvents``.

python-socketio runs handlers one at a time per connection (``async_handlers=False``);
the lifecycle names it dispatches itself (``connect``, ``disconnect``) are refused when a
connected client emits them.
"""

from __future__ import annotations

from typing import Any

import socketio

from chinwag.realtime.carrier import NAMESPACE
from chinwag.realtime.chat import ChatEvents, ConnectRefused


def environ_headers(environ: dict[str, Any]) -> dict[str, str]:
    return {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_") and isinstance(value, str)
    }


class ChatNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(self, chat: ChatEvents) -> None:
        super().__init__(NAMESPACE)
        self.chat = chat
        chat.disconnect = self.disconnect

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        scheme = environ.get("wsgi.url_scheme", "http")
        try:
            user_id = await self.chat.connect(sid, scheme, environ_headers(environ))
        except ConnectRefused as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.code, exc.data()) from None
        await self.save_session(sid, {"user_id": user_id})

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        session = await self.get_session(sid)
        await self.chat.disconnected(sid, session.get("user_id"))

    async def trigger_event(self, event: str, *args: Any) -> Any:
        sid = args[0]
        is_lifecycle = event in ("connect", "disconnect")
        if is_lifecycle and not self.server.manager.is_connected(sid, self.namespace):
            return await super().trigger_event(event, *args)
        # a connected client's "connect" is as unknown as any name the catalog lacks
        return await self.chat.handle(sid, event, args[1:])
