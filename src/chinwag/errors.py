"""Domain errors. Nothing HTTP- or Socket.IO-specific lives here: each transport maps them."""

from __future__ import annotations


class ChinwagError(Exception):
    """A refusal the client caused and can understand: it carries a stable code."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class BadRequest(ChinwagError):
    """A request that is well-formed but cannot be carried out as asked (400)."""


class InvalidInput(ChinwagError):
    status = 422
    code = "invalid_input"


class NotAuthenticated(ChinwagError):
    status = 401
    code = "not_authenticated"


class Forbidden(ChinwagError):
    status = 403
    code = "forbidden"


class NotFound(ChinwagError):
    status = 404
    code = "not_found"


class Conflict(ChinwagError):
    status = 409
    code = "conflict"


class TooLarge(ChinwagError):
    status = 413
    code = "too_large"


class UnsupportedMedia(ChinwagError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(ChinwagError):
    status = 429
    code = "rate_limited"

    def __init__(
        self, message: str, *, retry_after: float, code: str | None = None, limiter: str = ""
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
        self.limiter = limiter  # the limit's name, for the metrics


class Busy(ChinwagError):
    """The work this request needs is refused for now because its pool is full (not the
    client's fault): try again after ``retry_after`` seconds."""

    status = 503
    code = "server_busy"

    def __init__(
        self, message: str, *, retry_after: float, code: str | None = None, limiter: str = ""
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
        self.limiter = limiter  # the limit's name, for the metrics
