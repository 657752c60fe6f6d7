"""Chinwag's own Engine.IO v4 / Socket.IO v5 server layer (no python-socketio inside).

``WireServer`` is the ASGI app; a ``Namespace`` receives connects, events and disconnects
of its ``Connection``s; ``Refused`` refuses a connect; ``Frame`` is an event framed once.
"""

from chinwag.wire.connection import Connection, Namespace, Refused
from chinwag.wire.frames import Frame
from chinwag.wire.server import WireServer

__all__ = ["Connection", "Frame", "Namespace", "Refused", "WireServer"]
