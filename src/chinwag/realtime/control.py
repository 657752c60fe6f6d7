"""The control socket: how ``chinwag admin`` reaches a running node that has no Redis.

A node of a cluster hears the revocation intents and events of an admin command on the
fan-out, over Redis, like any other node's. A node on its own (no ``CHINWAG_REDIS_URL``)
has its fan-out in memory, so it also listens on a Unix socket in its data dir,
``<data_dir>/control.sock``, for those same fan-out messages, and hands each to its fan-out
as if it had been published here: a hold reaches its registry before the command commits,
exactly as a hold from another node would.

The socket is mode 0600, so only the server's own user (and root) can connect, and a client
must first send a token made from the secret key, which only those who can read the data
dir (or the server's environment) know.

Frames: one byte of kind, four of length (big-endian), then the payload; a hold or its end
carries ``hold_id``, a newline, then the message. Each frame is answered with ``+`` once
handled, or the connection is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import struct
from collections.abc import Iterator
from pathlib import Path

from chinwag.backends.fanout import Fanout, OnJoined, OnMessage
from chinwag.backends.ports import BackendUnavailable
from chinwag.logs import get_logger

log = get_logger(__name__)

SOCKET_NAME = "control.sock"
HELLO, PUBLISH, HOLD, END = b"A", b"P", b"H", b"E"
OK = b"+"
HEADER = struct.Struct(">cI")
MAX_FRAME = 16 * 1024 * 1024
ANSWER_SECONDS = 10.0
# AF_UNIX paths are limited to 108 bytes; a longer one is reached through its directory
MAX_UNIX_PATH = 100


def control_token(signing_key: bytes) -> bytes:
    return hmac.new(signing_key, b"chinwag control socket", hashlib.sha256).digest()


@contextlib.contextmanager
def unix_address(path: Path) -> Iterator[str]:
    """A name for ``path`` short enough for AF_UNIX: itself, or on Linux the same file
    through an open descriptor of its directory (``/proc/self/fd/N/control.sock``)."""
    if len(os.fsencode(path)) <= MAX_UNIX_PATH or not Path("/proc/self/fd").is_dir():
        yield str(path)
        return
    fd = os.open(path.parent, os.O_PATH)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


class ControlServer:
    """Hands what ``chinwag admin`` sends to this node's fan-out."""

    def __init__(self, path: Path, fanout: Fanout, signing_key: bytes) -> None:
        self.path = path
        self.fanout = fanout
        self.token = control_token(signing_key)
        self._server: asyncio.Server | None = None

    async def start(self) -> bool:
        """Listen; False (and a warning) if another running server answers there already,
        or the data dir cannot hold the socket (then admin commands reach no live socket)."""
        try:
            return await self._start()
        except OSError as exc:
            log.warning("control.unavailable", path=str(self.path), error=str(exc))
            return False

    async def _start(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with unix_address(self.path) as address:
            if self.path.exists():
                try:
                    _, writer = await asyncio.open_unix_connection(address)
                except OSError:
                    self.path.unlink(missing_ok=True)  # left by a server that died
                else:
                    writer.close()
                    log.warning("control.socket_taken", path=str(self.path))
                    return False
            old_umask = os.umask(0o177)
            try:
                self._server = await asyncio.start_unix_server(self._serve, path=address)
            finally:
                os.umask(old_umask)
        return True

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            self.path.unlink(missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            kind, payload = await _read_frame(reader)
            if kind != HELLO or not hmac.compare_digest(payload, self.token):
                log.warning("control.refused")
                return
            writer.write(OK)
            while True:
                kind, payload = await _read_frame(reader)
                await self._handle(kind, payload)
                writer.write(OK)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        except Exception:
            log.exception("control.failed")
        finally:
            writer.close()

    async def _handle(self, kind: bytes, payload: bytes) -> None:
        if kind == PUBLISH:
            await self.fanout.publish(payload)
            return
        hold_id, _, message = payload.partition(b"\n")
        if kind == HOLD:
            await self.fanout.publish_hold(hold_id.decode(), message, 0.0)
        elif kind == END:
            await self.fanout.publish_end(hold_id.decode(), message)
        else:
            raise ValueError("unknown frame")


async def _read_frame(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    kind, length = HEADER.unpack(await reader.readexactly(HEADER.size))
    if length > MAX_FRAME:
        raise ValueError("frame too large")
    return kind, await reader.readexactly(length)


class ControlFanout:
    """The fan-out of an admin command when the server has no Redis: every message goes to
    the running node over its control socket, and is handled there before the call returns.
    With no node running there is nobody to tell, and nothing is sent."""

    def __init__(self, path: Path, signing_key: bytes) -> None:
        self.path = path
        self.token = control_token(signing_key)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self) -> bool:
        """Whether a running node answered (and took the token)."""
        if not self.path.exists():
            return False
        try:
            with unix_address(self.path) as address:
                self._reader, self._writer = await asyncio.open_unix_connection(address)
            await self._send(HELLO, self.token)
        except (OSError, BackendUnavailable):
            await self.close()
            return False
        return True

    @property
    def joined(self) -> bool:
        return self._writer is not None

    async def publish(self, message: bytes) -> None:
        await self._send(PUBLISH, message)

    async def publish_hold(self, hold_id: str, message: bytes, lease: float) -> None:
        await self._send(HOLD, hold_id.encode() + b"\n" + message)

    async def publish_end(self, hold_id: str, message: bytes) -> None:
        await self._send(END, hold_id.encode() + b"\n" + message)

    async def pending_holds(self) -> list[bytes]:
        return []

    def listen(self, on_message: OnMessage, on_joined: OnJoined) -> None:
        """An admin command hears nothing back."""

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None

    async def _send(self, kind: bytes, payload: bytes) -> None:
        if self._reader is None or self._writer is None:
            return  # no node runs: nothing live to tell
        try:
            self._writer.write(HEADER.pack(kind, len(payload)) + payload)
            await self._writer.drain()
            answer = await asyncio.wait_for(self._reader.readexactly(1), ANSWER_SECONDS)
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            raise BackendUnavailable() from exc
        if answer != OK:
            raise BackendUnavailable()
