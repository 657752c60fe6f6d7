"""Origin policy shared by the HTTP API and the Socket.IO handshake."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from chinwag.config import Settings

DEFAULT_PORTS = {"http": "80", "https": "443"}


def normalize_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` in lower case without a default port, or None if malformed."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and str(port) != DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


class OriginPolicy:
    """Accepts the server's own origin and the configured ones; refuses every other.

    A request without an Origin header is not from a browser page (browsers send it on
    every websocket handshake and every cross-site or state-changing fetch), so it is let
    through: it still needs a session, and cookies authenticate only with a CSRF header.
    Forwarded headers count only when ``trust_proxy`` is configured.
    """

    def __init__(self, settings: Settings) -> None:
        self.trust_proxy = settings.trust_proxy
        self.extra = {n for o in settings.allowed_origins if (n := normalize_origin(o))}

    def own_origin(self, scheme: str, headers: Mapping[str, str]) -> str | None:
        host = headers.get("host")
        if self.trust_proxy:
            scheme = headers.get("x-forwarded-proto", scheme).split(",")[0].strip()
            host = headers.get("x-forwarded-host", host or "").split(",")[0].strip() or host
        if not host:
            return None
        return normalize_origin(f"{scheme}://{host}")

    def allows(self, scheme: str, headers: Mapping[str, str]) -> bool:
        """Whether a request with these (lower-cased) headers may act."""
        origin = headers.get("origin")
        if origin is None:
            return True
        normalized = normalize_origin(origin)
        if normalized is None:
            return False
        scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
        return normalized in self.extra or normalized == self.own_origin(scheme, headers)
