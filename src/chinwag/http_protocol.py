"""uvicorn's httptools protocol with the two limits its parser lacks: header size and time.

httptools accumulates a header's value before handing it over, so a single 64 MB header costs
64 MB (and more) before any application code can look at it. This protocol counts the bytes
of each request's line and headers as they arrive and refuses the request with ``431`` once
they pass ``max_header_bytes``, before the parser has buffered them; and it drops a
connection whose request line and headers are not complete ``header_timeout_seconds`` after
the connection opened (or after the request's first byte, on a kept-alive connection).
Bodies are not counted here: the ASGI body limits look after them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from chinwag.logs import get_logger

log = get_logger("chinwag.http")

HEADERS_TOO_LARGE = 431
HEADERS_TOO_SLOW = 408
# After a refusal the connection is shut for writing and what the client still sends is read
# and dropped for a moment, so that its kernel does not discard our answer with a reset.
LINGER_SECONDS = 2.0
LINGER_BYTES = 1024 * 1024


def limited_http_protocol(max_header_bytes: int, header_timeout: float) -> type[HttpToolsProtocol]:
    """The protocol class to give ``uvicorn.run(http=...)``, with these limits."""

    class Limited(LimitedHttpToolsProtocol):
        pass

    Limited.max_header_bytes = max_header_bytes
    Limited.header_timeout = header_timeout
    return Limited


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    max_header_bytes = 32 * 1024
    header_timeout = 10.0

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.reading_headers = True  # the bytes that arrive next belong to a request head
        self.header_bytes = 0
        self.header_timer: asyncio.TimerHandle | None = None
        self.refused = False
        self.lingered = 0

    # The connection: a client has header_timeout from the moment it connects.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.refused:
            self.lingered += len(data)
            if self.lingered > LINGER_BYTES:
                self.transport.close()
            return
        if not self.reading_headers:
            super().data_received(data)
            return
        room = self.max_header_bytes - self.header_bytes
        if len(data) <= room:
            self.header_bytes += len(data)
            super().data_received(data)
            return
        # Feed only what the head may still use: if it completes inside that, the rest is
        # body (or the next request); if not, the head is too large.
        self.header_bytes = self.max_header_bytes
        super().data_received(data[:room])
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return  # refused as malformed, or upgraded to a websocket
        if self.reading_headers:
            self._refuse(
                HEADERS_TOO_LARGE,
                "headers_too_large",
                f"The request line and headers are limited to {self.max_header_bytes:,} bytes.",
            )
            return
        self.data_received(data[room:])

    # Parser callbacks: a head starts after the previous message and ends at its blank line.
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.header_timer is None:
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self.reading_headers = False
        self._cancel_header_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.reading_headers = True
        self.header_bytes = 0

    # Refusals
    def _arm_header_timer(self) -> None:
        self.header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _cancel_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _header_timed_out(self) -> None:
        self.header_timer = None
        if self.transport.is_closing() or not self.reading_headers:
            return
        if self.header_bytes == 0:
            # connected and never said anything: just hang up, as after a keep-alive idle
            self.refused = True
            self.transport.close()
            return
        self._refuse(
            HEADERS_TOO_SLOW,
            "header_timeout",
            f"The request line and headers must arrive within {self.header_timeout:g} seconds.",
        )

    def _refuse(self, status: int, code: str, message: str) -> None:
        self.refused = True
        self._cancel_header_timer()
        client = f"{self.client[0]}:{self.client[1]}" if self.client else ""
        log.info("http.refused", status=status, code=code, client=client)
        body = f'{{"error":{{"code":"{code}","message":"{message}"}}}}'.encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(body)).encode() + b"\r\n",
                b"connection: close\r\n",
                b"\r\n",
            ]
        )
        self.transport.write(b"".join(head) + body)
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)
