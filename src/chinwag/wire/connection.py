"""What an application sees: ``Connection`` (one namespace socket), ``Namespace``, ``Refused``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from chinwag.wire.session import Session


class Refused(Exception):  # noqa: N818 - the name says what the connect handler does
    """Raised by a namespace's ``connect``: the client gets CONNECT_ERROR {message, data}."""

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

    def error_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"message": self.message}
        if self.data is not None:
            payload["data"] = self.data
        return payload


class Namespace(Protocol):
    async def connect(self, conn: Connection, auth: Any) -> dict[str, Any] | None:
        """Extra fields for the CONNECT answer (e.g. {"pid": ...}); raise Refused to refuse.
        What is emitted to ``conn`` while this runs is sent after the CONNECT answer."""
        ...

    async def event(self, conn: Connection, event: str, args: list[Any]) -> list[Any] | None:
        """The ack's arguments (sent only when the client asked for an ack)."""
        ...

    async def disconnect(self, conn: Connection, reason: str) -> None: ...


class Connection:
    """One namespace socket of one Engine.IO session."""

    __slots__ = ("sid", "namespace", "session", "handler", "state", "held", "connected", "ending")

    def __init__(self, sid: str, namespace: str, session: Session, handler: Namespace) -> None:
        self.sid = sid
        self.namespace = namespace
        self.session = session
        self.handler = handler
        self.state: dict[str, Any] = {}
        # what was sent while the namespace's connect ran: it follows the CONNECT answer
        self.held: list[Any] | None = None
        self.connected = False
        # the server ended it while its connect handler ran: it ends once that returns
        self.ending = False

    @property
    def scope(self) -> dict[str, Any]:
        """The ASGI scope of the request that opened the Engine.IO session."""
        return self.session.scope

    @property
    def transport(self) -> str:
        return self.session.transport

    def headers(self) -> dict[str, str]:
        """The handshake request's headers, names lower-cased (a repeated one: the last)."""
        return {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in self.session.scope.get("headers", ())
        }

    def __repr__(self) -> str:
        return f"<Connection {self.namespace} {self.sid} over {self.transport}>"
